"""ResNet-50 (He et al., CVPR 2016): torchvision's ResNet with Bottleneck blocks in stages of [3, 4, 6, 3].

At the paper's width this is exactly torchvision.models.resnet50. torchvision fixes the stem and stage widths
at 64/128/256/512 (x4 at each block's output); only the tiny scale narrows them, keeping all 50 layers, so a
from-scratch run fits a laptop CPU's minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet50 as torchvision_resnet50
from torchvision.models.resnet import Bottleneck, ResNet

RESNET50_LAYERS = (3, 4, 6, 3)
REFERENCE_WIDTH = 64  # channels of the stem and of the first stage's bottleneck


def resnet50(num_classes: int, base_width: int = REFERENCE_WIDTH, zero_init_residual: bool = False,
             norm_layer: Callable[[int], nn.Module] | None = None, *, residual: bool = True) -> ResNet:
    """A randomly initialised ResNet-50 whose stage widths are base_width x (1, 2, 4, 8).

    Its parameter names are torchvision resnet50's (conv1, bn1, layer1..4, fc), so a state dict saved from it
    loads into torchvision's model and into a detector's ResNet-50 backbone, and vice versa.
    zero_init_residual zeroes each block's last BatchNorm so every block starts as the identity (Goyal et al.
    2017), which makes short from-scratch runs converge faster. norm_layer replaces BatchNorm2d (a detector
    fine-tuning from ImageNet weights uses torchvision's FrozenBatchNorm2d).
    residual=False builds the benchmark's control, the plain net of the same 50 layers (He et al.'s plain-versus-
    residual comparison): no block adds its input back, and zero_init_residual is ignored, since a plain block
    whose last BatchNorm starts at zero would pass nothing on.
    """
    if not residual:
        return plain_net50(num_classes, base_width, norm_layer)
    if base_width == REFERENCE_WIDTH:
        return torchvision_resnet50(weights=None, num_classes=num_classes, zero_init_residual=zero_init_residual,
                                    norm_layer=norm_layer)
    return NarrowResNet50(num_classes, base_width, zero_init_residual, norm_layer)


class PlainBottleneck(Bottleneck):
    """A bottleneck block without its shortcut: 1x1, 3x3, 1x1 convolutions, each followed by BatchNorm and ReLU.

    The projection torchvision builds for a block that changes width or stride belongs to the shortcut, so it is
    dropped too; the 1x1 and strided 3x3 convolutions already change the width and the resolution."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # Bottleneck's own arguments, as _make_layer passes them
        super().__init__(*args, **kwargs)
        self.downsample = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)))


def plain_net50(num_classes: int, base_width: int = REFERENCE_WIDTH,
                norm_layer: Callable[[int], nn.Module] | None = None) -> ResNet:
    """ResNet-50's 50 layers, widths and initialisation (every BatchNorm at scale 1) without a residual connection."""
    if base_width == REFERENCE_WIDTH:
        return ResNet(PlainBottleneck, list(RESNET50_LAYERS), num_classes=num_classes, norm_layer=norm_layer)
    return NarrowResNet50(num_classes, base_width, zero_init_residual=False, norm_layer=norm_layer,
                          block=PlainBottleneck)


class NarrowResNet50(ResNet):
    """torchvision's ResNet-50 with the stem and every stage narrowed by base_width / 64."""

    def __init__(self, num_classes: int, base_width: int, zero_init_residual: bool,
                 norm_layer: Callable[[int], nn.Module] | None = None,
                 block: type[Bottleneck] = Bottleneck) -> None:
        super().__init__(block, list(RESNET50_LAYERS), num_classes=num_classes, norm_layer=norm_layer)
        self.inplanes = base_width  # _make_layer reads and advances this, as in ResNet.__init__
        self.conv1 = nn.Conv2d(3, base_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = self._norm_layer(base_width)
        for stage, blocks in enumerate(RESNET50_LAYERS):
            layer = self._make_layer(block, base_width * 2**stage, blocks, stride=1 if stage == 0 else 2)
            setattr(self, f"layer{stage + 1}", layer)
        self.fc = nn.Linear(base_width * 8 * Bottleneck.expansion, num_classes)
        self._initialise(zero_init_residual)

    def _initialise(self, zero_init_residual: bool) -> None:
        """The initialisation ResNet.__init__ gives its own layers, applied to the rebuilt ones."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, Bottleneck) and isinstance(module.bn3, nn.BatchNorm2d):
                    nn.init.zeros_(module.bn3.weight)
