"""Images for the compression benchmark: random patches for training, centre crops for evaluation, in [-1, 1].

The images are read from the ImageNet folder layout (aibench.datasets.imagefolder). The tiny set is written in
that layout: smooth scenes (a colour gradient with a few soft-edged discs and boxes in random colours), which a
code of half a bit per pixel can describe well, unlike pixel noise, which no code at that rate can.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torchvision.transforms import v2

from aibench.datasets.imagefolder import ImageFolderDataset, write_image


def train_transform(patch_size: int) -> v2.Transform:
    return v2.Compose([v2.PILToTensor(), v2.RandomCrop(patch_size, pad_if_needed=True, padding_mode="reflect"),
                       v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True)])


def eval_transform(resize: int, size: int) -> v2.Transform:
    return v2.Compose([v2.PILToTensor(), v2.Resize(resize, antialias=True), v2.CenterCrop(size),
                       v2.ToDtype(torch.float32, scale=True)])


def load_all(paths: Sequence[Path], transform: v2.Transform) -> torch.Tensor:
    """Decode and transform every image (for the evaluation set, held in memory): (N, 3, S, S) in [0, 1]."""
    dataset = ImageFolderDataset([(p, 0) for p in paths], transform)
    return torch.stack([dataset[i][0] for i in range(len(dataset))])


def to_signed(images: torch.Tensor) -> torch.Tensor:
    return images * 2 - 1


def to_unit(images: torch.Tensor) -> torch.Tensor:
    return ((images + 1) / 2).clamp(0, 1)


def mean_colour_images(images: torch.Tensor) -> torch.Tensor:
    """The trivial code: every pixel replaced by its image's mean colour."""
    return images.mean(dim=(2, 3), keepdim=True).expand_as(images)


def downsampling_block(bpp: float) -> int:
    """The smallest power-of-two block whose mean colour (3 x 8 bits) costs no more than `bpp` a pixel."""
    block = 1
    while 24 / block**2 > bpp:
        block *= 2
    return block


def downsampled_images(images: torch.Tensor, block: int) -> torch.Tensor:
    """A classical reference code: each block's mean colour, upsampled bilinearly (8 bits a channel)."""
    means = F.avg_pool2d(images, block)
    means = ((means + 1) * 127.5).round() / 127.5 - 1  # what 8 bits per channel can hold
    return F.interpolate(means, size=images.shape[-2:], mode="bilinear", align_corners=False)


def smooth_scene(rng: np.random.Generator, size_range: Sequence[int]) -> np.ndarray:
    """One HxWx3 uint8 image: a two-colour linear gradient with 1-3 soft-edged discs or boxes over it."""
    height, width = (int(v) for v in rng.integers(size_range[0], size_range[1] + 1, size=2))
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = ((x / width - 0.5) * np.cos(angle) + (y / height - 0.5) * np.sin(angle) + 0.5).clip(0, 1)[..., None]
    start, end = rng.uniform(0, 255, size=(2, 3))
    image = start + (end - start) * ramp
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
        ry, rx = rng.uniform(0.12, 0.3, size=2) * min(height, width)
        if rng.random() < 0.5:  # disc: signed distance in units of the radius
            distance = (np.sqrt(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2) - 1) * min(ry, rx)
        else:  # box
            distance = np.maximum(np.abs(y - cy) - ry, np.abs(x - cx) - rx)
        alpha = 1 / (1 + np.exp(distance / rng.uniform(0.7, 1.5)))[..., None]  # an edge about 2-4 px wide
        image = image * (1 - alpha) + rng.uniform(0, 255, size=3) * alpha
    return np.clip(image, 0, 255).astype(np.uint8)


def synthesize_scenes(root: Path, folders: int, train_per_folder: int, val_per_folder: int,
                      size_range: Sequence[int], seed: int) -> None:
    """Write train/<wnid>/<wnid>_<i>.JPEG and val/<wnid>/ILSVRC2012_val_<n>.JPEG (ImageNet's names)."""
    rng = np.random.default_rng(seed)
    val_number = 0
    for folder in range(folders):
        wnid = f"n9{folder:07d}"  # outside ImageNet's id range, so never mistaken for real data
        for i in range(train_per_folder):
            write_image(root, "train", wnid, f"{wnid}_{i}", smooth_scene(rng, size_range), quality=95)
        for _ in range(val_per_folder):
            val_number += 1
            write_image(root, "val", wnid, f"ILSVRC2012_val_{val_number:08d}", smooth_scene(rng, size_range),
                        quality=95)
