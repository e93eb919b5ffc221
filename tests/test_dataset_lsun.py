"""The LSUN reader: LMDB exports (key = image id, value = JPEG/WebP bytes) and plain image folders."""

import io
import multiprocessing

import lmdb
import numpy as np
import pytest
from PIL import Image

from aibench.datasets.lsun import FolderImages, LmdbImages, encode_jpeg, open_images, write_lmdb
from aibench.errors import DataError

RED, BLUE = (250, 10, 10), (10, 10, 250)


def _encoded(colour, fmt: str, size=(12, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def handwritten_lmdb(tmp_path):
    """An export written with py-lmdb directly, as LSUN's tools write it: hex ids, one JPEG and one WebP."""
    path = tmp_path / "bedroom_train_lmdb"
    env = lmdb.open(str(path), map_size=1 << 22)
    with env.begin(write=True) as txn:
        txn.put(b"f" * 40, _encoded(BLUE, "WEBP"))
        txn.put(b"0123456789abcdef0123456789abcdef01234567", _encoded(RED, "JPEG"))
    env.close()
    return path


def _close(colour, image, tolerance=12):
    return np.abs(np.asarray(image, np.int32) - np.array(colour)).max() <= tolerance


def test_lmdb_reads_ids_in_key_order_and_decodes_jpeg_and_webp(handwritten_lmdb):
    assert sorted(p.name for p in handwritten_lmdb.iterdir()) == ["data.mdb", "lock.mdb"]
    images = LmdbImages(handwritten_lmdb)
    assert len(images) == 2
    assert images.keys() == [b"0123456789abcdef0123456789abcdef01234567", b"f" * 40]
    first, second = images.image(0), images.image(1)
    assert first.mode == "RGB" and first.size == (12, 8)
    assert _close(RED, first) and _close(BLUE, second)


def test_lmdb_reopens_in_spawned_loader_workers(handwritten_lmdb):
    """Workers started by spawn get a pickled copy: it must drop the open environment and reopen it."""
    images = LmdbImages(handwritten_lmdb)
    images.image(0)  # opens the environment, which cannot be pickled itself
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert _close(BLUE, pool.apply(LmdbImages.image, (images, 1)))


def test_write_lmdb_round_trip(tmp_path):
    records = [(f"{i:040x}".encode(), encode_jpeg(Image.new("RGB", (9, 9), (20 * i, 0, 0)))) for i in range(5)]
    assert write_lmdb(tmp_path / "x_lmdb", reversed(records)) == 5
    images = open_images(tmp_path / "x_lmdb")
    assert isinstance(images, LmdbImages)
    assert images.keys() == [k for k, _ in records]
    assert images.read(3) == records[3][1]


def test_missing_lmdb_directory_names_it(tmp_path):
    with pytest.raises(DataError, match="nowhere_lmdb.*missing"):
        LmdbImages(tmp_path / "nowhere_lmdb")


def test_lmdb_directory_without_data_file_names_data_mdb(tmp_path):
    (tmp_path / "bedroom_train_lmdb").mkdir()
    (tmp_path / "bedroom_train_lmdb" / "lock.mdb").write_bytes(b"")
    with pytest.raises(DataError, match=r"bedroom_train_lmdb/data\.mdb: missing"):
        LmdbImages(tmp_path / "bedroom_train_lmdb")


def test_empty_lmdb_is_an_error(tmp_path):
    write_lmdb(tmp_path / "empty_lmdb", [])
    with pytest.raises(DataError, match=r"empty_lmdb/data\.mdb: .*no images"):
        LmdbImages(tmp_path / "empty_lmdb")


def test_truncated_lmdb_file_is_an_error(tmp_path):
    path = tmp_path / "broken_lmdb"
    path.mkdir()
    (path / "data.mdb").write_bytes(b"not an lmdb file")
    with pytest.raises(DataError, match=r"broken_lmdb/data\.mdb"):
        LmdbImages(path)


def test_corrupt_image_value_names_file_and_key(tmp_path):
    write_lmdb(tmp_path / "bad_lmdb", [(b"a" * 40, b"\xff\xd8 truncated jpeg")])
    images = LmdbImages(tmp_path / "bad_lmdb")
    with pytest.raises(DataError, match=r"bad_lmdb/data\.mdb \[key a{40}\].*not a decodable"):
        images.image(0)


def test_folder_finds_images_at_any_depth_in_path_order(tmp_path):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / "a.jpg").write_bytes(_encoded(RED, "JPEG"))
    (tmp_path / "b" / "deep" / "c.PNG").write_bytes(_encoded(BLUE, "PNG"))
    (tmp_path / "b" / "d.webp").write_bytes(_encoded(BLUE, "WEBP"))
    (tmp_path / "notes.txt").write_text("not an image")
    images = open_images(tmp_path)
    assert isinstance(images, FolderImages)
    assert [p.relative_to(tmp_path).as_posix() for p in images.files] == ["a.jpg", "b/d.webp", "b/deep/c.PNG"]
    assert _close(RED, images.image(0)) and _close(BLUE, images.image(2), tolerance=0)


def test_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    with pytest.raises(DataError, match="holds no images"):
        FolderImages(tmp_path)


def test_corrupt_folder_image_names_the_file(tmp_path):
    (tmp_path / "room.jpg").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"room\.jpg: not a decodable"):
        FolderImages(tmp_path).image(0)
