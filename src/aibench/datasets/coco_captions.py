"""MSCOCO 2014 captions: reader and writer of the released layout.

    train2014/COCO_train2014_000000000009.jpg ...     82,783 images
    val2014/COCO_val2014_000000000042.jpg ...         40,504 images
    annotations/captions_train2014.json               {"images": [{"id", "file_name", ...}],
    annotations/captions_val2014.json                  "annotations": [{"id", "image_id", "caption"}], ...}

Each image has about five captions. An image listed without any caption is skipped (it has nothing to learn
or score); a caption naming an image that is not listed, or a listed image whose file is absent, is an error.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aibench.datasets.files import is_file, load_json
from aibench.errors import DataError

SPLITS: tuple[str, ...] = ("train", "val")
LAYOUT = ("MSCOCO 2014: train2014/ and val2014/ image folders (COCO_<split>2014_<12-digit id>.jpg) and "
          "annotations/captions_train2014.json, annotations/captions_val2014.json")


@dataclass(frozen=True)
class CaptionedImage:
    image_id: int
    path: Path
    captions: tuple[str, ...]


def annotation_path(root: Path, split: str) -> Path:
    return Path(root) / "annotations" / f"captions_{split}2014.json"


def image_name(split: str, image_id: int) -> str:
    """COCO's file name of an image, e.g. COCO_val2014_000000000042.jpg."""
    return f"COCO_{split}2014_{image_id:012d}.jpg"


def _load_json(path: Path) -> dict[str, Any]:
    data = load_json(path, LAYOUT)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations"), list):
        raise DataError(path, "expected a JSON object with lists 'images' and 'annotations'")
    return data


def read_captions(root: Path, split: str, check_files: bool = True, limit: int | None = None
                  ) -> list[CaptionedImage]:
    """The split's captioned images sorted by image id (the first `limit` of them if given)."""
    path = annotation_path(root, split)
    data = _load_json(path)
    try:
        files = {int(image["id"]): str(image["file_name"]) for image in data["images"]}
        captions: dict[int, list[str]] = {}
        for note in data["annotations"]:
            image_id = int(note["image_id"])
            if image_id not in files:
                raise DataError(path, f"annotation {note.get('id')} names image {image_id}, which 'images' "
                                      "does not list")
            captions.setdefault(image_id, []).append(str(note["caption"]).strip())
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(path, f"an image needs 'id' and 'file_name', an annotation 'image_id' and 'caption' "
                              f"({type(err).__name__}: {err})") from None
    folder = Path(root) / f"{split}2014"
    items = [CaptionedImage(i, folder / files[i], tuple(captions[i])) for i in sorted(captions)][:limit]
    if not items:
        raise DataError(path, "no captioned images")
    if check_files:
        _check_images(items, path)
    return items


def _check_images(items: list[CaptionedImage], annotations: Path) -> None:
    for item in items:
        if not is_file(item.path):
            raise DataError(item.path, f"missing: image {item.image_id} is captioned in {annotations.name} but its "
                                       f"file is absent; expected {LAYOUT}")


def write_captions(root: Path, split: str, images: Iterable[tuple[int, int, int, list[str]]]) -> None:
    """Write annotations/captions_<split>2014.json for (image id, width, height, captions) rows.

    The image files themselves are the caller's, named by image_name() under <split>2014/.
    """
    listed, notes = [], []
    for image_id, width, height, captions in images:
        listed.append({"id": image_id, "file_name": image_name(split, image_id), "width": width, "height": height})
        for caption in captions:
            notes.append({"id": len(notes) + 1, "image_id": image_id, "caption": caption})
    path = annotation_path(root, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"info": {"description": "aibench synthetic captions in the MSCOCO 2014 layout"}, "licenses": [],
                "images": listed, "annotations": notes}
    path.write_text(json.dumps(document), encoding="utf-8")
