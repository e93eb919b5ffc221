"""The VGGFace2 identity-folder reader on hand-written folders in the real layout."""

import numpy as np
import pytest
from PIL import Image

from aibench.datasets.vggface2 import identity_name, read_identities, write_face
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
