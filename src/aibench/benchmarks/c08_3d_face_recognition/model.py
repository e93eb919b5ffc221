"""RGB-D ResNet-50 (the paper's "3D face model"): ResNet-50 whose first convolution reads 4 channels (RGB + depth)
and whose classifier has one output per identity.

It is C1's ResNet-50 (exactly torchvision.models.resnet50 at the reference width, a uniformly narrowed copy at
the tiny scale) with its stem convolution replaced.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import ResNet

from aibench.benchmarks.c01_image_classification.model import REFERENCE_WIDTH, resnet50

RGBD_CHANNELS = 4


def rgbd_resnet50(num_identities: int, base_width: int = REFERENCE_WIDTH,
                  zero_init_residual: bool = False) -> ResNet:
    """A randomly initialised ResNet-50 for 4-channel RGB-D input with num_identities logits."""
    model = resnet50(num_identities, base_width, zero_init_residual)
    stem = model.conv1
    model.conv1 = nn.Conv2d(RGBD_CHANNELS, stem.out_channels, kernel_size=stem.kernel_size, stride=stem.stride,
                            padding=stem.padding, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")  # as ResNet inits its convs
    return model
