"""Cityscapes (Cordts et al. 2016) photos and fine annotations: reader, label table and writer.

    <root>/leftImg8bit/<split>/<city>/<city>_<seq:6>_<frame:6>_leftImg8bit.png     photos
    <root>/gtFine/<split>/<city>/<city>_<seq:6>_<frame:6>_gtFine_color.png          label images in colour
    <root>/gtFine/<split>/<city>/<city>_<seq:6>_<frame:6>_gtFine_labelIds.png       label ids (8-bit, one channel)

Other gtFine files (instanceIds, polygons.json) may lie beside them and are not needed. Every photo must have
its colour and labelIds images. The 19 evaluation classes and their colours are those of the official
cityscapesScripts label table (`labels.py`); every other label id maps to the ignore value 255.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from aibench.datasets.files import decode_image
from aibench.errors import DataError

IGNORE = 255
PHOTO_SUFFIX = "_leftImg8bit.png"
COLOR_SUFFIX = "_gtFine_color.png"
LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
NAME_PATTERN = r"(?P<city>[a-z_]+)_\d{6}_\d{6}"
LAYOUT = ("leftImg8bit/<split>/<city>/<city>_xxxxxx_yyyyyy_leftImg8bit.png with gtFine/<split>/<city>/"
          "<city>_xxxxxx_yyyyyy_gtFine_color.png and _gtFine_labelIds.png beside each photo's name")

# (label id, name, colour) of the 19 training classes, in train-id order 0..18 (cityscapesScripts labels.py)
TRAIN_CLASSES: tuple[tuple[int, str, tuple[int, int, int]], ...] = (
    (7, "road", (128, 64, 128)), (8, "sidewalk", (244, 35, 232)), (11, "building", (70, 70, 70)),
    (12, "wall", (102, 102, 156)), (13, "fence", (190, 153, 153)), (17, "pole", (153, 153, 153)),
    (19, "traffic light", (250, 170, 30)), (20, "traffic sign", (220, 220, 0)),
    (21, "vegetation", (107, 142, 35)), (22, "terrain", (152, 251, 152)), (23, "sky", (70, 130, 180)),
    (24, "person", (220, 20, 60)), (25, "rider", (255, 0, 0)), (26, "car", (0, 0, 142)),
    (27, "truck", (0, 0, 70)), (28, "bus", (0, 60, 100)), (31, "train", (0, 80, 100)),
    (32, "motorcycle", (0, 0, 230)), (33, "bicycle", (119, 11, 32)),
)
# colours of the label ids outside the 19 classes that the colour images show (others are black)
OTHER_COLOURS = {5: (111, 74, 0), 6: (81, 0, 81), 9: (250, 170, 160), 10: (230, 150, 140), 14: (180, 165, 180),
                 15: (150, 100, 100), 16: (150, 120, 90), 18: (153, 153, 153), 29: (0, 0, 90), 30: (0, 0, 110)}
NUM_CLASSES = len(TRAIN_CLASSES)
TRAIN_COLOURS = np.array([colour for _, _, colour in TRAIN_CLASSES], dtype=np.uint8)


def label_id_to_train_id() -> np.ndarray:
    """A 256-entry lookup table: label id -> train id (0..18), IGNORE for the rest."""
    table = np.full(256, IGNORE, dtype=np.uint8)
    for train_id, (label_id, _, _) in enumerate(TRAIN_CLASSES):
        table[label_id] = train_id
    return table


def label_id_colours() -> np.ndarray:
    """A 256 x 3 lookup table: label id -> colour of the gtFine_color images."""
    table = np.zeros((256, 3), dtype=np.uint8)
    for label_id, _, colour in TRAIN_CLASSES:
        table[label_id] = colour
    for label_id, colour in OTHER_COLOURS.items():
        table[label_id] = colour
    return table


@dataclass(frozen=True)
class Frame:
    """One annotated frame: its photo, colour label image and label-id image."""

    photo: Path
    color: Path
    label_ids: Path


def read_split(root: Path, split: str) -> list[Frame]:
    """Every frame of a split, sorted by city and name; a missing folder, a badly named photo or a photo
    without its gtFine images is a DataError naming the path."""
    root = Path(root)
    photo_dir, label_dir = root / "leftImg8bit" / split, root / "gtFine" / split
    for folder in (photo_dir, label_dir):
        if not folder.is_dir():
            raise DataError(folder, f"missing Cityscapes folder; expected {LAYOUT}")
    photos = sorted(photo_dir.glob(f"*/*{PHOTO_SUFFIX}"))
    if not photos:
        raise DataError(photo_dir, f"no *{PHOTO_SUFFIX} photos in city folders; expected {LAYOUT}")
    return [_frame(photo, label_dir) for photo in photos]


def _frame(photo: Path, label_dir: Path) -> Frame:
    stem = photo.name[: -len(PHOTO_SUFFIX)]
    match = re.fullmatch(NAME_PATTERN, stem)
    if not match or match["city"] != photo.parent.name:
        raise DataError(photo, f"not named <city>_xxxxxx_yyyyyy{PHOTO_SUFFIX} inside its city folder")
    city_dir = label_dir / photo.parent.name
    color, label_ids = (city_dir / f"{stem}{suffix}" for suffix in (COLOR_SUFFIX, LABEL_IDS_SUFFIX))
    for path in (color, label_ids):
        if not path.is_file():
            raise DataError(path, f"missing the gtFine image of photo {photo.name}; expected {LAYOUT}")
    return Frame(photo=photo, color=color, label_ids=label_ids)


def load_image(path: Path, mode: str, size: tuple[int, int] | None = None, nearest: bool = False) -> np.ndarray:
    """Decode an image in PIL mode `mode` ('RGB' or 'L'), optionally resized to size=(width, height); label
    images are resized with nearest-neighbour so no new label values appear. DataError if unreadable."""
    image = decode_image(path, path)
    if mode == "L" and image.mode not in ("L", "P", "I", "I;16"):
        raise DataError(path, f"a labelIds image must have one channel, found mode {image.mode}")
    try:
        image = image.convert(mode)
    except ValueError as err:  # a mode PIL cannot convert
        raise DataError(path, f"unreadable image ({err})") from None
    if size is not None:
        image = image.resize(size, Image.Resampling.NEAREST if nearest else Image.Resampling.BICUBIC)
    return np.asarray(image)


def train_ids(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A labelIds image as train ids (IGNORE outside the 19 classes)."""
    return label_id_to_train_id()[load_image(path, "L", size, nearest=True)]


# ----- writer (used to synthesize data sets in exactly this layout) --------------------------------------

def write_frame(root: Path, split: str, city: str, seq: int, frame: int, photo: np.ndarray,
                label_ids: np.ndarray) -> Frame:
    """Write a photo (HxWx3 uint8) with its labelIds (HxW uint8) and the matching colour label image."""
    stem = f"{city}_{seq:06d}_{frame:06d}"
    photo_dir, label_dir = Path(root) / "leftImg8bit" / split / city, Path(root) / "gtFine" / split / city
    photo_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    out = Frame(photo_dir / f"{stem}{PHOTO_SUFFIX}", label_dir / f"{stem}{COLOR_SUFFIX}",
                label_dir / f"{stem}{LABEL_IDS_SUFFIX}")
    Image.fromarray(np.asarray(photo, dtype=np.uint8)).save(out.photo)
    Image.fromarray(label_id_colours()[label_ids]).save(out.color)
    Image.fromarray(np.asarray(label_ids, dtype=np.uint8)).save(out.label_ids)  # 2-D uint8: mode L
    return out
