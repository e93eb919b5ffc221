"""ShapeNet rendered views, silhouettes, cameras and voxel grids on disk: reader and writer of the layout.

    <root>/splits/{train,test}.txt                 one `<synset>/<model_id>` per line
    <root>/<synset>/<model_id>/views/<k>.png       RGB render of view k (k zero-padded to two digits: 00, 01 ...)
    <root>/<synset>/<model_id>/masks/<k>.png       its silhouette, 8-bit grey (0 background, 255 object)
    <root>/<synset>/<model_id>/cameras.json        {"focal_length": f, "views": [{"azimuth": deg,
                                                    "elevation": deg, "distance": d}, ...]}, one entry per view
    <root>/<synset>/<model_id>/model.binvox        the voxel grid (binvox format, see aibench.datasets.binvox)

Camera convention: the camera looks at the centre of the voxel grid, whose cube spans [-1, 1]^3 in the grid's
own frame (x right, y up, z towards the viewer at azimuth 0). The camera centre is
distance * (cos(el) sin(az), sin(el), cos(el) cos(az)); the image's vertical axis is the projection of +y.
`focal_length` is the focal length divided by half the image width (a pinhole with the principal point at the
image centre), so it does not depend on the image resolution. ShapeNet renders are commonly made at 24 views
(azimuth every 15 degrees, elevation 30) and 64x64 pixels, as in Perspective Transformer Nets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from aibench.datasets.binvox import VoxelGrid, read_binvox, write_binvox
from aibench.datasets.files import decode_image, is_dir, load_json, read_text
from aibench.errors import DataError

LAYOUT = ("<root>/splits/{train,test}.txt listing <synset>/<model_id>, and per model <synset>/<model_id>/"
          "views/<k>.png, masks/<k>.png, cameras.json and model.binvox")
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Camera:
    """One viewpoint: angles in degrees, distance in half-widths of the voxel cube."""

    azimuth: float
    elevation: float
    distance: float
    focal_length: float

    def as_row(self) -> list[float]:
        return [self.azimuth, self.elevation, self.distance, self.focal_length]


@dataclass
class ObjectViews:
    """Everything stored for one model: its renders, silhouettes, cameras and voxel grid."""

    key: str  # "<synset>/<model_id>"
    images: np.ndarray  # uint8 (views, H, W, 3)
    masks: np.ndarray  # float32 (views, h, w) in [0, 1]
    cameras: list[Camera]
    voxels: VoxelGrid


def split_path(root: Path, split: str) -> Path:
    return Path(root) / "splits" / f"{split}.txt"


def object_dir(root: Path, key: str) -> Path:
    return Path(root) / key


def view_path(obj_dir: Path, k: int) -> Path:
    return obj_dir / "views" / f"{k:02d}.png"


def mask_path(obj_dir: Path, k: int) -> Path:
    return obj_dir / "masks" / f"{k:02d}.png"


def read_split(root: Path, split: str) -> list[str]:
    """The `<synset>/<model_id>` keys of one split, in file order; each must have its model directory."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, f"missing: expected a ShapeNet views directory: {LAYOUT}")
    path = split_path(root, split)
    if not path.is_file():
        raise DataError(path, f"missing split file: expected {LAYOUT}")
    keys = [line.strip() for line in read_text(path, "utf-8", LAYOUT).splitlines() if line.strip()]
    for n, key in enumerate(keys, 1):
        if key.count("/") != 1 or not all(key.split("/")) or ".." in key.split("/"):
            raise DataError(path, f"line {n} is {key[:200]!r}: expected <synset>/<model_id>")
        if not is_dir(object_dir(root, key)):
            raise DataError(path, f"line {n} lists {key!r}: missing model directory {object_dir(root, key)}; "
                                  f"expected {LAYOUT}")
    if not keys:
        raise DataError(path, "split file lists no models")
    return keys


