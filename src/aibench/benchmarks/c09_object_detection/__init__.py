"""DC-AI-C9 object detection: Faster R-CNN (ResNet-50 FPN) on PASCAL VOC2007, VOC2007 mAP@0.5.

The spec only: importing this package loads no torch.
"""

from __future__ import annotations

from aibench.datasets.voc import LAYOUT
from aibench.registry import card
from aibench.spec import BenchmarkSpec, ModelSize, ScaleConfig, SmokeConfig

# Faster R-CNN with torchvision's ResNet-50 FPN (`fasterrcnn_resnet50_fpn`) for the 20 VOC classes + background.
# The paper's 75% mAP (its code: jwyang/faster-rcnn.pytorch) starts from an ImageNet-trained ResNet, as every
# Faster R-CNN reference does: small/full need `--pretrained C9=PATH` (from scratch, 20 epochs of VOC07 will not
# get there). With it the backbone is built as torchvision's reference builds a pretrained one: FrozenBatchNorm2d
# and trainable_backbone_layers=3 (conv1 and layer1 stay frozen). small's 0.5 is our estimate for 2,000 trainval
# images, not a measured value.
REFERENCE_MODEL = {
    "backbone": "resnet50", "base_width": 64, "fpn_channels": 256, "returned_layers": [1, 2, 3, 4],
    "anchor_sizes": [32, 64, 128, 256, 512], "aspect_ratios": [0.5, 1.0, 2.0], "representation_size": 1024,
    # the Faster R-CNN paper's and its VOC code's (py-faster-rcnn, jwyang/faster-rcnn.pytorch) scale; torchvision's
    # COCO reference resizes to 800/1333 (1.8x the pixels of a 500x375 VOC image at 600x800)
    "min_size": 600, "max_size": 1000,
    "detector": {},  # torchvision's defaults: RPN 2000/1000 proposals, 256 anchors and 512 RoIs per image
    "trainable_backbone_layers": 3,  # torchvision's default with ImageNet weights: conv1 and layer1 stay frozen
}
# shown in full in a smoke run's warning and in `aibench list --json`
PRETRAINED = ("ImageNet-trained ResNet-50 weights (torchvision's resnet50 IMAGENET1K_V1, resnet50-0676ba61.pth, or a "
              "C1 full checkpoint of this suite); get torchvision's file from https://download.pytorch.org/models/")
# `aibench data synth C9 --scale small|full`: a VOC2007 folder of VOC-sized (500x375) images with objects of all 20
# classes; `aibench run --smoke`: one step of one image, 2 test images, 1 query (600x800 inputs on a CPU)
_SMOKE = SmokeConfig(batch_size=1, steps=1, eval_samples=2, queries=1,
                     synth={"synth_trainval": 10, "synth_test": 4, "synth_image_size": [500, 375],
                            "synth_object_px": [60, 200], "synth_classes": "voc"},
                     hparams={"workers": 0})

# torchvision's detection reference recipe (SGD, momentum 0.9, weight decay 1e-4, 0.02 for 16 images, linear
# warm-up, x0.1 steps), at 8 images per step on one GPU, hence lr 0.01 by the linear scaling rule. VOC07
# trainval is 5,011 images, a third of the VOC07+12 set that mmdetection's 12-epoch VOC schedule uses, so
# we train 20 epochs and decay at 14 and 18. Horizontal flips, as in all reference implementations.
REFERENCE_TRAINING = {
    "optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4,
    "warmup_iters": 500, "warmup_factor": 0.001, "lr_gamma": 0.1, "hflip": True,
    "train_split": "trainval", "test_split": "test", "workers": 4, "eval_batch_size": 8,
}

