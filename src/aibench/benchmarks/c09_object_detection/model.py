"""Faster R-CNN (Ren et al. 2015) with a ResNet feature pyramid, built from torchvision's detection parts.

With the reference hyperparameters (ResNet-50, 256 FPN channels, pyramid levels from layer1-4, anchors 32-512,
a 1024-wide two-layer box head) this is exactly torchvision's `fasterrcnn_resnet50_fpn` for the 20 VOC classes
plus background. The ResNet-50 body is C1's builder (torchvision's parameter names), so torchvision's ImageNet
weights and a C1 checkpoint of this suite both load into it (`load_backbone`). Where the scale fine-tunes from
ImageNet weights (`fine_tune`), the backbone is built as torchvision builds a pretrained one: frozen batch norms,
and only the top `trainable_backbone_layers` stages learn. The tiny scale trains a narrowed ResNet-50 from scratch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn
from torchvision.models import resnet
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.ops import FrozenBatchNorm2d, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from aibench.benchmarks.c01_image_classification.model import REFERENCE_WIDTH, resnet50
from aibench.datasets.voc import VOC_CLASSES
from aibench.harness.pretrained import load_matching

NUM_CLASSES = len(VOC_CLASSES) + 1  # + background: 21, as torchvision's VOC detection recipes count them
_STAGES_TOP_DOWN = ("layer4", "layer3", "layer2", "layer1", "conv1")


def _freeze_bottom_stages(body: nn.Module, trainable_layers: int) -> None:
    """Keep only the top `trainable_layers` stages learning (all five: conv1 and its norm too)."""
    train = list(_STAGES_TOP_DOWN[:trainable_layers]) + (["bn1"] if trainable_layers == 5 else [])
    for name, parameter in body.named_parameters():
        if not any(name.startswith(stage) for stage in train):
            parameter.requires_grad_(False)


def resnet_body(name: str, base_width: int = REFERENCE_WIDTH, frozen_norm: bool = False,
                zero_init_residual: bool = False) -> resnet.ResNet:
    """A randomly initialised torchvision ResNet; ResNet-50 may be narrowed (C1's base_width)."""
    norm = FrozenBatchNorm2d if frozen_norm else nn.BatchNorm2d
    if name == "resnet50":
        return resnet50(1000, base_width, zero_init_residual, norm_layer=norm)
    if base_width != REFERENCE_WIDTH:
        raise ValueError(f"only resnet50 can be narrowed (base_width {base_width}), not {name}")
    return getattr(resnet, name)(weights=None, norm_layer=norm)


def resnet_fpn(hp: Mapping[str, Any], fine_tune: bool) -> BackboneWithFPN:
    """The ResNet under a feature pyramid over the stages in `returned_layers`."""
    body = resnet_body(hp["backbone"], hp.get("base_width", REFERENCE_WIDTH), frozen_norm=fine_tune,
                       zero_init_residual=hp.get("zero_init_residual", False))
    _freeze_bottom_stages(body, hp.get("trainable_backbone_layers", 3) if fine_tune else 5)
    levels = list(hp["returned_layers"])
    stage2_channels = body.inplanes // 8  # layer1's output width: 64 for basic blocks, 4 x base_width for bottlenecks
    return BackboneWithFPN(body, return_layers={f"layer{k}": str(i) for i, k in enumerate(levels)},
                           in_channels_list=[stage2_channels * 2 ** (k - 1) for k in levels],
                           out_channels=hp["fpn_channels"], extra_blocks=LastLevelMaxPool())


def load_backbone(model: FasterRCNN, state: Mapping[str, Any], path: Path | str) -> list[str]:
    """Load ImageNet classifier weights (torchvision's resnet50 file or a C1 checkpoint) into the backbone's
    ResNet body, skipping the classifier head; a file of another architecture is a one-line DataError.
    Returns the body tensors the file did not provide."""
    return load_matching(model.backbone.body, dict(state), path, skip_prefixes=("fc.",))


def build_faster_rcnn(hp: Mapping[str, Any], fine_tune: bool = False) -> FasterRCNN:
    """Faster R-CNN for the 20 VOC classes from the benchmark's hyperparameters; `fine_tune` builds the backbone
    for ImageNet weights (frozen batch norms and bottom stages), as the scales that start from them need."""
    levels = list(hp["returned_layers"])
    backbone = resnet_fpn(hp, fine_tune)
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
