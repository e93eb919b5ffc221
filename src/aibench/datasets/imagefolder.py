"""Image-folder data sets on disk (ImageNet's layout): reader and writer.

    <root>/train/<class>/<image>.JPEG
    <root>/val/<class>/<image>.JPEG

ImageNet names each class folder by its WordNet id (e.g. n01440764) and its validation images must already be
sorted into class folders (as the usual `valprep.sh` does). Class index = position in the sorted class names, as
torchvision's ImageFolder numbers them. Hidden entries (names starting with ".") and non-image files are ignored;
a missing split, an empty class folder, a class set that differs between splits or an unreadable image is a
DataError naming the path. Nothing here knows a model: image classification and image compression share it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from aibench.datasets.files import decode_image
from aibench.errors import DataError

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")  # compared case-insensitively; ImageNet uses .JPEG
WNID_PATTERN = r"n\d{8}"  # a WordNet noun id, ImageNet's class folder names
LAYOUT = "train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (one folder per class, named by its WordNet id)"


@dataclass(frozen=True)
class ImageFolderSplit:
    """One split: its folder, the class names (sorted) and (image path, class index) pairs."""

    root: Path
    classes: tuple[str, ...]
    samples: tuple[tuple[Path, int], ...]

    def __len__(self) -> int:
        return len(self.samples)

    def class_counts(self) -> list[int]:
        counts = [0] * len(self.classes)
        for _, label in self.samples:
            counts[label] += 1
        return counts


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def is_image_file(path: Path) -> bool:
    return path.is_file() and _visible(path) and path.suffix.lower() in IMAGE_SUFFIXES


def list_classes(split_dir: Path, class_pattern: str | None = None) -> list[str]:
    """Sorted class folder names of one split; DataError if there are none or a name breaks the pattern."""
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise DataError(split_dir, f"missing split folder; expected {LAYOUT}")
    entries = [p for p in split_dir.iterdir() if _visible(p)]
    classes = sorted(p.name for p in entries if p.is_dir())
    if not classes:
        loose = [p for p in entries if is_image_file(p)]
        hint = (f" ({len(loose)} images lie directly in it: sort them into class folders first)"
                if loose else "")
        raise DataError(split_dir, f"no class folders{hint}; expected {LAYOUT}")
    if class_pattern is not None:
        for name in classes:
            if not re.fullmatch(class_pattern, name):
                raise DataError(split_dir / name, f"class folder name does not match {class_pattern!r}; "
                                                  f"expected {LAYOUT}")
    return classes


def list_images(class_dir: Path) -> list[Path]:
    """Sorted image files of one class folder; DataError if it holds none."""
    images = sorted(p for p in Path(class_dir).iterdir() if is_image_file(p))
    if not images:
        raise DataError(class_dir, f"empty class folder: no {'/'.join(IMAGE_SUFFIXES)} images")
    return images


def read_split(root: Path, split: str, classes: Sequence[str] | None = None,
               class_pattern: str | None = None) -> ImageFolderSplit:
    """List one split's images. With `classes`, those class folders must be present (others are skipped, so a
    caller may pick a subset); without, every class folder is a class."""
    split_dir = Path(root) / split
    found = list_classes(split_dir, class_pattern)
    if classes is None:
        classes = found
    else:
        missing = sorted(set(classes) - set(found))
        if missing:
            raise DataError(split_dir, f"missing class folders {_names(missing)}; expected {LAYOUT}")
        classes = sorted(classes)
    samples = tuple((path, label) for label, name in enumerate(classes) for path in list_images(split_dir / name))
    return ImageFolderSplit(root=split_dir, classes=tuple(classes), samples=samples)


def read_splits(root: Path, splits: Sequence[str] = ("train", "val"), class_pattern: str | None = None,
                num_classes: int | None = None) -> dict[str, ImageFolderSplit]:
    """List several splits, which must hold the same class set so class indices agree between them.

    With `num_classes`, a set holding more classes is cut to that many, spread evenly over the sorted names
    (see evenly_spaced_classes); one holding fewer is a DataError.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, f"missing data directory; expected {LAYOUT}")
    classes = list_classes(root / splits[0], class_pattern)
    for split in splits[1:]:
        _check_same_classes(root / split, list_classes(root / split, class_pattern), classes, splits[0])
    if num_classes is not None:
        if len(classes) < num_classes:
            raise DataError(root / splits[0], f"{len(classes)} class folders, expected at least {num_classes}")
        classes = evenly_spaced_classes(classes, num_classes)
    return {split: read_split(root, split, classes) for split in splits}


def _check_same_classes(split_dir: Path, found: Sequence[str], reference: Sequence[str],
                        reference_split: str) -> None:
    missing, extra = sorted(set(reference) - set(found)), sorted(set(found) - set(reference))
    problems = ([f"lacks class folders {_names(missing)}"] if missing else []) + (
        [f"has class folders {_names(extra)} that are not in {reference_split}/"] if extra else [])
    if problems:
        raise DataError(split_dir, f"{' and '.join(problems)}; expected the same classes in every split")


def _names(names: Sequence[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def evenly_spaced_classes(classes: Sequence[str], count: int) -> list[str]:
    """`count` classes spread evenly over the sorted names (every k-th), for a class subset that samples the
    whole hierarchy rather than its first branch (ImageNet's first 100 wnids are all fish,
    birds, amphibians and reptiles)."""
    classes = sorted(classes)
    if count > len(classes):
        raise ValueError(f"asked for {count} classes but only {len(classes)} exist")
    return [classes[i * len(classes) // count] for i in range(count)]


def load_rgb(path: Path) -> Image.Image:
    """Decode one image to RGB; DataError naming the file if it is unreadable, truncated or not an image."""
    return decode_image(path, path, "RGB")


def verify_images(paths: Sequence[Path]) -> None:
    """Decode every image (DataError on the first bad one); for small sets, or a spot check of a large one."""
    for path in paths:
        load_rgb(path)


class ImageFolderDataset:
    """(transform(image), class index) pairs decoded from the files on each access, as a DataLoader reads them.

    A plain map-style dataset (`__len__`, `__getitem__`) rather than a torch Dataset subclass: specs import this
    module's LAYOUT, and listing benchmarks must not import torch."""

    def __init__(self, samples: Sequence[tuple[Path, int]], transform: Callable[[Image.Image], Any]) -> None:
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        return self.transform(load_rgb(path)), label


# ----- writer (used to synthesize data sets in exactly this layout) --------------------------------------

def image_path(root: Path, split: str, class_name: str, stem: str, suffix: str = ".JPEG") -> Path:
    return Path(root) / split / class_name / f"{stem}{suffix}"


def write_image(root: Path, split: str, class_name: str, stem: str, pixels: np.ndarray | Image.Image,
                quality: int = 90) -> Path:
    """Write one RGB image (HxWx3 uint8 array or PIL image) as root/split/class/stem.JPEG."""
    path = image_path(root, split, class_name, stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(np.asarray(pixels, dtype=np.uint8))
    image.convert("RGB").save(path, format="JPEG", quality=quality)
    return path