def read_cameras(path: Path) -> list[Camera]:
    """The cameras of one model, in view order."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "missing: expected cameras.json with focal_length and views")
    doc = load_json(path, "cameras.json with focal_length and views")
    try:
        focal = float(doc["focal_length"])
        cams = [Camera(float(v["azimuth"]), float(v["elevation"]), float(v["distance"]), focal)
                for v in doc["views"]]
    except (KeyError, TypeError, ValueError, OverflowError) as e:  # OverflowError: float() of a huge integer
        raise DataError(path, f"expected {{focal_length, views: [{{azimuth, elevation, distance}}]}}; "
                              f"problem with {str(e)[:200]}") from None
    if not cams:
        raise DataError(path, "lists no views")
    if not all(math.isfinite(x) for c in cams for x in c.as_row()):
        raise DataError(path, "every camera value must be a finite number")
    if focal <= 0 or any(c.distance <= 0 for c in cams):
        raise DataError(path, "focal_length and every distance must be positive")
    return cams


def check_object(root: Path, key: str) -> int:
    """Check one model's files are present (contents are checked when read); return its view count."""
    obj = object_dir(root, key)
    if not obj.is_dir():
        raise DataError(obj, f"missing model directory listed in a split: expected {LAYOUT}")
    n_views = len(read_cameras(obj / "cameras.json"))
    for k in range(n_views):
        for path in (view_path(obj, k), mask_path(obj, k)):
            if not path.is_file():
                raise DataError(path, f"missing: cameras.json lists {n_views} views")
    if not (obj / "model.binvox").is_file():
        raise DataError(obj / "model.binvox", "missing: expected the model's voxel grid")
    return n_views


def read_image(path: Path, size: int) -> np.ndarray:
    """An RGB render as uint8 (size, size, 3), resized bilinearly if stored at another resolution."""
    img = decode_image(path, path, "RGB", "unreadable image: expected a PNG")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def read_mask(path: Path, size: int) -> np.ndarray:
    """A silhouette as float32 (size, size) in [0, 1], area-averaged if stored at another resolution."""
    img = decode_image(path, path, "L", "unreadable image: expected a PNG")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BOX)  # area averaging keeps partial coverage
    return np.asarray(img, dtype=np.float32) / 255.0


def read_object(root: Path, key: str, image_size: int, mask_size: int) -> ObjectViews:
    """Read one model: every view and mask (resized), its cameras and voxel grid."""
    obj = object_dir(root, key)
    cameras = read_cameras(obj / "cameras.json")
    images = np.stack([read_image(view_path(obj, k), image_size) for k in range(len(cameras))])
    masks = np.stack([read_mask(mask_path(obj, k), mask_size) for k in range(len(cameras))])
    return ObjectViews(key, images, masks, cameras, read_binvox(obj / "model.binvox"))


def write_split(root: Path, split: str, keys: Sequence[str]) -> None:
    path = split_path(root, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}\n" for k in keys))


def write_object(root: Path, key: str, images: np.ndarray, masks: np.ndarray, cameras: Sequence[Camera],
                 voxels: VoxelGrid) -> None:
    """Write one model in the layout: images uint8 (V, H, W, 3), masks uint8 (V, H, W), all sharing a focal."""
    obj = object_dir(root, key)
    (obj / "views").mkdir(parents=True, exist_ok=True)
    (obj / "masks").mkdir(parents=True, exist_ok=True)
    for k, (image, mask) in enumerate(zip(images, masks)):
        Image.fromarray(image, "RGB").save(view_path(obj, k))
        Image.fromarray(mask, "L").save(mask_path(obj, k))
    doc = {"focal_length": cameras[0].focal_length,
           "views": [{"azimuth": c.azimuth, "elevation": c.elevation, "distance": c.distance} for c in cameras]}
    (obj / "cameras.json").write_text(json.dumps(doc, indent=1))
    write_binvox(obj / "model.binvox", voxels)

