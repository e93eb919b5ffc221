"""Data plumbing for Perspective Transformer Nets: the synthetic ShapeNet-style set, tensors and batches.

synthesize() writes simple solids (boxes, ellipsoids, cylinders, L-shapes of random size and position) voxelised
in the [-1, 1]^3 cube, and renders their silhouettes with the model's own perspective transformer, so the
projection loss can be driven to zero by the true volume. The RGB views shade each surface by its outward
normal in the object's frame (three coloured lights fixed to the object), which tells the encoder which way the
object faces, as the canonical orientation of ShapeNet models does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.classification import BinaryJaccardIndex
from torchmetrics.segmentation import MeanIoU

from aibench.benchmarks.c13_3d_object_reconstruction.model import frustum_grid, sample_frustums
from aibench.datasets.binvox import VoxelGrid
from aibench.datasets.shapenet_views import Camera, ObjectViews, read_object, write_object, write_split
from aibench.errors import DataError

SHAPE_SYNSETS = {"box": "90000001", "ellipsoid": "90000002", "cylinder": "90000003", "l_shape": "90000004"}
BACKGROUND = 1.0  # white, as ShapeNet renders


# ----- synthesis ------------------------------------------------------------------------------------------------
def voxel_centres(n: int) -> np.ndarray:
    """Centre coordinates of n voxels along one axis of the [-1, 1] cube."""
    return (np.arange(n) + 0.5) / n * 2 - 1


def random_shape(rng: np.random.Generator, n: int, offset: float = 0.12,
                 scale: tuple[float, float] = (1.0, 1.0)) -> tuple[str, np.ndarray]:
    """A random solid voxelised at n^3, indexed [x, y, z]; returns its kind and occupancy.

    Like ShapeNet models, solids sit near the centre in a canonical pose (cylinders upright, the L's back
    towards -z, as a chair's); each kind has its own proportions, and sizes and positions vary within it
    (centres up to `offset` from the cube's centre along each axis; with a `scale` range, each solid is
    also scaled as a whole by a factor drawn from it).
    """
    x, y, z = np.meshgrid(*(voxel_centres(n),) * 3, indexing="ij")
    kind = str(rng.choice(list(SHAPE_SYNSETS)))
    cx, cy, cz = rng.uniform(-offset, offset, 3)
    x, y, z = x - cx, y - cy, z - cz
    if scale[0] != scale[1]:  # drawn only when asked for, so the default set stays the same draw for draw
        factor = rng.uniform(*scale)
        x, y, z = x / factor, y / factor, z / factor
    if kind == "box":  # a flat slab, like a table top
        hx, hy, hz = rng.uniform(0.55, 0.85), rng.uniform(0.12, 0.3), rng.uniform(0.55, 0.85)
        return kind, (abs(x) < hx) & (abs(y) < hy) & (abs(z) < hz)
    if kind == "ellipsoid":
        rx, ry, rz = rng.uniform(0.4, 0.65, 3)
        return kind, (x / rx) ** 2 + (y / ry) ** 2 + (z / rz) ** 2 < 1
    if kind == "cylinder":  # an upright pillar
        radius, half = rng.uniform(0.18, 0.35), rng.uniform(0.6, 0.9)
        return kind, (x ** 2 + z ** 2 < radius ** 2) & (abs(y) < half)
    # l_shape: a horizontal seat and an upright back along its -z edge
    w, d, t, height = rng.uniform(0.35, 0.6), rng.uniform(0.35, 0.6), rng.uniform(0.12, 0.2), rng.uniform(0.5, 0.8)
    seat = (abs(x) < w) & (abs(z) < d) & (abs(y + height / 2) < t)
    back = (abs(x) < w) & (abs(z + d - t) < t) & (y + height / 2 > -t) & (y < height)
    return kind, seat | back


def ring_cameras(views: int, elevation: float, distance: float, focal: float) -> list[Camera]:
    """Views evenly spaced in azimuth at one elevation, as ShapeNet renders for PTN are made."""
    return [Camera(360.0 * k / views, elevation, distance, focal) for k in range(views)]


def outward_normals(occupancy: torch.Tensor) -> torch.Tensor:
    """Unit outward normals (3, X, Y, Z) from the gradient of a smoothed occupancy grid."""
    smooth = F.avg_pool3d(occupancy[None, None], 3, stride=1, padding=1, count_include_pad=False)[0, 0]
    grads = torch.gradient(smooth)
    return F.normalize(-torch.stack(grads), dim=0, eps=1e-6)


def render_views(occupancy: np.ndarray, grid: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Silhouettes (the model's projection, thresholded) and normal-shaded RGB views of one voxel grid.

    grid: the views' frustum grids (V, D, S, S, 3) from frustum_grid. Returns images uint8 (V, S, S, 3) and
    masks uint8 (V, S, S). A pixel's colour is 0.5 + 0.5 * n for the outward normal n, in the object's frame,
    at the first point along its ray inside the solid; the background is white.
    """
    vol = torch.from_numpy(occupancy.astype(np.float32))[None, None]
    inside = sample_frustums(vol, grid[None])[0, 0] >= 0.5  # (V, D, S, S), as the projector samples
    masks = inside.any(dim=1)
    first = inside.to(torch.uint8).argmax(dim=1)  # index of the first sample inside the solid, per ray
    hit = torch.gather(grid, 1, first[:, None, :, :, None].expand(-1, 1, -1, -1, 3))  # (V, 1, S, S, 3)
    normals = sample_frustums(outward_normals(vol[0, 0])[None], hit[None])[0, :, :, 0]  # (3, V, S, S)
    colour = (0.5 + 0.5 * F.normalize(normals, dim=0, eps=1e-6)).permute(1, 2, 3, 0)
    colour = torch.where(masks[..., None], colour, torch.full_like(colour, BACKGROUND))
    images = (colour * 255).round().to(torch.uint8).numpy()
    return images, (masks.to(torch.uint8) * 255).numpy()


def synthetic_solids(hp: dict[str, Any], seed: int) -> Iterator[tuple[str, np.ndarray, str]]:
    """The solids synthesize_views() writes, in order: kind, occupancy grid and model id (32 hex digits, like
    ShapeNet's) of each of the `objects_train` + `objects_test` objects; no rendering, so a test can score
    baselines on the very grids of a scale's set."""
    rng = np.random.default_rng(seed)
    for _ in range(int(hp["objects_train"]) + int(hp["objects_test"])):
        kind, occ = random_shape(rng, int(hp["vox_size"]), float(hp.get("synth_offset", 0.12)),
                                 tuple(hp.get("synth_scale", (1.0, 1.0))))
        yield kind, occ, rng.bytes(16).hex()


def synthesize_views(root: Path, hp: dict[str, Any], seed: int) -> None:
    """Write the synthetic set: `objects_train` + `objects_test` solids, each with all its views."""
    size = int(hp["image_size"])
    cams = ring_cameras(int(hp["views"]), float(hp["elevation"]), float(hp["distance"]), float(hp["focal"]))
    # masks at image resolution with the model's depth sampling; the same frustums serve every object
    grid = frustum_grid(torch.tensor([c.as_row() for c in cams]), size, size, int(hp["depth_samples"]))
    # real ShapeNet synset ids where a scale reads some (small: chairs), else one made-up synset per kind of solid
    synsets = list(hp.get("synth_synsets") or [])
    keys: list[str] = []
    for i, (kind, occ, model_id) in enumerate(synthetic_solids(hp, seed)):
        synset = synsets[i % len(synsets)] if synsets else SHAPE_SYNSETS[kind]
        key = f"{synset}/{model_id}"
        images, masks = render_views(occ, grid)
        write_object(root, key, images, masks, cams, VoxelGrid(occ, translate=(-0.5, -0.5, -0.5), scale=1.0))
        keys.append(key)
    n_train = int(hp["objects_train"])
    write_split(root, "train", keys[:n_train])
    write_split(root, "test", keys[n_train:])


# ----- tensors --------------------------------------------------------------------------------------------------
@dataclass
class ObjectTensors:
    """One model as tensors: images uint8 (V, 3, H, W), masks (V, h, w), cameras (V, 4), voxels bool."""

    images: torch.Tensor
    masks: torch.Tensor
    cameras: torch.Tensor
    voxels: torch.Tensor


def to_tensors(obj: ObjectViews) -> ObjectTensors:
    return ObjectTensors(
        images=torch.from_numpy(obj.images).permute(0, 3, 1, 2).contiguous(),
        masks=torch.from_numpy(obj.masks),
        cameras=torch.tensor([c.as_row() for c in obj.cameras], dtype=torch.float32),
        voxels=torch.from_numpy(obj.voxels.occupancy))


class ObjectDataset(torch.utils.data.Dataset):
    """Models of one split, read from disk on access, or all held in memory once `load()` has read them."""

    def __init__(self, root: Path, keys: Sequence[str], image_size: int, mask_size: int, vox_size: int) -> None:
        self.root, self.keys = Path(root), list(keys)
        self.image_size, self.mask_size, self.vox_size = image_size, mask_size, vox_size
        self.cache: list[ObjectTensors] | None = None

    def load(self) -> ObjectDataset:
        """Read and decode every model into memory (views, masks, voxels); later accesses read no file."""
        self.cache = [self._read(i) for i in range(len(self.keys))]
        return self

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int) -> ObjectTensors:
        return self.cache[i] if self.cache is not None else self._read(i)

    def _read(self, i: int) -> ObjectTensors:
        obj = to_tensors(read_object(self.root, self.keys[i], self.image_size, self.mask_size))
        if obj.voxels.shape[0] != self.vox_size:
            raise DataError(self.root / self.keys[i] / "model.binvox",
                            f"grid is {obj.voxels.shape[0]}^3; this scale expects {self.vox_size}^3")
        return obj


