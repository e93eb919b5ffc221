"""The WGAN's MLP generator and critic (Arjovsky, Chintala & Bottou 2017, the "4-layer ReLU-MLP with 512
hidden units" of their LSUN experiment), and the critic's Earth-Mover estimate.
"""

from __future__ import annotations

import torch
from torch import nn


def _mlp(sizes: list[int]) -> list[nn.Module]:
    """Linear layers between consecutive sizes, ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return layers


class MLPGenerator(nn.Module):
    """Noise z -> hidden -> hidden -> hidden -> channels*size*size, tanh to the data's [-1, 1] range."""

    def __init__(self, noise_dim: int, hidden: int, image_size: int, channels: int = 3) -> None:
        super().__init__()
        self.noise_dim, self.shape = noise_dim, (channels, image_size, image_size)
        self.net = nn.Sequential(*_mlp([noise_dim, hidden, hidden, hidden, channels * image_size ** 2]), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(len(z), *self.shape)


class MLPCritic(nn.Module):
    """Image -> hidden -> hidden -> hidden -> 1: an unbounded score, no sigmoid (a critic, not a classifier)."""

    def __init__(self, hidden: int, image_size: int, channels: int = 3) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), *_mlp([channels * image_size ** 2, hidden, hidden, hidden, 1]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).squeeze(1)

    @torch.no_grad()
    def clip_weights(self, bound: float) -> None:
        """Keep every parameter in [-bound, bound], so the critic stays in a family of K-Lipschitz functions."""
        for p in self.parameters():
            p.clamp_(-bound, bound)


def em_estimate(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The critic's estimate of the Earth-Mover distance (up to its Lipschitz constant):
    E[critic(real)] - E[critic(fake)]."""
    return critic(real).mean() - critic(fake).mean()
