"""MNIST in LeCun's IDX layout: four files, each gzipped (`.gz`, as distributed) or not.

    train-images-idx3-ubyte  train-labels-idx1-ubyte  t10k-images-idx3-ubyte  t10k-labels-idx1-ubyte

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one big-endian
uint32 per dimension, then the values in row-major order, big-endian. MNIST's images are type 0x08 (ubyte)
with 3 dimensions (magic 2051), its labels ubyte with 1 dimension (magic 2049). The files may sit directly
in the data directory or in `MNIST/raw/` beneath it, where torchvision's MNIST download puts them.
"""

from __future__ import annotations

import gzip
import math
import zlib
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aibench.errors import DataError

# IDX type code -> numpy dtype (big-endian where multi-byte)
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
NUM_CLASSES = 10
LAYOUT = ("MNIST IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
          "t10k-labels-idx1-ubyte (each optionally .gz), in the directory or in its MNIST/raw/")
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_DEFLATE_RATIO = 1032  # deflate inflates at most about 1032:1, so n gzipped bytes hold at most ~1032 n


@dataclass(frozen=True)
class MnistSplit:
    """One split: images (N, H, W) uint8, ink high, and labels (N,) int64 in 0..9."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


# ----- generic IDX ---------------------------------------------------------------------------------------
def _parse_header(data: bytes, source: Path | str) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """(dtype, shape, header length, payload length) from the first bytes of an IDX file. The payload length is
    a Python int: a product of uint32 dimensions can pass 2**64, where numpy's int64 would wrap."""
    if len(data) < 4:
        raise DataError(source, f"has {len(data)} bytes, fewer than the 4-byte IDX magic number")
    zero0, zero1, type_code, ndim = data[:4]
    if zero0 or zero1 or type_code not in IDX_TYPES or ndim == 0:
        raise DataError(source, f"bad IDX magic number 0x{data[:4].hex()}: expected 0x0000 then a type code "
                                f"({', '.join(f'0x{c:02x}' for c in IDX_TYPES)}) and a dimension count >= 1")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(source, f"header promises {ndim} dimensions but the file ends after {len(data)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[type_code]
    return dtype, shape, header_len, math.prod(shape) * dtype.itemsize


def _payload_mismatch(source: Path | str, dtype: np.dtype, shape: tuple[int, ...], expected: int,
                      found: int) -> DataError:
    return DataError(source, f"header says shape {shape} of {dtype.name} ({expected} bytes of data) but the file "
                             f"has {found} bytes after the header")


def parse_idx(data: bytes, source: Path | str = "<bytes>") -> np.ndarray:
    """Decode an IDX byte string into an array, checking the magic number and that the payload length matches
    the header's dimensions exactly (a truncated or padded file is an error)."""
    dtype, shape, header_len, expected = _parse_header(data, source)
    if len(data) - header_len != expected:
        raise _payload_mismatch(source, dtype, shape, expected, len(data) - header_len)
    return np.frombuffer(data, dtype=dtype, offset=header_len).reshape(shape)


def _read_idx_bytes(path: Path, header_only: bool) -> bytes:
    """The decompressed header (and unless header_only, the values) of an IDX file, gzipped or not: gzip is
    recognised by its magic bytes, whatever the file is named. The payload the header claims is checked against
    the file's size before it is read: exactly for a plain file; for a gzip file, against the most that deflate
    can inflate it to, so a damaged header or a gzip bomb is refused instead of filling memory."""
    gzipped = False
    try:
        size = path.stat().st_size
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) if gzipped else nullcontext(raw) as handle:
                head = handle.read(4)
                if len(head) == 4:
                    head += handle.read(4 * head[3])
                dtype, shape, header_len, expected = _parse_header(head, path)
                if not gzipped and size - header_len != expected:
                    raise _payload_mismatch(path, dtype, shape, expected, size - header_len)
                if gzipped and expected > _MAX_DEFLATE_RATIO * size:
                    raise DataError(path, f"header says shape {shape} of {dtype.name} ({expected} bytes of data), "
                                          f"more than a {size}-byte gzip file can hold")
                if header_only:
                    return head
                return head + handle.read(expected + 1)  # a byte more than promised reveals padding
    except FileNotFoundError:
        raise DataError(path, "does not exist; expected an IDX file") from None
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(path, f"is not a readable {'gzip' if gzipped else 'IDX'} file ({err})") from None


