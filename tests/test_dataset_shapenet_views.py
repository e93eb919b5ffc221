"""The binvox reader/writer and the ShapeNet rendered-views layout, on hand-written fixtures."""

import json

import numpy as np
import pytest
from PIL import Image

from aibench.datasets.binvox import VoxelGrid, parse_binvox, read_binvox, write_binvox
from aibench.datasets.shapenet_views import (
    Camera, check_object, read_object, read_split, write_object, write_split)
from aibench.errors import DataError

# A 2^3 grid by hand: binvox order is y fastest, then z, then x; runs (0 x1) (1 x1) (0 x5) (1 x1) set the
# flat voxels 1 (x=0, z=0, y=1) and 7 (x=1, z=1, y=1).
HAND_BINVOX = (b"#binvox 1\ndim 2 2 2\ntranslate -0.5 -0.25 0\nscale 1.5\ndata\n"
               + bytes([0, 1, 1, 1, 0, 5, 1, 1]))


def test_binvox_hand_written_file_reads_in_xzy_order(tmp_path):
    path = tmp_path / "model.binvox"
    path.write_bytes(HAND_BINVOX)
    grid = read_binvox(path)
    assert grid.occupancy.shape == (2, 2, 2)
    assert grid.translate == (-0.5, -0.25, 0.0) and grid.scale == 1.5
    assert sorted(map(tuple, np.argwhere(grid.occupancy))) == [(0, 1, 0), (1, 1, 1)]  # [x, y, z]


def test_binvox_writer_reproduces_the_hand_written_bytes(tmp_path):
    occ = np.zeros((2, 2, 2), bool)
    occ[0, 1, 0] = occ[1, 1, 1] = True
    write_binvox(tmp_path / "out.binvox", VoxelGrid(occ, translate=(-0.5, -0.25, 0.0), scale=1.5))
    assert (tmp_path / "out.binvox").read_bytes() == HAND_BINVOX


def test_binvox_round_trip_splits_runs_longer_than_255(tmp_path):
    occ = np.zeros((20, 20, 20), bool)
    occ[10:, :, :] = True  # 4000 ones in a row in binvox order, after 4000 zeros
    occ[3, 7, 11] = occ[0, 0, 0] = True  # and runs of one
    write_binvox(tmp_path / "a.binvox", VoxelGrid(occ))
    raw = (tmp_path / "a.binvox").read_bytes()
    counts = np.frombuffer(raw[raw.index(b"data\n") + 5:], np.uint8)[1::2]
    assert counts.max() == 255 and counts.min() >= 1
    np.testing.assert_array_equal(read_binvox(tmp_path / "a.binvox").occupancy, occ)


@pytest.mark.parametrize("raw, problem", [
    (b"#binvox 2\ndim 2 2 2\n", "not a binvox file"),
    (b"#binvox 1\ntranslate 0 0 0\nscale 1\ndata\n" + bytes([0, 8]), "'dim'"),
    (b"#binvox 1\ndim 2 2 2\ntranslate 0 0 0\nscale 1\ndata\n" + bytes([0, 7]), "encodes 7 voxels"),
    (b"#binvox 1\ndim 2 2 2\ntranslate 0 0 0\nscale 1\ndata\n" + bytes([0, 8, 1]), "odd number"),
    (b"#binvox 1\ndim 2 2 2\ntranslate 0 0 0\nscale 1\ndata\n" + bytes([2, 8]), "other than 0 or 1"),
    (b"#binvox 1\ndim 2 2 2\ntranslate 0 0 0\nscale 1\ndata\n" + bytes([0, 0, 0, 8]), "length 0"),
    (b"#binvox 1\ndim 2 3 2\ntranslate 0 0 0\nscale 1\ndata\n" + bytes([0, 12]), "cubic"),
    (b"#binvox 1\ndim two 2 2\ntranslate 0 0 0\nscale 1\ndata\n", "non-numeric"),
    (b"#binvox 1\ndim 2 2 2\n", "no 'data' line"),
])
def test_binvox_malformed_files_are_data_errors_naming_the_file(tmp_path, raw, problem):
    path = tmp_path / "bad.binvox"
    path.write_bytes(raw)
    with pytest.raises(DataError, match=problem) as err:
        read_binvox(path)
    assert str(path) in str(err.value)


def test_binvox_missing_file(tmp_path):
    with pytest.raises(DataError, match="missing") as err:
        read_binvox(tmp_path / "none.binvox")
    assert "none.binvox" in str(err.value)


