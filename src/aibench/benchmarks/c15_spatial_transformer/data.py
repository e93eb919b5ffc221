"""Data plumbing of the spatial transformer benchmark: MNIST splits as device tensors, shuffled batches, and the
synthetic tiny set.

The tiny set is real handwriting: scikit-learn's bundled 8x8 digits (1,797 digits by 43 writers), enlarged
and randomly rotated, scaled and translated on MNIST's 28x28 canvas, then written as gzipped MNIST IDX files.
The distortion is what a spatial transformer undoes, so the tiny task exercises the model's point. A scale's
`distortion` hyperparameters set its canvas and ranges (e.g. the STN paper's RTS variant: +-45 deg, scale 0.7-1.2,
placed at random on a canvas wider than the digit); without them, MNIST's 28x28 and the ranges below.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from sklearn.datasets import load_digits
from torch.nn import functional as F

from aibench.datasets.mnist_idx import MnistSplit, write_mnist_split

CANVAS = 28  # MNIST's image size
DIGIT_BOX = 16  # side the 8x8 digit is enlarged to before distortion (MNIST digits fill about 20 of 28)
MAX_ROTATION_DEG = 45.0  # the paper's rotated/RTS MNIST variants use +-45 degrees
SCALE_RANGE = (0.75, 1.25)
MAX_SHIFT_PX = 4.0


@dataclass(frozen=True)
class Distortion:
    """How the digits are distorted: the canvas they are drawn on and the ranges of the random affine warp."""

    canvas: int = CANVAS
    max_rotation_deg: float = MAX_ROTATION_DEG
    scale_range: tuple[float, float] = SCALE_RANGE
    max_shift_px: float = MAX_SHIFT_PX

    @classmethod
    def from_hparams(cls, hparams: dict) -> Distortion:
        """The scale's `distortion` hyperparameters (absent: the defaults above)."""
        given = dict(hparams.get("distortion", {}))
        if "scale_range" in given:
            given["scale_range"] = tuple(given["scale_range"])
        return cls(**given)
TEST_EVERY = 5  # every 5th sklearn digit is held out for testing: a fixed, seed-independent split


# ----- synthesis -----------------------------------------------------------------------------------------
def enlarge_digits(digits: np.ndarray, canvas: int = CANVAS) -> torch.Tensor:
    """sklearn's 8x8 digits (0..16) as centred (N, 1, canvas, canvas) floats in 0..1."""
    small = torch.from_numpy(digits.astype(np.float32) / 16.0).unsqueeze(1)
    big = F.interpolate(small, size=(DIGIT_BOX, DIGIT_BOX), mode="bilinear", align_corners=False)
    margin = (canvas - DIGIT_BOX) // 2
    return F.pad(big, (margin, canvas - DIGIT_BOX - margin) * 2)


def random_distortions(images: torch.Tensor, copies: int, rng: np.random.Generator,
                        distortion: Distortion = Distortion()) -> torch.Tensor:
    """`copies` randomly rotated, scaled and translated versions of each image, as (N*copies, H, W) uint8."""
    out = []
    for image in images.repeat_interleave(copies, dim=0):
        angle = float(rng.uniform(-distortion.max_rotation_deg, distortion.max_rotation_deg))
        scale = float(rng.uniform(*distortion.scale_range))
        shift = [float(v) for v in rng.uniform(-distortion.max_shift_px, distortion.max_shift_px, size=2)]
        out.append(TF.affine(image, angle=angle, translate=shift, scale=scale, shear=[0.0, 0.0],
                             interpolation=TF.InterpolationMode.BILINEAR))
    return (torch.stack(out).squeeze(1).clamp(0, 1) * 255).round().to(torch.uint8)


def synthesize_distorted_digits(data_dir: Path, seed: int, train_copies: int, test_copies: int,
                                distortion: Distortion = Distortion()) -> None:
    """Write distorted sklearn digits as MNIST's four gzipped IDX files, train/test split by source digit."""
    digits = load_digits()
    is_test = np.arange(len(digits.target)) % TEST_EVERY == 0
    rng = np.random.default_rng(seed)
    enlarged = enlarge_digits(digits.images, distortion.canvas)
    for split, mask, copies in (("train", ~is_test, train_copies), ("test", is_test, test_copies)):
        images = random_distortions(enlarged[torch.from_numpy(mask)], copies, rng, distortion)
        labels = np.repeat(digits.target[mask], copies)
        order = rng.permutation(len(labels))  # copies of one digit should not sit side by side in the file
        write_mnist_split(data_dir, split, images.numpy()[order], labels[order])


# ----- tensors and batches -------------------------------------------------------------------------------
@dataclass
class DigitTensors:
    """A split on the device: uint8 images (N, 1, H, W), kept small, normalized per batch; int64 labels."""

    images: torch.Tensor
    labels: torch.Tensor

    @classmethod
    def from_split(cls, split: MnistSplit, device: torch.device, limit: int | None = None) -> DigitTensors:
        n = len(split) if limit is None else min(limit, len(split))
        images = torch.tensor(split.images[:n], dtype=torch.uint8).unsqueeze(1)
        return cls(images.to(device), torch.tensor(split.labels[:n], dtype=torch.int64).to(device))

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Normalizer:
    """Maps uint8 pixels to zero mean, unit variance with the training split's statistics (MNIST: 0.1307,
    0.3081, the values the PyTorch STN example uses)."""

    mean: float
    std: float

    @classmethod
    def fit(cls, images: torch.Tensor) -> Normalizer:
        pixels = images.float() / 255.0
        return cls(float(pixels.mean()), float(pixels.std()))

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() / 255.0 - self.mean) / self.std


def shuffled_batches(data: DigitTensors, batch_size: int, generator: torch.Generator
                     ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of (uint8 images, labels) batches in a random order; the last batch may be smaller."""
    order = torch.randperm(len(data), generator=generator).to(data.labels.device)
    for start in range(0, len(data), batch_size):
        idx = order[start:start + batch_size]
        yield data.images[idx], data.labels[idx]


def ordered_batches(data: DigitTensors, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The split in file order, for evaluation."""
    for start in range(0, len(data), batch_size):
        yield data.images[start:start + batch_size], data.labels[start:start + batch_size]
