"""CycleGAN (Zhu, Park, Isola & Efros, ICCV 2017): unpaired image-to-image translation between domains A and B.

Structural parts, as the paper (§4 and appendix 7.2) defines them:
- two generators G: A -> B and F: B -> A, each the network of Johnson et al. (2016): c7s1-64, d128, d256, n
  residual blocks R256 (6 at 128x128, 9 at 256x256), u128, u64, c7s1-3; instance normalisation, reflection
  padding, tanh output;
- two discriminators D_A, D_B, each a 70x70 PatchGAN: C64-C128-C256-C512 (4x4 convolutions, stride 2 then 1,
  LeakyReLU 0.2, no normalisation on C64) and a 1-channel convolution giving a grid of real/fake scores;
- least-squares adversarial losses (LSGAN), the cycle-consistency loss ||F(G(a)) - a||_1 + ||G(F(b)) - b||_1
  weighted by lambda = 10, and the identity loss ||G(b) - b||_1 + ||F(a) - a||_1 weighted by 0.5 lambda;
- image pools of the 50 latest generated images from which discriminators are updated.
Weights start from N(0, 0.02), as in the paper's code.
"""

from __future__ import annotations

import random

import torch
from torch import nn


def conv_norm_relu(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, padding), nn.InstanceNorm2d(c_out), nn.ReLU(True)]


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with reflection padding and instance norm, added to the input (R-k)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), *conv_norm_relu(channels, channels, 3),
                                  nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """Johnson et al.'s transformation network: c7s1-w, d2w, d4w, n x R4w, u2w, uw, c7s1-3 (w = 64 in the paper)."""

    def __init__(self, width: int = 64, blocks: int = 9, channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), *conv_norm_relu(channels, width, 7)]
        layers += conv_norm_relu(width, 2 * width, 3, 2, 1) + conv_norm_relu(2 * width, 4 * width, 3, 2, 1)
        layers += [ResidualBlock(4 * width) for _ in range(blocks)]
        for c_in, c_out in ((4 * width, 2 * width), (2 * width, width)):  # fractionally strided (u-k)
            layers += [nn.ConvTranspose2d(c_in, c_out, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(c_out),
                       nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """The 70x70 PatchGAN: C64-C128-C256-C512 then a 1-channel 4x4 convolution (w = 64 in the paper)."""

    def __init__(self, width: int = 64, channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for c_in, c_out, stride in ((width, 2 * width, 2), (2 * width, 4 * width, 2), (4 * width, 8 * width, 1)):
            layers += [nn.Conv2d(c_in, c_out, 4, stride, 1), nn.InstanceNorm2d(c_out), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(8 * width, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def receptive_field(discriminator: PatchDiscriminator) -> int:
    """Input pixels one output score sees (70 for the paper's PatchGAN)."""
    field = 1
    for layer in reversed([m for m in discriminator.net if isinstance(m, nn.Conv2d)]):
        field = (field - 1) * layer.stride[0] + layer.kernel_size[0]
    return field


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)


def lsgan_loss(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss: mean squared distance of the patch scores from 1 (real) or 0 (fake)."""
    return (scores - (1.0 if real else 0.0)).pow(2).mean()


class ImagePool:
    """The history of generated images (Shrivastava et al. 2017): until full, every image is stored and returned;
    then each new image is, with probability 1/2, swapped for a random stored one, which is returned instead."""

    def __init__(self, size: int = 50, rng: random.Random | None = None) -> None:
        self.size, self.images, self.rng = size, [], rng or random.Random(0)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif self.rng.random() < 0.5:
                slot = self.rng.randrange(self.size)
                out.append(self.images[slot])
                self.images[slot] = image
            else:
                out.append(image)
        return torch.stack(out)
