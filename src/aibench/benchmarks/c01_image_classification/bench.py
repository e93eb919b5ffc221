"""DC-AI-C1 image classification: ResNet-50 trained with SGD on ImageNet's folder layout, scored by top-1."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from aibench.benchmarks.base import Quality
from aibench.benchmarks.classification import LoaderClassifier
from aibench.benchmarks.c01_image_classification import SPEC
from aibench.benchmarks.c01_image_classification.data import (
    eval_transform,
    make_loader,
    synthesize_imagenet,
    train_transform,
)
from aibench.benchmarks.c01_image_classification.model import resnet50
from aibench.datasets.imagefolder import (
    WNID_PATTERN,
    ImageFolderDataset,
    ImageFolderSplit,
    read_splits,
    verify_images,
)
from aibench.spec import ScaleConfig


def _read(data_dir: Path, hparams: dict[str, Any]) -> dict[str, ImageFolderSplit]:
    return read_splits(data_dir, ("train", "val"), class_pattern=WNID_PATTERN, num_classes=hparams["num_classes"])


def step_decay_factor(step: int, steps_per_epoch: int, milestones: Sequence[int], gamma: float,
                      warmup_epochs: float) -> float:
    """Learning-rate multiplier at an optimizer step: linear warm-up, then /(1/gamma) at each milestone epoch."""
    epoch = step / steps_per_epoch
    if epoch < warmup_epochs:
        return (step + 1) / (warmup_epochs * steps_per_epoch)
    return gamma ** sum(epoch >= m for m in milestones)


def build_model(hp: dict[str, Any], residual: bool) -> nn.Module:
    """ResNet-50 at the scale's width and classes; residual=False is the benchmark's control, the plain net."""
    return resnet50(hp["num_classes"], hp.get("base_width", 64), hp.get("zero_init_residual", False),
                    residual=residual)


def top_k_accuracy(logits: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Top-1 (and top-5 where there are at least 5 classes) accuracy, micro-averaged over samples."""
    result = {}
    for k in (1, 5) if num_classes >= 5 else (1,):
        metric = MulticlassAccuracy(num_classes=num_classes, top_k=k, average="micro").to(logits.device)
        result[f"top{k}"] = float(metric(logits, labels))
    return result


class ImageClassification(LoaderClassifier):
    SPEC = SPEC
    # data-parallel: the harness splits each (images, labels) batch; BatchNorm keeps per-rank statistics
    DATA_PARALLEL_UNSUPPORTED = None

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        hp = config.hparams
        synthesize_imagenet(Path(data_dir), hp["num_classes"], hp["synth_train_per_class"],
                            hp["synth_val_per_class"], tuple(hp["synth_size_range"]), seed)

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        """List both splits and decode the first image of every class (a full decode of ImageNet would take
        minutes; any other bad image is reported by name when training reaches it)."""
        splits = _read(Path(data_dir), config.hparams)
        for split in splits.values():
            first_of_class = {label: path for path, label in reversed(split.samples)}
            verify_images(list(first_of_class.values()))
        train, val = splits["train"], splits["val"]
        return {"classes": len(train.classes), "train_images": len(train), "val_images": len(val)}

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        """ResNet-50 with one logit per class the scale reads (ImageNet's 1,000 at full)."""
        return {"model": build_model(config.hparams, residual=True)}

    # ----- training ---------------------------------------------------------------------------------
    def initialize(self) -> None:
        hp = self.hp
        splits = _read(self.ctx.data_dir, hp)
        self.num_classes = len(splits["train"].classes)
        self.train_set = ImageFolderDataset(splits["train"].samples,
                                            train_transform(hp["image_size"], tuple(hp["crop_scale"])))
        self.eval_set = ImageFolderDataset(self.limit_eval(splits["val"].samples),
                                           eval_transform(hp["resize_size"], hp["image_size"]))
        self.shuffle_generator = torch.Generator()
        pin = self.device.type == "cuda"
        self.train_loader = make_loader(self.train_set, self.config.batch_size, hp["num_workers"], shuffle=True,
                                        generator=self.shuffle_generator, pin_memory=pin)
        self.eval_loader = make_loader(self.eval_set, hp.get("eval_batch_size", self.config.batch_size),
                                      hp["num_workers"], shuffle=False, pin_memory=pin)
        # the control (`--controls`): the plain net of the same depth, without residual connections
        self.model = build_model(hp, residual=not self.ctx.control).to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=hp["lr"], momentum=hp["momentum"],
                                         weight_decay=hp["weight_decay"])
        steps_per_epoch = max(1, len(self.train_loader))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: step_decay_factor(
            step, steps_per_epoch, hp["lr_milestones"], hp["lr_gamma"], hp.get("warmup_epochs", 0)))
        self.draw_queries()

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def _quality(self, logits: torch.Tensor, labels: torch.Tensor) -> Quality:
        accuracy = top_k_accuracy(logits, labels, self.num_classes)
        return Quality(value=accuracy.pop("top1"), extra=accuracy, samples=len(labels))

    def _eval_label(self, index: int) -> int:
        return self.eval_set.samples[index][1]

    def describe(self) -> dict[str, Any]:
        return {"classes": self.num_classes, "train_images": len(self.train_set), "val_images": len(self.eval_set)}


BENCHMARK = ImageClassification
