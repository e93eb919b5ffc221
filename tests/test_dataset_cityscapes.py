"""The Cityscapes reader on frames written file by file in leftImg8bit/ + gtFine/ (photo, colour, labelIds)."""

import numpy as np
import pytest
from PIL import Image

from aibench.datasets.cityscapes import IGNORE, TRAIN_COLOURS, read_split, train_ids
from aibench.errors import DataError


def _frame(root, split="val", city="frankfurt", stem="frankfurt_000000_000294", label_ids=None):
    photos, labels = root / "leftImg8bit" / split / city, root / "gtFine" / split / city
    photos.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 4), (90, 90, 90)).save(photos / f"{stem}_leftImg8bit.png")
    ids = np.array(label_ids if label_ids is not None else [[7, 7, 26, 26, 23, 23, 0, 4]] * 4, dtype=np.uint8)
    Image.fromarray(ids).save(labels / f"{stem}_gtFine_labelIds.png")
    Image.new("RGB", (8, 4)).save(labels / f"{stem}_gtFine_color.png")
    (labels / f"{stem}_gtFine_polygons.json").write_text("{}")  # present in the real set, not needed
    return photos / f"{stem}_leftImg8bit.png"


def test_reads_frames_and_maps_label_ids_to_the_19_train_ids(tmp_path):
    _frame(tmp_path)
    _frame(tmp_path, city="lindau", stem="lindau_000001_000019")
    frames = read_split(tmp_path, "val")
    assert [f.photo.parent.name for f in frames] == ["frankfurt", "lindau"]
    assert frames[0].label_ids.name == "frankfurt_000000_000294_gtFine_labelIds.png"
    ids = train_ids(frames[0].label_ids)
    # road (7) -> 0, car (26) -> 13, sky (23) -> 10, unlabeled (0) and void (4) -> ignored
    assert ids[0].tolist() == [0, 0, 13, 13, 10, 10, IGNORE, IGNORE]
    assert tuple(TRAIN_COLOURS[0]) == (128, 64, 128) and len(TRAIN_COLOURS) == 19


def test_missing_folder_missing_label_image_and_bad_name_are_named(tmp_path):
    with pytest.raises(DataError, match="missing Cityscapes folder"):
        read_split(tmp_path, "train")
    photo = _frame(tmp_path)
    (tmp_path / "gtFine" / "val" / "frankfurt" / "frankfurt_000000_000294_gtFine_labelIds.png").unlink()
    with pytest.raises(DataError, match="missing the gtFine image") as err:
        read_split(tmp_path, "val")
    assert "gtFine_labelIds.png" in str(err.value)
    photo.rename(photo.parent / "not_a_cityscapes_name_leftImg8bit.png")
    with pytest.raises(DataError, match="not named"):
        read_split(tmp_path, "val")


def test_a_colour_labelids_image_is_rejected(tmp_path):
    _frame(tmp_path)
    path = tmp_path / "gtFine" / "val" / "frankfurt" / "frankfurt_000000_000294_gtFine_labelIds.png"
    Image.new("RGB", (8, 4)).save(path)
    with pytest.raises(DataError, match="one channel"):
        train_ids(path)
