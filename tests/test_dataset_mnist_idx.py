"""The MNIST IDX reader on files written byte by byte in LeCun's format, gzipped and plain."""

import gzip
import struct

import numpy as np
import pytest

from aibench.datasets.mnist_idx import encode_idx, parse_idx, read_mnist_split
from aibench.errors import DataError


def _idx(values: list[int], shape: tuple[int, ...]) -> bytes:
    # magic: two zero bytes, type 0x08 (unsigned byte), number of dimensions; then big-endian uint32 sizes
    return struct.pack(">HBB", 0, 0x08, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + bytes(values)


def _write_split(root, prefix, images, labels, gz):
    n, h, w = images.shape
    files = {f"{prefix}-images-idx3-ubyte": _idx(images.ravel().tolist(), (n, h, w)),
             f"{prefix}-labels-idx1-ubyte": _idx(labels.tolist(), (n,))}
    for name, data in files.items():
        (root / (name + (".gz" if gz else ""))).write_bytes(gzip.compress(data) if gz else data)


@pytest.mark.parametrize("gz", [True, False])
def test_reads_both_splits_plain_or_gzipped(tmp_path, gz):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    _write_split(tmp_path, "train", images, labels, gz)
    _write_split(tmp_path, "t10k", images[:2], labels[:2], gz)
    train, test = read_mnist_split(tmp_path, "train"), read_mnist_split(tmp_path, "test")
    assert train.images.shape == (3, 4, 5) and np.array_equal(train.images, images)
    assert train.labels.tolist() == [7, 0, 9] and train.labels.dtype == np.int64
    assert len(test) == 2


def test_reads_torchvisions_raw_folder(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_split(raw, "train", np.zeros((2, 3, 3), np.uint8), np.array([1, 2], np.uint8), gz=False)
    assert read_mnist_split(tmp_path, "train").labels.tolist() == [1, 2]


def test_bad_magic_truncated_file_and_mismatched_counts_name_the_file(tmp_path):
    _write_split(tmp_path, "train", np.zeros((2, 3, 3), np.uint8), np.array([1, 2], np.uint8), gz=False)
    images = tmp_path / "train-images-idx3-ubyte"
    good = images.read_bytes()
    images.write_bytes(b"\x01\x02" + good[2:])
    with pytest.raises(DataError, match="magic") as err:
        read_mnist_split(tmp_path, "train")
    assert "train-images-idx3-ubyte" in str(err.value)
    images.write_bytes(good[:-3])  # truncated payload
    with pytest.raises(DataError, match="bytes after the header") as err:
        read_mnist_split(tmp_path, "train")
    assert "train-images-idx3-ubyte" in str(err.value)
    images.write_bytes(_idx([0] * 27, (3, 3, 3)))  # 3 images, 2 labels
    with pytest.raises(DataError, match="2 labels") as err:
        read_mnist_split(tmp_path, "train")
    assert "train-labels-idx1-ubyte" in str(err.value)


def test_missing_file_and_damaged_gzip(tmp_path):
    with pytest.raises(DataError, match="missing"):
        read_mnist_split(tmp_path, "test")
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"not gzip at all")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx([1], (1,)))
    with pytest.raises(DataError, match="gzip"):
        read_mnist_split(tmp_path, "test")


def test_encode_round_trips_multi_byte_types_big_endian():
    values = np.array([[1, -2], [300, 70000]], dtype=np.int32)
    data = encode_idx(values)
    assert data[:4] == b"\x00\x00\x0c\x02" and data[8:12] == struct.pack(">I", 2)
    assert np.array_equal(parse_idx(data), values)


def test_truncated_gzip_stream_names_the_file(tmp_path):
    _write_split(tmp_path, "t10k", np.zeros((2, 3, 3), np.uint8), np.array([4, 5], np.uint8), gz=True)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-6])  # cut inside the gzip trailer: the stream never ends
    with pytest.raises(DataError, match="gzip") as err:
        read_mnist_split(tmp_path, "test")
    assert "t10k-labels-idx1-ubyte.gz" in str(err.value)
