"""The Cityscapes reader on hand-written frames in the real leftImg8bit / gtFine layout."""

import numpy as np
import pytest
from PIL import Image

from aibench.datasets.cityscapes import IGNORE, TRAIN_COLOURS, label_id_colours, read_split, train_ids, write_frame
from aibench.errors import DataError


def frame(root, split, city, stem, skip=""):
    """Write one frame's photo, colour and labelIds PNGs file by file, as Cityscapes names them."""
    files = {f"leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png": np.zeros((4, 8, 3), np.uint8),
             f"gtFine/{split}/{city}/{stem}_gtFine_color.png": np.zeros((4, 8, 4), np.uint8),  # RGBA, as shipped
             f"gtFine/{split}/{city}/{stem}_gtFine_labelIds.png": np.array([[7, 8, 11, 23, 26, 0, 1, 33]] * 4,
                                                                           np.uint8)}
    for name, pixels in files.items():
        if skip and name.endswith(skip):
            continue
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path)


def test_reads_frames_sorted_with_their_annotations(tmp_path):
    frame(tmp_path, "val", "munster", "munster_000001_000019")
    frame(tmp_path, "val", "lindau", "lindau_000000_000019")
    frames = read_split(tmp_path, "val")
    assert [f.photo.name for f in frames] == ["lindau_000000_000019_leftImg8bit.png",
                                              "munster_000001_000019_leftImg8bit.png"]
    assert frames[0].color == tmp_path / "gtFine/val/lindau/lindau_000000_000019_gtFine_color.png"
    assert frames[0].label_ids.name == "lindau_000000_000019_gtFine_labelIds.png"


def test_label_ids_map_to_the_19_train_ids(tmp_path):
    frame(tmp_path, "train", "aachen", "aachen_000000_000019")
    ids = train_ids(read_split(tmp_path, "train")[0].label_ids)
    # road 0, sidewalk 1, building 2, sky 10, car 13, unlabeled and ego vehicle ignored, bicycle 18
    assert ids[0].tolist() == [0, 1, 2, 10, 13, IGNORE, IGNORE, 18]
    assert tuple(TRAIN_COLOURS[13]) == (0, 0, 142) and tuple(label_id_colours()[7]) == (128, 64, 128)


def test_missing_annotation_names_the_file(tmp_path):
    frame(tmp_path, "train", "aachen", "aachen_000000_000019", skip="_gtFine_labelIds.png")
    with pytest.raises(DataError, match="aachen_000000_000019_gtFine_labelIds.png: missing"):
        read_split(tmp_path, "train")


def test_bad_layouts(tmp_path):
    with pytest.raises(DataError, match="leftImg8bit/train: missing"):
        read_split(tmp_path, "train")
    (tmp_path / "leftImg8bit/train/aachen").mkdir(parents=True)
    (tmp_path / "gtFine/train").mkdir(parents=True)
    with pytest.raises(DataError, match="no \\*_leftImg8bit.png photos"):
        read_split(tmp_path, "train")
    frame(tmp_path, "train", "aachen", "bochum_000000_000019")  # a frame filed under the wrong city
    with pytest.raises(DataError, match="not named <city>"):
        read_split(tmp_path, "train")


def test_labelids_must_be_single_channel_and_readable(tmp_path):
    frame(tmp_path, "train", "aachen", "aachen_000000_000019")
    path = read_split(tmp_path, "train")[0].label_ids
    Image.fromarray(np.zeros((4, 8, 3), np.uint8)).save(path)
    with pytest.raises(DataError, match="one channel"):
        train_ids(path)
    path.write_bytes(b"garbage")
    with pytest.raises(DataError, match="unreadable"):
        train_ids(path)


def test_writer_round_trip(tmp_path):
    labels = np.array([[23, 23], [7, 26]], np.uint8)
    written = write_frame(tmp_path, "val", "frankfurt", 0, 19, np.full((2, 2, 3), 9, np.uint8), labels)
    assert written.photo == tmp_path / "leftImg8bit/val/frankfurt/frankfurt_000000_000019_leftImg8bit.png"
    [back] = read_split(tmp_path, "val")
    assert train_ids(back.label_ids).tolist() == [[10, 10], [0, 13]]
    assert np.asarray(Image.open(back.color))[1, 1].tolist() == [0, 0, 142]