SPEC = BenchmarkSpec(
    server_latency_ms={"tiny": 500, "small": 100, "full": 100},
    server_latency_basis=("small/full: MLPerf Inference's Server bound for object detection (SSD-ResNet34 / RetinaNet, 100 ms); tiny: derived, about 10x the tiny Faster R-CNN's latency on 2 cores (45 ms loaded)"),
    card=card("C9"),
    no_control="every part of Faster R-CNN (backbone, region proposals, box head) is needed to output boxes at all; the paper's comparison, Selective Search proposals, is another method, not an ablation",
    data_layout=LAYOUT,
    scales={
        "tiny": ScaleConfig(
            target=0.7, max_epochs=16, batch_size=4, baseline=0.0,
            baseline_kind="mean box per class (every test image gets each class's mean training box)",
            time_budget_s=170, eval_every=1, inference_samples=32,
            shrink=("synthetic VOC2007 layout: 128x128 images, 3 classes (car, pottedplant, boat as coloured "
                    "shapes on grey clutter), 96 trainval / 48 test images; ResNet-50 (all 50 layers) at a quarter "
                    "of the width (C1's tiny body) from scratch with batch norm, zero-initialised residual norms, "
                    "64 pyramid channels over layer2-4, anchors 16-128 px, a 256-wide box head, "
                    "fewer proposals and RoIs, min/max size 128; AdamW lr 1e-3, batch 4"),
            hparams={
                "backbone": "resnet50", "base_width": 16, "zero_init_residual": True, "fpn_channels": 64,
                "returned_layers": [2, 3, 4],
                "anchor_sizes": [16, 32, 64, 128], "aspect_ratios": [0.5, 1.0, 2.0], "representation_size": 256,
                "min_size": 128, "max_size": 128,
                "detector": {"rpn_pre_nms_top_n_train": 300, "rpn_post_nms_top_n_train": 150,
                             "rpn_pre_nms_top_n_test": 150, "rpn_post_nms_top_n_test": 100,
                             "rpn_batch_size_per_image": 128, "box_batch_size_per_image": 64,
                             "box_detections_per_img": 30},
                "optimizer": "adamw", "lr": 1e-3, "momentum": 0.9, "weight_decay": 1e-4,
                "warmup_iters": 20, "warmup_factor": 0.01, "lr_gamma": 0.1, "lr_steps": [12], "hflip": True,
                "train_split": "trainval", "test_split": "test", "workers": 0, "eval_batch_size": 16,
                "synth_trainval": 96, "synth_test": 48, "synth_image_size": 128, "synth_object_px": [18, 44],
            }),
        "small": ScaleConfig(
            target=0.5, max_epochs=12, batch_size=8, eval_every=1, inference_samples=256,
            hparams={**REFERENCE_MODEL, **REFERENCE_TRAINING, "lr_steps": [8, 11],
                     "train_images": 2000, "eval_images": 1000},
            pretrained=PRETRAINED, smoke=_SMOKE),
        "full": ScaleConfig(
            target=0.75, max_epochs=20, batch_size=8, eval_every=1, inference_samples=256,
            hparams={**REFERENCE_MODEL, **REFERENCE_TRAINING, "lr_steps": [14, 18]},
            pretrained=PRETRAINED, smoke=_SMOKE),
    },
    full_size=ModelSize(
        params=41_174_136, flops_per_sample=2.104e11,
        source="torchvision fasterrcnn_resnet50_fpn at 21 classes (VOC's 20 + background) with an ImageNet backbone "
               "(FrozenBatchNorm2d, trainable_backbone_layers=3): 41,396,536 parameters (its documented 41,755,286 "
               "at COCO's 91 classes less 350 x 1,025 predictor weights: 70 class scores and 280 box outputs), of which "
               "41,174,136 learn (conv1 and layer1, 222,400, stay frozen)",
        note="FLOPs are FlopCounterMode's (2 per multiply-add) for a 500x375 VOC image at 600x800: 105.2 G "
             "multiply-adds, inside the paper's 157,802 M, which counts OpCounter's multiply-adds (ResNet-50: 4.1 G)"),
    choices={"input scale": "shorter side 600, longer at most 1000 (the Faster R-CNN paper's VOC setting and its "
                            "VOC code's), not torchvision's COCO 800/1333, which has 1.8x the pixels",
             "classes": "21 outputs: VOC's 20 classes + background, as torchvision's detection models count them"},
)
