"""The RGB-D face reader on identity folders written file by file (8-bit RGB PNG + 16-bit depth PNG in mm)."""

import numpy as np
import pytest
from PIL import Image

from aibench.datasets.rgbd_faces import load_pair, read_splits
from aibench.errors import DataError


def _pair(root, split, identity, stem, depth_mm=700, size=(6, 4)):
    folder = root / split / identity
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 150, 120)).save(folder / f"{stem}_rgb.png")
    depth = np.full((size[1], size[0]), depth_mm, dtype=np.uint16)
    depth[0, 0] = 0  # a missing reading
    Image.fromarray(depth).save(folder / f"{stem}_depth.png")


def _dataset(root):
    for identity in ("alice", "bob", "carol"):
        _pair(root, "train", identity, f"{identity}_0001")
        _pair(root, "train", identity, f"{identity}_0002")
    _pair(root, "test", "bob", "bob_0003", depth_mm=812)


def test_identities_are_sorted_train_folders_shared_with_test(tmp_path):
    _dataset(tmp_path)
    splits = read_splits(tmp_path)
    assert splits["train"].identities == ("alice", "bob", "carol") and len(splits["train"]) == 6
    (test_sample,) = splits["test"].samples
    assert test_sample.label == 1 and test_sample.rgb.name == "bob_0003_rgb.png"
    rgb, depth = load_pair(test_sample)
    assert rgb.shape == (4, 6, 3) and rgb.dtype == np.uint8
    assert depth.dtype == np.float32 and depth[1, 1] == 812 and depth[0, 0] == 0


def test_unpaired_unknown_identity_and_wrong_depth_format_are_named(tmp_path):
    _dataset(tmp_path)
    (tmp_path / "train" / "alice" / "alice_0002_depth.png").unlink()
    with pytest.raises(DataError, match="no partner") as err:
        read_splits(tmp_path)
    assert "alice_0002_rgb.png" in str(err.value)
    _pair(tmp_path, "train", "alice", "alice_0002")
    _pair(tmp_path, "test", "dave", "dave_0001")
    with pytest.raises(DataError, match="not in train") as err:
        read_splits(tmp_path)
    assert "dave" in str(err.value)


def test_8bit_depth_and_misaligned_sizes_are_rejected(tmp_path):
    _dataset(tmp_path)
    sample = read_splits(tmp_path)["test"].samples[0]
    Image.new("L", (6, 4)).save(sample.depth)
    with pytest.raises(DataError, match="16-bit") as err:
        load_pair(sample)
    assert "bob_0003_depth.png" in str(err.value)
    Image.fromarray(np.zeros((5, 6), np.uint16)).save(sample.depth)
    with pytest.raises(DataError, match="pixel-aligned") as err:
        load_pair(sample)
    assert "bob_0003_depth.png" in str(err.value)


def test_truncated_png_is_named(tmp_path):
    _dataset(tmp_path)
    sample = read_splits(tmp_path)["train"].samples[0]
    sample.rgb.write_bytes(sample.rgb.read_bytes()[:40])  # header survives, image data does not
    with pytest.raises(DataError, match="unreadable") as err:
        load_pair(sample)
    assert "alice_0001_rgb.png" in str(err.value)


def test_missing_split_is_an_error(tmp_path):
    _pair(tmp_path, "train", "alice", "a")
    with pytest.raises(DataError):
        read_splits(tmp_path)
