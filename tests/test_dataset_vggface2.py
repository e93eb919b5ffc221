"""The VGGFace2 identity-folder reader on hand-written folders in the real layout."""

import numpy as np
import pytest
from PIL import Image

from aibench.datasets.vggface2 import (
    box_key, boxes_file, identity_name, read_identities, read_loose_boxes, write_face, write_loose_boxes,
)
from aibench.errors import DataError


def jpeg(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((20, 16, 3), np.uint8)).save(path)


def test_reads_identity_folders_sorted(tmp_path):
    for identity, files in {"n000009": ["0002_01.jpg", "0001_01.jpg"], "n000002": ["0010_02.jpg"],
                            "n000005": ["0003_01.jpg"]}.items():
        for name in files:
            jpeg(tmp_path / "train" / identity / name)
    (tmp_path / "train" / "n000009" / "notes.txt").write_text("not an image")
    ids = read_identities(tmp_path)
    assert ids.names == ("n000002", "n000005", "n000009")
    assert [p.name for p in ids.images[2]] == ["0001_01.jpg", "0002_01.jpg"]
    assert ids.image_count == 4 and len(ids) == 3
    assert read_identities(tmp_path, max_identities=2).names == ("n000002", "n000005")


def test_bad_layouts_name_the_path(tmp_path):
    with pytest.raises(DataError, match="missing VGGFace2 split"):
        read_identities(tmp_path)
    (tmp_path / "train").mkdir()
    with pytest.raises(DataError, match="no identity folders"):
        read_identities(tmp_path)
    jpeg(tmp_path / "train" / "n000001" / "0001_01.jpg")
    (tmp_path / "train" / "n000002").mkdir()
    with pytest.raises(DataError, match="n000002: identity folder holds no"):
        read_identities(tmp_path)
    jpeg(tmp_path / "train" / "n000002" / "0001_01.jpg")
    jpeg(tmp_path / "train" / "Tom_Cruise" / "0001_01.jpg")
    with pytest.raises(DataError, match="Tom_Cruise: identity folder name"):
        read_identities(tmp_path)


def test_one_identity_is_too_few_for_triplets(tmp_path):
    jpeg(tmp_path / "train" / "n000001" / "0001_01.jpg")
    with pytest.raises(DataError, match="at least 2 identities"):
        read_identities(tmp_path)


def test_writer_uses_the_real_names(tmp_path):
    path = write_face(tmp_path, "train", identity_name(42), "0001_01", np.zeros((8, 8, 3), np.uint8))
    assert path == tmp_path / "train" / "n000042" / "0001_01.jpg"
    write_face(tmp_path, "train", identity_name(7), "0001_01", np.zeros((8, 8, 3), np.uint8))
    assert read_identities(tmp_path).names == ("n000007", "n000042")


def test_loose_boxes_in_the_published_format(tmp_path):
    assert read_loose_boxes(tmp_path) is None  # optional file
    path = boxes_file(tmp_path, "train")
    assert path == tmp_path / "bb_landmark" / "loose_bb_train.csv"
    path.parent.mkdir()
    # as the bb_landmark archive writes it: a header, quoted NAME_IDs, boxes that may start outside the photo
    path.write_text('NAME_ID,X,Y,W,H\n"n000002/0001_01",161,140,224,324\n"n000002/0002_01",-5,12,80,97\n')
    boxes = read_loose_boxes(tmp_path)
    assert boxes == {"n000002/0001_01": (161, 140, 224, 324), "n000002/0002_01": (-5, 12, 80, 97)}
    assert box_key(tmp_path / "train" / "n000002" / "0001_01.jpg") == "n000002/0001_01"
    write_loose_boxes(tmp_path, "test", boxes.items())
    assert read_loose_boxes(tmp_path, "test") == boxes


@pytest.mark.parametrize("text, message", [
    ("name,x,y,w,h\n", "line 1: expected the header NAME_ID,X,Y,W,H"),
    ("", "line 1: expected the header"),
    ("NAME_ID,X,Y,W,H\nn000002/0001_01,1,2,3\n", "line 2: expected 5 fields"),
    ("NAME_ID,X,Y,W,H\nn000002/0001_01,1,2,3,4\nn000002/0002_01,1,y,3,4\n", "line 3: X,Y,W,H must be numbers"),
    ("NAME_ID,X,Y,W,H\nn000002/0001_01,1,2,0,4\n", "line 2: box size 0x4 must be positive"),
])
def test_a_malformed_boxes_file_is_a_data_error_naming_it(tmp_path, text, message):
    path = boxes_file(tmp_path, "train")
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(DataError, match=f"loose_bb_train.csv: {message}"):
        read_loose_boxes(tmp_path)
