"""LSUN scene images: the LMDB export (e.g. `bedroom_train_lmdb/`) and, as an alternative, a plain image folder.

LSUN's export is one LMDB environment per category and split, a directory holding `data.mdb` and
`lock.mdb`. Each record's key is the image id (a 40-character hex string, as ASCII bytes) and its value is
the encoded image (JPEG in the original release, WebP in later re-exports). Keys are read in LMDB's
(sorted) order, so an index is stable across runs. A plain folder is any `*.jpg|*.jpeg|*.png|*.webp`
below a directory, read in sorted path order.

Reading needs the `lmdb` package (py-lmdb); images are decoded with Pillow.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from aibench.datasets import files
from aibench.errors import DataError

LMDB_FILES = ("data.mdb", "lock.mdb")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
LMDB_LAYOUT = "an LMDB export directory holding data.mdb and lock.mdb (key: image id, value: JPEG/WebP bytes)"
FOLDER_LAYOUT = f"a folder of images ({', '.join('*' + s for s in IMAGE_SUFFIXES)}) at any depth"


class ImageSource(Protocol):
    """Images addressable by index, decoded to RGB; a bad image is a DataError naming it."""

    path: Path

    def __len__(self) -> int: ...

    def image(self, index: int) -> Image.Image: ...


def decode_image(data: bytes, where: str) -> Image.Image:
    """Decode JPEG/WebP/PNG bytes to an RGB image; undecodable bytes are a DataError naming `where`."""
    return files.decode_image(data, where, "RGB", "not a decodable JPEG/WebP/PNG image")


# py-lmdb allows one handle per environment and process; readers of the same export share it. Keyed by the
# data file's identity, so an export rewritten at the same path is opened afresh.
_OPEN_ENVS: dict[tuple[int, int, int], Any] = {}


def _shared_env(path: Path) -> Any:
    import lmdb

    stat = (path / LMDB_FILES[0]).stat()
    key = (stat.st_dev, stat.st_ino, stat.st_mtime_ns)
    if key not in _OPEN_ENVS:  # lock=False: readers only; readahead off suits random access to a large file
        env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False)
        # LMDB maps the file and trusts its meta page: pages it lists past the end of a truncated file would be
        # read from the map and kill the process (SIGBUS), so the file must hold every page the meta page counts
        needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
        if needed > stat.st_size:
            env.close()
            raise DataError(path / LMDB_FILES[0], f"truncated: the database's meta page counts {needed} bytes of "
                                                  f"pages but the file holds {stat.st_size}")
        _OPEN_ENVS[key] = env
    return _OPEN_ENVS[key]


def is_lmdb_dir(path: Path) -> bool:
    return (Path(path) / LMDB_FILES[0]).is_file()


class LmdbImages:
    """Read-only view of one LSUN LMDB export. The environment handle is not pickled: a copy sent to a
    spawned DataLoader worker opens its own (forked workers inherit the parent's, which read-only use allows)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._env: Any = None
        self._keys: list[bytes] | None = None
        with self._lmdb_errors():
            self._entries = self._open().stat()["entries"]
        if self._entries == 0:
            raise DataError(self.path / LMDB_FILES[0], "the LMDB database holds no images")

    def _open(self) -> Any:
        if self._env is None:
            import lmdb

            if not self.path.is_dir():
                raise DataError(self.path, f"missing; expected {LMDB_LAYOUT}")
            if not is_lmdb_dir(self.path):
                raise DataError(self.path / LMDB_FILES[0], f"missing; expected {LMDB_LAYOUT}")
            try:
                self._env = _shared_env(self.path)
            except lmdb.Error as err:
                raise DataError(self.path / LMDB_FILES[0], f"not a readable LMDB database ({err})") from err
        return self._env

    @contextmanager
    def _lmdb_errors(self) -> Iterator[None]:
        """LMDB's own errors (a corrupted page, a bad size) as a DataError naming the data file."""
        import lmdb

        try:
            yield
        except lmdb.Error as err:
            raise DataError(self.path / LMDB_FILES[0], f"corrupted LMDB database ({err})") from None

    def __len__(self) -> int:
        return self._entries

    def keys(self) -> list[bytes]:
        """Image ids in key order (read once; LSUN bedrooms has about 3M of them)."""
        if self._keys is None:
            with self._lmdb_errors(), self._open().begin() as txn:
                self._keys = list(txn.cursor().iternext(keys=True, values=False))
        return self._keys

    def read(self, index: int) -> bytes:
        key = self.keys()[index]
        with self._lmdb_errors(), self._open().begin() as txn:
            value = txn.get(key)
        if value is None:
            raise DataError(self.path / LMDB_FILES[0], f"key {key.decode(errors='replace')} has no value")
        return bytes(value)

    def image(self, index: int) -> Image.Image:
        key = self.keys()[index].decode(errors="replace")
        return decode_image(self.read(index), f"{self.path / LMDB_FILES[0]} [key {key}]")

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_env": None}


class FolderImages:
    """The images below a directory, in sorted path order."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataError(self.path, f"missing; expected {FOLDER_LAYOUT}")
        self.files = sorted(p for p in self.path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not self.files:
            raise DataError(self.path, f"holds no images; expected {FOLDER_LAYOUT}")

    def __len__(self) -> int:
        return len(self.files)

    def image(self, index: int) -> Image.Image:
        file = self.files[index]
        return decode_image(files.read_bytes(file), str(file))


def open_images(path: Path) -> LmdbImages | FolderImages:
    """An LMDB export if `path` holds data.mdb, otherwise an image folder."""
    return LmdbImages(path) if is_lmdb_dir(path) else FolderImages(path)


def write_lmdb(path: Path, records: Iterable[tuple[bytes, bytes]], map_size: int = 1 << 30) -> int:
    """Write (image id, encoded image) records as an LMDB export directory; returns the record count."""
    import lmdb

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    count = 0
    env = lmdb.open(str(path), map_size=map_size, subdir=True)
    try:
        with env.begin(write=True) as txn:
            for key, value in records:
                txn.put(key, value)
                count += 1
    finally:
        env.close()
    return count


def encode_jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