def _hand_written_layout(root):
    """One model in the layout written file by file, without the package's writer."""
    obj = root / "03001627" / "1a2b3c"
    (obj / "views").mkdir(parents=True)
    (obj / "masks").mkdir()
    for k in range(2):
        rgb = np.full((8, 8, 3), 255, np.uint8)
        rgb[2:6, 2:6] = (200, 40 * k, 10)
        Image.fromarray(rgb).save(obj / "views" / f"{k:02d}.png")
        mask = np.zeros((8, 8), np.uint8)
        mask[2:6, 2:6] = 255
        Image.fromarray(mask).save(obj / "masks" / f"{k:02d}.png")
    (obj / "cameras.json").write_text(json.dumps({"focal_length": 1.4, "views": [
        {"azimuth": 0, "elevation": 30, "distance": 3.0}, {"azimuth": 180, "elevation": 30, "distance": 3.0}]}))
    (obj / "model.binvox").write_bytes(HAND_BINVOX)
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("03001627/1a2b3c\n\n")
    return obj


def test_reader_reads_a_hand_written_model(tmp_path):
    _hand_written_layout(tmp_path)
    assert read_split(tmp_path, "train") == ["03001627/1a2b3c"]
    assert check_object(tmp_path, "03001627/1a2b3c") == 2
    obj = read_object(tmp_path, "03001627/1a2b3c", image_size=8, mask_size=4)
    assert obj.images.shape == (2, 8, 8, 3) and obj.images.dtype == np.uint8
    assert tuple(obj.images[1, 3, 3]) == (200, 40, 10)
    assert obj.masks.shape == (2, 4, 4)  # area-averaged from 8x8: the 4x4 square covers the centre 2x2
    np.testing.assert_allclose(obj.masks[0, 1:3, 1:3], 1.0)
    assert obj.masks[0, 0].sum() == 0
    assert obj.cameras[1] == Camera(180.0, 30.0, 3.0, 1.4)
    assert obj.voxels.occupancy.sum() == 2


def test_writer_and_reader_round_trip(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (3, 6, 6, 3), dtype=np.uint8)
    masks = (images[..., 0] > 128).astype(np.uint8) * 255
    cams = [Camera(120.0 * k, 20.0, 2.5, 1.2) for k in range(3)]
    occ = np.zeros((4, 4, 4), bool)
    occ[1:3, 0, 2] = True
    write_object(tmp_path, "s/m", images, masks, cams, VoxelGrid(occ))
    write_split(tmp_path, "test", ["s/m"])
    obj = read_object(tmp_path, read_split(tmp_path, "test")[0], image_size=6, mask_size=6)
    np.testing.assert_array_equal(obj.images, images)
    np.testing.assert_array_equal(obj.masks, masks / 255.0)
    assert obj.cameras == cams
    np.testing.assert_array_equal(obj.voxels.occupancy, occ)


def _break(obj, what):
    if what == "view":
        (obj / "views" / "01.png").unlink()
        return obj / "views" / "01.png"
    if what == "binvox":
        (obj / "model.binvox").unlink()
        return obj / "model.binvox"
    if what == "cameras_json":
        (obj / "cameras.json").write_text("{not json")
        return obj / "cameras.json"
    if what == "cameras_fields":
        (obj / "cameras.json").write_text(json.dumps({"focal_length": 1.0, "views": [{"azimuth": 0}]}))
        return obj / "cameras.json"
    raise AssertionError(what)


@pytest.mark.parametrize("what", ["view", "binvox", "cameras_json", "cameras_fields"])
def test_missing_or_malformed_model_files_are_named(tmp_path, what):
    obj = _hand_written_layout(tmp_path)
    path = _break(obj, what)
    with pytest.raises(DataError) as err:
        check_object(tmp_path, "03001627/1a2b3c")
    assert str(path) in str(err.value)


def test_corrupt_png_is_named_when_read(tmp_path):
    obj = _hand_written_layout(tmp_path)
    (obj / "masks" / "00.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="unreadable image") as err:
        read_object(tmp_path, "03001627/1a2b3c", 8, 8)
    assert str(obj / "masks" / "00.png") in str(err.value)


def test_split_problems_are_named(tmp_path):
    with pytest.raises(DataError, match="missing"):
        read_split(tmp_path / "absent", "train")
    _hand_written_layout(tmp_path)
    with pytest.raises(DataError, match="missing split file") as err:
        read_split(tmp_path, "test")
    assert "test.txt" in str(err.value)
    (tmp_path / "splits" / "test.txt").write_text("03001627-no-slash\n")
    with pytest.raises(DataError, match="line 1"):
        read_split(tmp_path, "test")
    (tmp_path / "splits" / "test.txt").write_text("03001627/gone\n")
    with pytest.raises(DataError, match="missing model directory") as err:
        check_object(tmp_path, read_split(tmp_path, "test")[0])
    assert "gone" in str(err.value)


def test_parse_binvox_from_bytes_names_the_source():
    with pytest.raises(DataError, match="somewhere.binvox"):
        parse_binvox(b"junk", "somewhere.binvox")
