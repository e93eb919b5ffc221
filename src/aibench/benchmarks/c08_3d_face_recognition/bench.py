"""DC-AI-C8 3D face recognition: RGB-D ResNet-50 trained with cross-entropy and SGD, scored by identification
accuracy on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchmetrics.classification import MulticlassAccuracy

from aibench.benchmarks.base import Quality
from aibench.benchmarks.classification import LoaderClassifier
from aibench.benchmarks.c01_image_classification.bench import step_decay_factor
from aibench.benchmarks.c08_3d_face_recognition import SPEC
from aibench.benchmarks.c08_3d_face_recognition.data import (
    RGBDFaceDataset,
    rgbd_transform,
    synthesize_rgbd_faces,
)
from aibench.benchmarks.c08_3d_face_recognition.model import rgbd_resnet50
from aibench.datasets.rgbd_faces import RGBDSplit, load_pair, read_splits
from aibench.spec import ScaleConfig


def _read(data_dir: Path, hparams: dict[str, Any]) -> dict[str, RGBDSplit]:
    return read_splits(data_dir, hparams["num_identities"])


def identification_accuracy(logits: torch.Tensor, labels: torch.Tensor, num_identities: int) -> float:
    """Fraction of samples whose highest-scoring identity is the true one."""
    metric = MulticlassAccuracy(num_classes=num_identities, top_k=1, average="micro").to(logits.device)
    return float(metric(logits, labels))


def _loader(dataset: RGBDFaceDataset, batch_size: int, num_workers: int, shuffle: bool,
            generator: torch.Generator | None = None, pin_memory: bool = False) -> DataLoader:
    """Drops the last partial training batch: BatchNorm is unstable on a batch of one or two."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, drop_last=shuffle,
                      generator=generator, pin_memory=pin_memory, persistent_workers=num_workers > 0)


class FaceRecognition3D(LoaderClassifier):
    SPEC = SPEC
    EXTRA_TOP_K = ()  # identification accuracy is top-1 alone

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        hp = config.hparams
        synthesize_rgbd_faces(Path(data_dir), hp["num_identities"], hp["synth_train_per_identity"],
                              hp["synth_test_per_identity"], hp["synth_size"], seed, hp.get("synth_complexions"))

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        """List both splits (pairing every file) and decode the first pair of every identity (decoding all
        77,715 pairs would take minutes; a later bad pair is reported by name when training reaches it)."""
        splits = _read(Path(data_dir), config.hparams)
        for split in splits.values():
            for sample in {s.label: s for s in reversed(split.samples)}.values():
                load_pair(sample)
        train, test = splits["train"], splits["test"]
        return {"identities": len(train.identities), "train_samples": len(train), "test_samples": len(test)}

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        """The RGB-D ResNet-50 with one logit per identity the scale reads (the paper's 253 at full)."""
        hp = config.hparams
        return {"model": rgbd_resnet50(hp["num_identities"], hp["base_width"], hp["zero_init_residual"])}

    # ----- training ---------------------------------------------------------------------------------
    def initialize(self) -> None:
        hp, batch_size = self.hp, self.config.batch_size
        splits = _read(self.ctx.data_dir, hp)
        self.num_identities = len(splits["train"].identities)
        crop_scale = tuple(hp["crop_scale"])
        zero_depth = self.ctx.control  # the control: the same network with its depth channel zeroed
        self.train_set = RGBDFaceDataset(splits["train"].samples, rgbd_transform(hp["image_size"], True, crop_scale),
                                         zero_depth)
        self.eval_set = RGBDFaceDataset(tuple(self.limit_eval(splits["test"].samples)),
                                        rgbd_transform(hp["image_size"], False, crop_scale), zero_depth)
        self.shuffle_generator = torch.Generator()
        pin = self.device.type == "cuda"
        self.train_loader = _loader(self.train_set, batch_size, hp["num_workers"], True, self.shuffle_generator, pin)
        self.eval_loader = _loader(self.eval_set, hp.get("eval_batch_size", batch_size), hp["num_workers"], False,
                                   pin_memory=pin)
        self.model = self.reference_models(self.config)["model"].to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=hp["lr"], momentum=hp["momentum"],
                                         weight_decay=hp["weight_decay"])
        steps_per_epoch = max(1, len(self.train_loader))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: step_decay_factor(
            step, steps_per_epoch, hp["lr_milestones"], hp["lr_gamma"], hp["warmup_epochs"]))
        self.draw_queries()

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def _quality(self, logits: torch.Tensor, labels: torch.Tensor) -> Quality:
        return Quality(value=identification_accuracy(logits, labels, self.num_identities), samples=len(labels))

    def _eval_label(self, index: int) -> int:
        return self.eval_set.samples[index].label

    def describe(self) -> dict[str, Any]:
        return {"identities": self.num_identities, "train_samples": len(self.train_set),
                "test_samples": len(self.eval_set)}


BENCHMARK = FaceRecognition3D
