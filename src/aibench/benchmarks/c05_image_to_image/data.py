"""DC-AI-C5 data: Cityscapes photos and colour label images as tensors, the photo -> label scores (per-pixel
accuracy, per-class accuracy, class IoU, as CycleGAN's Cityscapes evaluation computes them), and synthetic street
scenes in the Cityscapes layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import multiclass_confusion_matrix

from aibench.datasets.cityscapes import IGNORE, NUM_CLASSES, TRAIN_COLOURS, Frame, load_image, train_ids, write_frame


# ----- tensors -----------------------------------------------------------------------------------------
def to_tensor(image: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> 3xHxW float in [-1, 1] (the generators' tanh range)."""
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 127.5 - 1.0  # a writable copy


def load_images(paths: Sequence[Path], size: int, nearest: bool = False) -> torch.Tensor:
    """Images resized to size x size (CycleGAN trains on square images), stacked."""
    return torch.stack([to_tensor(load_image(p, "RGB", (size, size), nearest)) for p in paths])


def load_train_ids(frames: Sequence[Frame], size: int) -> torch.Tensor:
    return torch.stack([torch.from_numpy(train_ids(f.label_ids, (size, size)).astype(np.int64)) for f in frames])


def random_crop_flip(images: torch.Tensor, crop: int, generator: torch.Generator) -> torch.Tensor:
    """CycleGAN's resize_and_crop augmentation on pre-resized images: a random crop and a random mirror."""
    n, _, h, w = images.shape
    top = int(torch.randint(h - crop + 1, (1,), generator=generator))
    left = int(torch.randint(w - crop + 1, (1,), generator=generator))
    out = images[:, :, top:top + crop, left:left + crop]
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip.to(out.device)[:, None, None, None], out.flip(3), out)


# ----- photo -> label scores -------------------------------------------------------------------------------
def nearest_class(label_images: torch.Tensor) -> torch.Tensor:
    """Generated colour label images (N, 3, H, W) in [-1, 1] -> train ids (N, H, W) of the nearest class colour."""
    rgb = (label_images.clamp(-1, 1) + 1) * 127.5
    palette = torch.from_numpy(TRAIN_COLOURS).float().to(rgb.device)  # (19, 3)
    distances = ((rgb[:, None] - palette[None, :, :, None, None]) ** 2).sum(2)  # (N, 19, H, W)
    return distances.argmin(1)