def read_idx_header(path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """An IDX file's element type and shape, from its header alone: the values are not read."""
    path = Path(path)
    dtype, shape, _, _ = _parse_header(_read_idx_bytes(path, header_only=True), path)
    return dtype.newbyteorder("="), shape


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzipped or not) into a native-endian array."""
    array = parse_idx(_read_idx_bytes(Path(path), header_only=False), Path(path))
    return array.astype(array.dtype.newbyteorder("="), copy=False)


def encode_idx(array: np.ndarray) -> bytes:
    """The IDX encoding of an array whose dtype has an IDX type code."""
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_TYPES.items()}
    native = np.dtype(array.dtype).newbyteorder("=")
    if native not in codes:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of {sorted(d.name for d in codes)}")
    header = bytes([0, 0, codes[native], array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    big_endian = IDX_TYPES[codes[native]]
    return header + np.ascontiguousarray(array, dtype=big_endian).tobytes()


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write an array as IDX; gzipped when the name ends in .gz. mtime=0 makes the bytes reproducible."""
    data = encode_idx(array)
    Path(path).write_bytes(gzip.compress(data, mtime=0) if str(path).endswith(".gz") else data)


# ----- MNIST ---------------------------------------------------------------------------------------------
def mnist_root(data_dir: Path) -> Path:
    """The directory holding the IDX files: data_dir itself, or torchvision's MNIST/raw/ beneath it."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(data_dir, f"is not a directory; expected {LAYOUT}")
    for root in (data_dir, data_dir / "MNIST" / "raw"):
        if any((root / name).is_file() for names in SPLIT_FILES.values() for name in _variants(names[0])):
            return root
    return data_dir


def _variants(name: str) -> tuple[str, str]:
    return name, name + ".gz"


def find_idx_file(root: Path, name: str) -> Path:
    """`name` or `name.gz` in root; the uncompressed one wins when both are there."""
    for candidate in _variants(name):
        if (root / candidate).is_file():
            return root / candidate
    raise DataError(root / name, f"missing (nor {name}.gz); expected {LAYOUT}")


def _read_typed(path: Path, ndim: int, what: str) -> np.ndarray:
    array = read_idx(path)
    if array.dtype != np.uint8 or array.ndim != ndim:
        raise DataError(path, f"is an IDX file of {array.ndim}-D {array.dtype.name}, expected MNIST {what} "
                              f"({ndim}-D unsigned bytes, magic {0x800 + ndim})")
    return array


def mnist_image_size(data_dir: Path, split: str) -> tuple[int, int]:
    """A split's image height and width from its images file's header (the pixels are not read): what a model
    needs to know before the data is decoded. The full read checks the rest."""
    path = find_idx_file(mnist_root(data_dir), SPLIT_FILES[split][0])
    dtype, shape = read_idx_header(path)
    if dtype != np.uint8 or len(shape) != 3:
        raise DataError(path, f"is an IDX file of {len(shape)}-D {dtype.name}, expected MNIST images "
                              "(3-D unsigned bytes, magic 2051)")
    return shape[1], shape[2]


def read_mnist_split(data_dir: Path, split: str) -> MnistSplit:
    """Read and cross-check one split's image and label files."""
    images_name, labels_name = SPLIT_FILES[split]
    root = mnist_root(data_dir)
    images_path, labels_path = find_idx_file(root, images_name), find_idx_file(root, labels_name)
    images = _read_typed(images_path, 3, "images")
    labels = _read_typed(labels_path, 1, "labels")
    if len(images) != len(labels):
        raise DataError(labels_path, f"holds {len(labels)} labels but {images_path.name} holds {len(images)} images")
    if len(labels) == 0:
        raise DataError(labels_path, "holds no samples")
    if labels.max() >= NUM_CLASSES:
        raise DataError(labels_path, f"has label {int(labels.max())}; MNIST labels are 0..{NUM_CLASSES - 1}")
    return MnistSplit(images=images, labels=labels.astype(np.int64))


def write_mnist_split(data_dir: Path, split: str, images: np.ndarray, labels: np.ndarray,
                      compress: bool = True) -> None:
    """Write one split as its two IDX files (gzipped like the distributed ones unless compress=False)."""
    suffix = ".gz" if compress else ""
    images_name, labels_name = SPLIT_FILES[split]
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    write_idx(Path(data_dir) / (images_name + suffix), np.asarray(images, dtype=np.uint8))
    write_idx(Path(data_dir) / (labels_name + suffix), np.asarray(labels, dtype=np.uint8))
