"""VGGFace2 identity folders (Cao et al. 2018): reader and writer.

    <root>/train/<n000002>/0001_01.jpg     one folder per identity, named 'n' + 6 digits
    <root>/test/<n000001>/...              (not used for training)
    <root>/bb_landmark/loose_bb_train.csv  optional: the published loose face boxes, 'NAME_ID,X,Y,W,H' with a
                                           header line and NAME_ID = '<identity>/<image stem>' (n000002/0001_01)

Only the training split is read here; identities with fewer images than a triplet batch needs per identity
are kept (the sampler draws with replacement) but an identity folder with no image at all is a DataError, as
is a folder name that is not a VGGFace2 id. Images are decoded by the shared image-folder helper.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from aibench.datasets.files import finite_float, read_bytes
from aibench.datasets.imagefolder import is_image_file
from aibench.errors import DataError

IDENTITY_PATTERN = r"n\d{6}"
LAYOUT = "train/<n000002>/*.jpg (VGGFace2: one folder per identity, named 'n' and 6 digits)"
BOXES_DIR = "bb_landmark"
BOXES_HEADER = ("NAME_ID", "X", "Y", "W", "H")

Box = tuple[int, int, int, int]  # x, y (top-left, may lie outside the image), width, height, in pixels


@dataclass(frozen=True)
class Identities:
    """Image paths per identity (identities sorted by name, images sorted by file name)."""

    root: Path
    names: tuple[str, ...]
    images: tuple[tuple[Path, ...], ...]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def image_count(self) -> int:
        return sum(len(files) for files in self.images)


def read_identities(root: Path, split: str = "train", max_identities: int | None = None) -> Identities:
    """List the identity folders of one split. With max_identities, that many identities are taken evenly
    spaced over the sorted ids (a subset spanning the whole set)."""
    split_dir = Path(root) / split
    if not split_dir.is_dir():
        raise DataError(split_dir, f"missing VGGFace2 split folder; expected {LAYOUT}")
    folders = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(split_dir, f"no identity folders; expected {LAYOUT}")
    for folder in folders:
        if not re.fullmatch(IDENTITY_PATTERN, folder.name):
            raise DataError(folder, f"identity folder name is not a VGGFace2 id; expected {LAYOUT}")
    if max_identities is not None and max_identities < len(folders):
        folders = [folders[i * len(folders) // max_identities] for i in range(max_identities)]
    images = []
    for folder in folders:
        files = tuple(sorted(p for p in folder.iterdir() if is_image_file(p)))
        if not files:
            raise DataError(folder, "identity folder holds no .jpg/.png images")
        images.append(files)
    if len(folders) < 2:
        raise DataError(split_dir, "triplet training needs at least 2 identities")
    return Identities(root=split_dir, names=tuple(f.name for f in folders), images=tuple(images))


def identity_name(index: int) -> str:
    """VGGFace2's folder name for a 1-based identity number: n000001."""
    return f"n{index:06d}"


def write_face(root: Path, split: str, identity: str, stem: str, pixels: np.ndarray, quality: int = 92) -> Path:
    """Write one RGB face (HxWx3 uint8) as root/split/<identity>/<stem>.jpg."""
    path = Path(root) / split / identity / f"{stem}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path, format="JPEG", quality=quality)
    return path


# ----- the published loose bounding boxes ------------------------------------------------------------------

def boxes_file(root: Path, split: str = "train") -> Path:
    """Where VGGFace2's bb_landmark archive puts a split's loose boxes: bb_landmark/loose_bb_<split>.csv."""
    return Path(root) / BOXES_DIR / f"loose_bb_{split}.csv"


def read_loose_boxes(root: Path, split: str = "train") -> dict[str, Box] | None:
    """The split's loose face boxes by NAME_ID ('n000002/0001_01'), or None when the file is absent. A header
    other than NAME_ID,X,Y,W,H, a row without five fields, a non-integer field or a non-positive size is a
    DataError naming the file and line."""
    path = boxes_file(root, split)
    if not path.is_file():
        return None
    boxes: dict[str, Box] = {}
    text = read_bytes(path).decode("utf-8", errors="replace")  # a bad byte spoils only its row
    rows = csv.reader(io.StringIO(text, newline=""))
    number = 1
    try:
        header = next(rows, None)
        if header is None or tuple(f.strip() for f in header) != BOXES_HEADER:
            raise DataError(path, f"line 1: expected the header {','.join(BOXES_HEADER)}, found "
                                  f"{str(header)[:200]}")
        for number, row in enumerate(rows, 2):
            if row:
                name, box = _box_row(path, number, row)
                boxes[name] = box
    except csv.Error as err:  # e.g. an unclosed quote swallowing the rest of the file into one huge field
        raise DataError(path, f"line {number + 1}: not CSV ({err})") from None
    return boxes


def _box_row(path: Path, number: int, row: list[str]) -> tuple[str, Box]:
    if len(row) != 5:
        raise DataError(path, f"line {number}: expected 5 fields NAME_ID,X,Y,W,H, found {len(row)}")
    values = [finite_float(f) for f in row[1:]]  # integers, though some copies write 12.0
    if any(v is None for v in values):
        raise DataError(path, f"line {number}: X,Y,W,H must be numbers (finite), found {str(row[1:])[:200]}")
    x, y, w, h = (int(v) for v in values)  # type: ignore[arg-type]
    if w <= 0 or h <= 0:
        raise DataError(path, f"line {number}: box size {w}x{h} must be positive")
    return row[0].strip(), (x, y, w, h)


def box_key(image: Path) -> str:
    """An image's NAME_ID in the boxes file: '<identity folder>/<file stem>'."""
    return f"{image.parent.name}/{image.stem}"


def write_loose_boxes(root: Path, split: str, boxes: Iterable[tuple[str, Box]]) -> Path:
    """Write bb_landmark/loose_bb_<split>.csv in the published format (header, then NAME_ID,X,Y,W,H rows)."""
    path = boxes_file(root, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(BOXES_HEADER)
        writer.writerows([name, *box] for name, box in boxes)
    return path