def confusion(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The 19 x 19 confusion matrix (rows: ground truth) over pixels whose truth is a class (torchmetrics)."""
    return multiclass_confusion_matrix(predicted.reshape(-1), target.reshape(-1), NUM_CLASSES, ignore_index=IGNORE)


def segmentation_scores(matrix: torch.Tensor) -> dict[str, float]:
    """Per-pixel accuracy, per-class accuracy (mean over classes present in the ground truth) and class IoU
    (mean over classes present in truth or prediction), the definitions of the Cityscapes/FCN evaluation."""
    matrix = matrix.double()
    hits, truth, predicted = matrix.diagonal(), matrix.sum(1), matrix.sum(0)
    union = truth + predicted - hits
    return {"pixel_accuracy": float(hits.sum() / matrix.sum().clamp_min(1)),
            "per_class_accuracy": float((hits[truth > 0] / truth[truth > 0]).mean()) if (truth > 0).any() else 0.0,
            "class_iou": float((hits[union > 0] / union[union > 0]).mean()) if (union > 0).any() else 0.0}


def majority_class(frames: Sequence[Frame], size: int) -> int:
    """The most frequent class of the training labels (the constant predictor's answer)."""
    ids = load_train_ids(frames, size).reshape(-1)
    return int(torch.bincount(ids[ids != IGNORE], minlength=NUM_CLASSES).argmax())


# ----- synthetic street scenes -------------------------------------------------------------------------------
ROAD, SIDEWALK, BUILDING, VEGETATION, SKY, CAR, EGO = 7, 8, 11, 21, 23, 26, 1  # Cityscapes label ids


def street_scene(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A photo-like street view and its label ids: sky above a horizon, buildings with windows on both sides,
    trees, a perspective road with lane marks between sidewalks, cars on the road, and the ego car's bonnet."""
    ys, xs = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    labels = np.full((height, width), SKY, np.uint8)
    photo = np.empty((height, width, 3))
    photo[:] = np.array([150, 190, 235]) + (ys[..., None] * np.array([60, 40, 15]))  # lighter near the horizon
    photo += rng.normal(0, 5, (height, width, 1)) * (rng.random((height, width, 1)) < 0.4)  # haze
    horizon, vanish = rng.uniform(0.42, 0.55), rng.uniform(0.4, 0.6)
    _buildings(rng, photo, labels, xs, ys, horizon)
    _trees(rng, photo, labels, xs, ys, horizon)
    ground = ys >= horizon
    depth = np.clip((ys - horizon) / (1 - horizon), 0, 1)  # 0 at the horizon, 1 at the bottom
    half_road = 0.03 + 0.55 * depth
    road = ground & (np.abs(xs - vanish) <= half_road)
    sidewalk = ground & ~road & (np.abs(xs - vanish) <= half_road + 0.05 + 0.25 * depth)
    labels[ground & ~road & ~sidewalk] = VEGETATION  # grass verges: vegetation
    photo[ground & ~road & ~sidewalk] = [60, 110, 45]
    labels[sidewalk], labels[road] = SIDEWALK, ROAD
    photo[sidewalk] = np.array([185, 170, 165]) - 25 * ((xs[sidewalk] * 40 % 1) < 0.15)[:, None]  # tiles
    photo[road] = [85, 82, 88]
    lane = road & (np.abs(xs - vanish) <= 0.004 + 0.01 * depth) & ((depth * 8) % 1 < 0.5)
    photo[lane] = 235  # lane marks belong to the road class, as in Cityscapes
    _cars(rng, photo, labels, xs, ys, horizon, vanish)
    bonnet = ys > 0.93 - 0.03 * np.cos((xs - 0.5) * 3)
    labels[bonnet], photo[bonnet] = EGO, [30, 30, 35]
    photo = photo * rng.uniform(0.8, 1.15) + rng.normal(0, 4, photo.shape)
    return np.clip(photo, 0, 255).astype(np.uint8), labels


def _buildings(rng, photo, labels, xs, ys, horizon) -> None:
    for side in (0, 1):
        x = 0.0
        while x < rng.uniform(0.25, 0.4):
            w, top = rng.uniform(0.08, 0.18), rng.uniform(0.02, horizon - 0.1)
            left = x if side == 0 else 1 - x - w
            wall = (xs >= left) & (xs < left + w) & (ys >= top) & (ys < horizon + 0.02)
            colour = rng.uniform([120, 100, 80], [210, 190, 170])
            windows = wall & ((xs - left) * 60 % 1 < 0.45) & ((ys - top) * 30 % 1 < 0.5)
            labels[wall], photo[wall] = BUILDING, colour
            photo[windows] = colour * 0.45
            x += w


def _trees(rng, photo, labels, xs, ys, horizon) -> None:
    for _ in range(rng.integers(1, 4)):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(horizon - 0.2, horizon), rng.uniform(0.04, 0.1)
        crown = ((xs - cx) * 2) ** 2 + (ys - cy) ** 2 <= r ** 2
        labels[crown] = VEGETATION
        photo[crown] = np.array([50, 105, 40]) + rng.normal(0, 18, (int(crown.sum()), 1))  # leafy texture


def _cars(rng, photo, labels, xs, ys, horizon, vanish) -> None:
    for _ in range(rng.integers(0, 4)):
        depth = rng.uniform(0.15, 0.8)
        y = horizon + depth * (1 - horizon)
        h, w = 0.05 + 0.25 * depth, 0.05 + 0.3 * depth
        x = vanish + rng.uniform(-0.4, 0.4) * depth - w / 2
        body = (xs >= x) & (xs < x + w) & (ys >= y - h) & (ys < y)
        labels[body], photo[body] = CAR, rng.uniform(20, 230, 3)
        glass = body & (ys < y - 0.55 * h) & (xs > x + 0.15 * w) & (xs < x + 0.85 * w)
        photo[glass] = [40, 50, 60]
        wheels = body & (ys > y - 0.15 * h) & (((xs - x) / w < 0.25) | ((xs - x) / w > 0.75))
        photo[wheels] = 15


def synthesize_cityscapes(root: Path, seed: int, splits: dict[str, tuple[Sequence[str], int]], width: int,
                          height: int) -> None:
    """splits maps a split name to (its cities, frames per city); frames are numbered like Cityscapes'."""
    rng = np.random.default_rng(seed)
    for split, (cities, frames) in splits.items():
        for city in cities:
            for k in range(frames):
                photo, labels = street_scene(rng, width, height)
                write_frame(root, split, city, k, 19, photo, labels)
