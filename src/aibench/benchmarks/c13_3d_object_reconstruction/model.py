"""Perspective Transformer Nets (Yan et al., NeurIPS 2016): image encoder, volume decoder, perspective projector.

The encoder maps one view to a latent code, the decoder grows it into an occupancy volume with 3D transposed
convolutions, and the perspective transformer resamples that volume along each camera's rays (trilinear
grid_sample over a frustum grid built from the camera's intrinsics and extrinsics) and max-pools along depth to a
silhouette. Training compares silhouettes with the ground-truth masks of several views: no 3D supervision.

Sizes follow the paper and its TensorFlow reimplementation (tensorflow/models research/ptn): convolutions of 64,
128, 256 channels with 5x5 filters and stride 2, fully connected layers of 1024, 1024 and 512 units; a fully
connected layer to a (vox/8)^3 x 512 volume, then transposed convolutions of 256, 96 and 1 channels with 4^3, 5^3
and 6^3 kernels and stride 2 up to vox^3, sigmoid occupancy.

Volumes are indexed [x, y, z] (y up) inside the cube [-1, 1]^3, as aibench.datasets.shapenet_views describes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

CUBE_RADIUS = math.sqrt(3.0)  # radius of the sphere around the [-1, 1]^3 cube: where the depth range must reach


class ImageEncoder(nn.Module):
    """Three 5x5 stride-2 convolutions and three fully connected layers to the latent ("identity") code."""

    def __init__(self, image_size: int, channels: Sequence[int] = (64, 128, 256), fc_dim: int = 1024,
                 z_dim: int = 512) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 5, stride=2, padding=2), nn.ReLU(inplace=True)]
            c_in = c
        self.conv = nn.Sequential(*layers)
        side = image_size // 2 ** len(channels)
        self.fc = nn.Sequential(
            nn.Flatten(), nn.Linear(c_in * side * side, fc_dim), nn.ReLU(inplace=True),
            nn.Linear(fc_dim, fc_dim), nn.ReLU(inplace=True), nn.Linear(fc_dim, z_dim), nn.ReLU(inplace=True))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(images * 2 - 1))  # images in [0, 1], centred as the reference does


class VolumeDecoder(nn.Module):
    """A fully connected layer to a (vox/8)^3 volume, then three stride-2 transposed 3D convolutions."""

    def __init__(self, vox_size: int, z_dim: int = 512, channels: Sequence[int] = (512, 256, 96),
                 occupancy_prior: float = 0.5) -> None:
        super().__init__()
        if vox_size % 8:
            raise ValueError(f"vox_size must be a multiple of 8, got {vox_size}")
        c0, c1, c2 = channels
        self.start = (c0, vox_size // 8)
        self.fc = nn.Sequential(nn.Linear(z_dim, c0 * (vox_size // 8) ** 3), nn.ReLU(inplace=True))
        # kernel/padding pairs double the side each time: 4^3 (pad 1), 5^3 (pad 2, +1), 6^3 (pad 2)
        self.deconv = nn.Sequential(
            nn.ConvTranspose3d(c0, c1, 4, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.ConvTranspose3d(c1, c2, 5, stride=2, padding=2, output_padding=1), nn.ReLU(inplace=True),
            nn.ConvTranspose3d(c2, 1, 6, stride=2, padding=2))
        # start every voxel near the prior occupancy (0.5 is the plain zero bias): with a low prior, the early
        # push-down from background pixels does not drive the sigmoid into saturation, where it stops learning
        nn.init.constant_(self.deconv[-1].bias, math.log(occupancy_prior / (1 - occupancy_prior)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c0, side = self.start
        h = self.fc(z).view(-1, c0, side, side, side)
        return torch.sigmoid(self.deconv(h))  # (N, 1, vox, vox, vox) occupancy in [0, 1]


def frustum_grid(cameras: torch.Tensor, height: int, width: int, depth: int) -> torch.Tensor:
    """Sampling points of each camera's view frustum, in grid_sample's (z, y, x) order for an [x, y, z] volume.

    cameras: (..., 4) rows of [azimuth deg, elevation deg, distance, focal_length]. Returns (..., depth, height,
    width, 3): for every pixel centre (u, v) in [-1, 1] and each of `depth` planes z between the near and far
    planes around the cube, the world point centre + z * (forward + u / f * right + v / f * up).
    """
    az, el = torch.deg2rad(cameras[..., 0]), torch.deg2rad(cameras[..., 1])
    dist, focal = cameras[..., 2], cameras[..., 3]
    centre = dist[..., None] * torch.stack((el.cos() * az.sin(), el.sin(), el.cos() * az.cos()), -1)
    forward = -centre / dist[..., None]
    world_up = torch.tensor([0.0, 1.0, 0.0], dtype=cameras.dtype, device=cameras.device).expand_as(forward)
    right = F.normalize(torch.linalg.cross(forward, world_up), dim=-1)
    up = torch.linalg.cross(right, forward)
    u = (torch.arange(width, dtype=cameras.dtype, device=cameras.device) + 0.5) / width * 2 - 1
    v = 1 - (torch.arange(height, dtype=cameras.dtype, device=cameras.device) + 0.5) / height * 2
    f = focal[..., None, None, None]
    rays = (forward[..., None, None, :] + (u[None, :, None] / f) * right[..., None, None, :]
            + (v[:, None, None] / f) * up[..., None, None, :])  # (..., H, W, 3), unit depth along forward
    near = (dist - CUBE_RADIUS).clamp(min=1e-3)
    steps = torch.linspace(0, 1, depth, dtype=cameras.dtype, device=cameras.device)
    z = near[..., None] + (dist + CUBE_RADIUS - near)[..., None] * steps  # (..., D)
    # flip the small factors to grid_sample's (z, y, x) order before the one large fused multiply-add
    return torch.addcmul(centre.flip(-1)[..., None, None, None, :], z[..., :, None, None, None],
                         rays.flip(-1)[..., None, :, :, :])


def sample_frustums(volume: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Trilinear samples of volume (N, C, X, Y, Z) at frustum grids (N, V, D, H, W, 3) -> (N, C, V, D, H, W)."""
    n, v, d, h, w, _ = grid.shape
    out = F.grid_sample(volume, grid.reshape(n, v * d, h, w, 3),  # views stacked along depth: one call
                        mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.view(n, volume.shape[1], v, d, h, w)


class PerspectiveTransformer(nn.Module):
    """Resample a volume along camera rays (trilinear) and max-project along depth to silhouettes."""

    def __init__(self, out_size: int, depth_samples: int) -> None:
        super().__init__()
        self.out_size, self.depth_samples = out_size, depth_samples
        self._grid_for: tuple[torch.Tensor, torch.Tensor] | None = None  # (cameras, their frustum grid)

    def frustums(self, cameras: torch.Tensor) -> torch.Tensor:
        """The cameras' frustum grids, kept for the next call: batches of one dataset often share cameras."""
        if self._grid_for is None or not _same(self._grid_for[0], cameras):
            grid = frustum_grid(cameras, self.out_size, self.out_size, self.depth_samples)
            self._grid_for = (cameras.detach().clone(), grid)
        return self._grid_for[1]

    def forward(self, volume: torch.Tensor, cameras: torch.Tensor) -> torch.Tensor:
        """volume (N, 1, X, Y, Z), cameras (N, V, 4) -> silhouettes (N, V, H, W), the max along each ray.

        The max's value and gradient are those of its largest sample alone, so we find that sample without
        autograd and resample only it with autograd: the same result and gradient as max over all samples, with
        a backward pass 1/depth_samples as large.
        """
        grid = self.frustums(cameras)
        with torch.no_grad():
            deepest = sample_frustums(volume, grid).argmax(dim=3)[:, 0]  # (N, V, H, W): depth index of the max
        at_max = torch.gather(grid, 2, deepest[:, :, None, :, :, None].expand(-1, -1, -1, -1, -1, 3))
        return sample_frustums(volume, at_max)[:, 0, :, 0]


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.device == b.device and bool(torch.equal(a, b))


class PTN(nn.Module):
    """Single-view reconstruction: image -> occupancy volume; `project` gives its silhouettes."""

    def __init__(self, image_size: int = 64, vox_size: int = 32, encoder_channels: Sequence[int] = (64, 128, 256),
                 fc_dim: int = 1024, z_dim: int = 512, decoder_channels: Sequence[int] = (512, 256, 96),
                 mask_size: int = 32, depth_samples: int = 64, occupancy_prior: float = 0.5) -> None:
        super().__init__()
        self.encoder = ImageEncoder(image_size, encoder_channels, fc_dim, z_dim)
        self.decoder = VolumeDecoder(vox_size, z_dim, decoder_channels, occupancy_prior)
        self.projector = PerspectiveTransformer(mask_size, depth_samples)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) in [0, 1] -> occupancy (N, 1, vox, vox, vox) in [0, 1]."""
        return self.decoder(self.encoder(images))

    def project(self, volume: torch.Tensor, cameras: torch.Tensor) -> torch.Tensor:
        return self.projector(volume, cameras)