def collate_objects(items: Sequence[ObjectTensors]) -> ObjectTensors:
    """Stack models with the same number of views into one batch."""
    return ObjectTensors(*(torch.stack([getattr(o, f) for o in items]) for f in ("images", "masks", "cameras",
                                                                                   "voxels")))


def training_batch(objs: ObjectTensors, generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    """One random input view per model, and every view's camera and mask as projection targets."""
    n, v = objs.cameras.shape[:2]
    pick = torch.randint(v, (n,), generator=generator)
    images = objs.images[torch.arange(n), pick].float() / 255
    return {"images": images.to(device), "cameras": objs.cameras.to(device), "masks": objs.masks.to(device)}


# ----- quality ----------------------------------------------------------------------------------------------
def voxel_iou(pred: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """Mean per-grid IoU and the IoU of all voxels pooled, for bool grids (N, X, Y, Z)."""
    mean_iou = MeanIoU(num_classes=1, input_format="one-hot")  # skips grids empty in both, as IoU is undefined
    mean_iou.update(pred[:, None], target[:, None])
    pooled = BinaryJaccardIndex()
    pooled.update(pred.reshape(-1).long(), target.reshape(-1).long())
    return float(mean_iou.compute()), float(pooled.compute())


def constant_predictor_iou(train_voxels: torch.Tensor, test_voxels: torch.Tensor) -> dict[str, float]:
    """Mean test IoU of trivial constant predictions: all-full, and the mean training shape thresholded at 0.5
    or at the threshold that serves the training grids best (picked without looking at the test grids)."""
    mean = train_voxels.float().mean(0)
    train_iou = {t: voxel_iou((mean >= t).expand_as(train_voxels), train_voxels)[0] for t in np.arange(0.05, 1, 0.05)}
    best = max(train_iou, key=train_iou.get)
    return {"all_full": voxel_iou(torch.ones_like(test_voxels), test_voxels)[0],
            "mean_shape": voxel_iou((mean >= 0.5).expand_as(test_voxels), test_voxels)[0],
            "mean_shape_tuned": voxel_iou((mean >= best).expand_as(test_voxels), test_voxels)[0],
            "tuned_threshold": float(best)}
