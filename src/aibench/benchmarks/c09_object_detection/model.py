"""Faster R-CNN (Ren et al. 2015) with a ResNet feature pyramid, built from torchvision's detection parts.

With the reference hyperparameters (ResNet-50, 256 FPN channels, pyramid levels from layer1-4, anchors 32-512,
a 1024-wide two-layer box head) this is exactly torchvision's `fasterrcnn_resnet50_fpn` for the 20 VOC classes.
Nothing is downloaded: the backbone starts from scratch unless `backbone_checkpoint` names a local torchvision
ResNet state dict (e.g. ImageNet weights a user already has), in which case, as torchvision does for a
pretrained backbone, its batch norms are frozen and only the top `trainable_backbone_layers` stages train.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import FrozenBatchNorm2d, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from aibench.datasets.voc import VOC_CLASSES
from aibench.errors import DataError

NUM_CLASSES = len(VOC_CLASSES) + 1  # + background
_STAGES_TOP_DOWN = ("layer4", "layer3", "layer2", "layer1", "conv1")


def _load_backbone_checkpoint(body: resnet.ResNet, path: Path) -> None:
    if not path.is_file():
        raise DataError(path, "missing: expected a torchvision ResNet state dict (backbone_checkpoint)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        result = body.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shapes that do not fit
        raise DataError(path, f"does not fit the backbone ({err})") from None
    missing = [k for k in result.missing_keys if not k.startswith("fc.")]  # the classifier is not used
    if missing or result.unexpected_keys:
        raise DataError(path, f"does not fit the backbone: missing {missing[:3]}, "
                              f"unexpected {result.unexpected_keys[:3]}")


def _freeze_bottom_stages(body: resnet.ResNet, trainable_layers: int) -> None:
    """Keep only the top `trainable_layers` stages learning (all five: conv1 and its norm too)."""
    train = list(_STAGES_TOP_DOWN[:trainable_layers]) + (["bn1"] if trainable_layers == 5 else [])
    for name, parameter in body.named_parameters():
        if not any(name.startswith(stage) for stage in train):
            parameter.requires_grad_(False)


def resnet_fpn(name: str, fpn_channels: int, returned_layers: list[int], checkpoint: str | None = None,
               trainable_layers: int = 3) -> BackboneWithFPN:
    """A torchvision ResNet (resnet18 ... resnet101) under a feature pyramid over the given stages."""
    pretrained = checkpoint is not None
    body = getattr(resnet, name)(weights=None, norm_layer=FrozenBatchNorm2d if pretrained else nn.BatchNorm2d)
    if pretrained:
        _load_backbone_checkpoint(body, Path(checkpoint))
    _freeze_bottom_stages(body, trainable_layers if pretrained else 5)
    stage2_channels = body.inplanes // 8  # layer1's output width: 64 for basic blocks, 256 for bottlenecks
    return BackboneWithFPN(body, return_layers={f"layer{k}": str(i) for i, k in enumerate(returned_layers)},
                           in_channels_list=[stage2_channels * 2 ** (k - 1) for k in returned_layers],
                           out_channels=fpn_channels, extra_blocks=LastLevelMaxPool())


def build_faster_rcnn(hp: Mapping[str, Any]) -> FasterRCNN:
    """Faster R-CNN for the 20 VOC classes from the benchmark's hyperparameters."""
    levels = list(hp["returned_layers"])
    backbone = resnet_fpn(hp["backbone"], hp["fpn_channels"], levels, hp.get("backbone_checkpoint"),
                          hp.get("trainable_backbone_layers", 3))
    sizes = tuple((int(s),) for s in hp["anchor_sizes"])  # one size per pyramid level, incl. the pooled one
    if len(sizes) != len(levels) + 1:
        raise ValueError(f"anchor_sizes needs {len(levels) + 1} entries (pyramid levels + pool), got {len(sizes)}")
    anchors = AnchorGenerator(sizes=sizes, aspect_ratios=(tuple(hp["aspect_ratios"]),) * len(sizes))
    roi_pool = MultiScaleRoIAlign(featmap_names=[str(i) for i in range(len(levels))], output_size=7,
                                  sampling_ratio=2)
    width = hp["representation_size"]
    return FasterRCNN(backbone, num_classes=None, min_size=hp["min_size"], max_size=hp["max_size"],
                      rpn_anchor_generator=anchors, box_roi_pool=roi_pool,
                      box_head=TwoMLPHead(hp["fpn_channels"] * 7 * 7, width),
                      box_predictor=FastRCNNPredictor(width, NUM_CLASSES), **dict(hp.get("detector", {})))
