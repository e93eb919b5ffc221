"""Spatial transformer network (Jaderberg et al., 2015) in front of a small CNN classifier.

The spatial transformer has the paper's three parts: a localisation network regressing the 6 parameters of an
affine transform (its last layer starts at the identity transform, so training starts from "no warp"), a grid
generator (torch's affine_grid) and a bilinear sampler (grid_sample). The classifier and localisation layer
sizes follow the PyTorch STN example on MNIST that AIBench's implementation builds on.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

IDENTITY_AFFINE = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


class LocalisationNet(nn.Module):
    """Regresses theta (N, 2, 3) of an affine transform from the input image."""

    def __init__(self, channels: int, image_size: tuple[int, int]) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 8, kernel_size=7), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Conv2d(8, 10, kernel_size=5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Flatten(),
        )
        self.regressor = nn.Sequential(
            nn.Linear(_flat_size(self.features, channels, image_size), 32), nn.ReLU(inplace=True),
            nn.Linear(32, 6),
        )
        # zero weights + identity bias: theta is exactly the identity until gradients say otherwise
        last = self.regressor[-1]
        nn.init.zeros_(last.weight)
        with torch.no_grad():
            last.bias.copy_(torch.tensor(IDENTITY_AFFINE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.regressor(self.features(x)).view(-1, 2, 3)


class SpatialTransformer(nn.Module):
    """Localisation net + grid generator + bilinear sampler; the output has the input's size."""

    def __init__(self, channels: int, image_size: tuple[int, int]) -> None:
        super().__init__()
        self.localisation = LocalisationNet(channels, image_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        theta = self.localisation(x)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False), theta


class STNClassifier(nn.Module):
    """Spatial transformer followed by a two-conv, two-FC classifier; returns class logits.

    With `spatial_transformer=False` (the benchmark's control) the localisation network and sampler are left out:
    the same classifier reads the image as it is, i.e. through the identity transform."""

    def __init__(self, num_classes: int = 10, channels: int = 1, image_size: tuple[int, int] = (28, 28),
                 dropout: float = 0.5, spatial_transformer: bool = True) -> None:
        super().__init__()
        self.transformer = SpatialTransformer(channels, image_size) if spatial_transformer else None
        self.features = nn.Sequential(
            nn.Conv2d(channels, 10, kernel_size=5), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Conv2d(10, 20, kernel_size=5), nn.Dropout2d(dropout), nn.MaxPool2d(2), nn.ReLU(inplace=True),
            nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Linear(_flat_size(self.features, channels, image_size), 50), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(50, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        warped = x if self.transformer is None else self.transformer(x)[0]
        return self.head(self.features(warped))


def _flat_size(features: nn.Module, channels: int, image_size: tuple[int, int]) -> int:
    """Length of the flattened feature vector for one image, so any canvas size (28, 40, 60 ...) works."""
    with torch.no_grad():
        return int(features(torch.zeros(1, channels, *image_size)).shape[1])
