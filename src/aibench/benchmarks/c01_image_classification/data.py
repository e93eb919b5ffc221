"""Image classification data: ImageNet preprocessing, loaders, and the synthetic tiny set.

The synthetic set is written in ImageNet's folder layout. Each class is a visual pattern (a shape or a texture);
position, scale, rotation, stripe period, colours, image size and noise are random per image, and colours are
drawn the same way for every class, so only the pattern tells the classes apart.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from aibench.datasets.imagefolder import ImageFolderDataset, write_image

# ImageNet's per-channel statistics, which the reference recipe normalizes by.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PATTERNS = ("disc", "square", "triangle", "ring", "cross", "hstripes", "vstripes", "diagonal", "checker", "dots")


# ----- preprocessing ---------------------------------------------------------------------------------------

def train_transform(image_size: int, crop_scale: tuple[float, float]) -> Callable[[Any], torch.Tensor]:
    """The reference training augmentation: random-resized crop and horizontal flip, then normalize."""
    return v2.Compose([
        v2.PILToTensor(),
        v2.RandomResizedCrop(image_size, scale=crop_scale, antialias=True),
        v2.RandomHorizontalFlip(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def eval_transform(resize_size: int, image_size: int) -> Callable[[Any], torch.Tensor]:
    """The reference evaluation preprocessing: resize the short side, centre crop, normalize."""
    return v2.Compose([
        v2.PILToTensor(),
        v2.Resize(resize_size, antialias=True),
        v2.CenterCrop(image_size),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])


def make_loader(dataset: ImageFolderDataset, batch_size: int, num_workers: int, shuffle: bool,
                generator: torch.Generator | None = None, pin_memory: bool = False) -> DataLoader:
    """A DataLoader that drops the last partial training batch (BatchNorm is unstable on tiny batches)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers,
                      drop_last=shuffle, generator=generator, pin_memory=pin_memory,
                      persistent_workers=num_workers > 0)


# ----- synthesis -------------------------------------------------------------------------------------------

def synthetic_wnid(index: int) -> str:
    """A WordNet-id-shaped class folder name outside ImageNet's range, so it is never mistaken for real data."""
    return f"n9{index:07d}"


def synthesize_imagenet(root: Path, num_classes: int, train_per_class: int, val_per_class: int,
                        size_range: tuple[int, int], seed: int) -> None:
    """Write train/<wnid>/<wnid>_<i>.JPEG and val/<wnid>/ILSVRC2012_val_<n>.JPEG, named as ImageNet names them.

    Class k draws pattern k mod 10: up to 10 classes the set is learnable (tiny); the full-shaped smoke set's
    1,000 classes repeat the patterns, since it checks the real model's shapes, not what it learns."""
    rng = np.random.default_rng(seed)
    val_number = 0
    for label in range(num_classes):
        wnid, pattern = synthetic_wnid(label), PATTERNS[label % len(PATTERNS)]
        for i in range(train_per_class):
            write_image(root, "train", wnid, f"{wnid}_{i}", draw_pattern(pattern, rng, size_range))
        for _ in range(val_per_class):
            val_number += 1
            write_image(root, "val", wnid, f"ILSVRC2012_val_{val_number:08d}", draw_pattern(pattern, rng, size_range))


def draw_pattern(pattern: str, rng: np.random.Generator, size_range: tuple[int, int]) -> np.ndarray:
    """One HxWx3 uint8 image: the pattern in a random colour over a random background, plus noise."""
    height, width = (int(v) for v in rng.integers(size_range[0], size_range[1] + 1, size=2))
    background, foreground = _contrasting_colours(rng)
    mask = _pattern_mask(pattern, rng, height, width)
    image = np.where(mask[..., None], foreground, background).astype(np.float32)
    image += rng.normal(0.0, 12.0, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _contrasting_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Background and foreground RGB colours at least 120 apart in brightness, so the pattern is visible."""
    background = rng.uniform(0, 255, size=3)
    foreground = rng.uniform(0, 255, size=3)
    gap = foreground.mean() - background.mean()
    if abs(gap) < 120:
        shift = (120 - abs(gap)) * (1 if gap >= 0 else -1)
        if not 0 <= foreground.mean() + shift <= 255:
            shift = -np.sign(shift) * (120 + abs(gap))
        foreground = np.clip(foreground + shift, 0, 255)
    return background, foreground


def _pattern_mask(pattern: str, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Boolean HxW mask of the pattern, at a random place, scale and (for shapes) rotation."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    short = min(height, width)
    if pattern in ("disc", "square", "triangle", "ring", "cross"):
        radius = rng.uniform(0.22, 0.4) * short
        cy, cx = (rng.uniform(radius, side - radius) for side in (height, width))
        angle = rng.uniform(-0.3, 0.3)  # radians; small, so a square never becomes a diamond
        u = (x - cx) * np.cos(angle) + (y - cy) * np.sin(angle)
        v = -(x - cx) * np.sin(angle) + (y - cy) * np.cos(angle)
        return _shape(pattern, u, v, radius)
    top, left = (int(rng.integers(0, side // 4 + 1)) for side in (height, width))
    bottom, right = (side - int(rng.integers(0, side // 4 + 1)) for side in (height, width))
    inside = (y >= top) & (y < bottom) & (x >= left) & (x < right)
    period = rng.uniform(5.0, 9.0)
    phase = rng.uniform(0, period)
    return inside & _texture(pattern, x + phase, y + phase, period)


def _shape(pattern: str, u: np.ndarray, v: np.ndarray, r: float) -> np.ndarray:
    if pattern == "disc":
        return u**2 + v**2 <= r**2
    if pattern == "ring":
        return ((0.55 * r) ** 2 <= u**2 + v**2) & (u**2 + v**2 <= r**2)
    if pattern == "square":
        return (np.abs(u) <= 0.8 * r) & (np.abs(v) <= 0.8 * r)
    if pattern == "triangle":  # apex up: below the two slanted sides, above the base
        return (v <= 0.5 * r) & (v >= -r + 1.732 * np.abs(u))
    return ((np.abs(u) <= r) & (np.abs(v) <= 0.3 * r)) | ((np.abs(u) <= 0.3 * r) & (np.abs(v) <= r))  # cross


def _texture(pattern: str, x: np.ndarray, y: np.ndarray, period: float) -> np.ndarray:
    half = period / 2
    if pattern == "hstripes":
        return (y // half) % 2 == 0
    if pattern == "vstripes":
        return (x // half) % 2 == 0
    if pattern == "diagonal":
        return ((x + y) // period) % 2 == 0
    if pattern == "checker":
        return ((x // half) + (y // half)) % 2 == 0
    return (x % period - half) ** 2 + (y % period - half) ** 2 <= (period / 4) ** 2  # dots
