"""DC-AI-C9 object detection: Faster R-CNN on PASCAL VOC2007, scored by VOC2007 mAP@0.5."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aibench.benchmarks.base import Benchmark, Quality, StepOutput
from aibench.benchmarks.c09_object_detection import SPEC
from aibench.benchmarks.c09_object_detection.data import (
    Batch, Target, VocDetection, class_names, eval_loader, make_target, synthesize_voc, train_loader)
from aibench.benchmarks.c09_object_detection.model import build_faster_rcnn, load_backbone
from aibench.datasets.voc import find_voc_root, read_split
from aibench.datasets.voc_eval import coco_map50, voc07_map
from aibench.spec import ScaleConfig


def _read_splits(data_dir: Path, hp: dict[str, Any], eval_limit: int | None = None) -> tuple[Path, list, list]:
    """The VOC root and the (optionally truncated) train and test annotations."""
    root = find_voc_root(data_dir)
    train = read_split(root, hp["train_split"])[: hp.get("train_images")]
    test = read_split(root, hp["test_split"])[: hp.get("eval_images")][:eval_limit]
    return root, train, test


class ObjectDetection(Benchmark):
    SPEC = SPEC
    DATA_PARALLEL_UNSUPPORTED = (
        "Faster R-CNN's batches are lists of images of different sizes; they need a split by image "
        "(SHARDS_ITSELF) and its region sampling checked per rank, not done yet")

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        hp = config.hparams
        synthesize_voc(Path(data_dir) / "VOC2007", trainval=hp["synth_trainval"], test=hp["synth_test"],
                       size=hp["synth_image_size"], object_px=tuple(hp["synth_object_px"]), seed=seed,
                       all_classes=hp.get("synth_classes") == "voc")

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        root, train, test = _read_splits(Path(data_dir), config.hparams)
        return {"root": str(root), "train_images": len(train), "test_images": len(test),
                "train_objects": sum(len(a.objects) for a in train),
                "test_objects": sum(len(a.objects) for a in test)}

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        """The detector for VOC's 20 classes + background, built as the scale's run builds it (for ImageNet
        weights where the scale starts from them)."""
        return {"model": build_faster_rcnn(config.hparams, fine_tune=bool(config.pretrained))}

    # ----- training ---------------------------------------------------------------------------------
    def initialize(self) -> None:
        # the annotation XMLs are the split's index (image ids, boxes, classes), parsed here like a manifest;
        # the JPEGs are decoded by the loaders inside the timed loop, so prepare_data() has nothing to do
        root, train, test = _read_splits(self.ctx.data_dir, self.hp, self.ctx.eval_limit)
        self.train_set = VocDetection(root, train, train=True)
        self.test_set = VocDetection(root, test, train=False)
        self.model = build_faster_rcnn(self.hp, fine_tune=bool(self.config.pretrained))
        state, path = self.pretrained_state(), self.ctx.pretrained
        if state is not None and path is not None:
            if missing := load_backbone(self.model, state, path):
                self.warn(f"{path.name} lacks {len(missing)} backbone tensors "
                          f"(e.g. {missing[0]}): those start random")
        self.model.to(self.device)
        self.optimizer = self._optimizer()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self._samples: list[torch.Tensor] | None = None

    def _optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        if self.hp["optimizer"] == "sgd":
            return torch.optim.SGD(params, lr=self.hp["lr"], momentum=self.hp["momentum"],
                                   weight_decay=self.hp["weight_decay"])
        # the fused kernel is several times faster than the per-tensor loop on a CPU, and exists on GPUs too
        return torch.optim.AdamW(params, lr=self.hp["lr"], weight_decay=self.hp["weight_decay"], fused=True)

    def _lr_factor(self, step: int) -> float:
        """Linear warm-up over the first iterations (as torchvision's detection reference), then step decay
        by `lr_gamma` at each epoch in `lr_steps`."""
        warmup = self.hp["warmup_iters"]
        factor = 1.0
        if step < warmup:
            alpha = step / warmup
            factor = self.hp["warmup_factor"] * (1 - alpha) + alpha
        epoch = step // self._steps_per_epoch()
        return factor * self.hp["lr_gamma"] ** sum(epoch >= m for m in self.hp["lr_steps"])

    def _steps_per_epoch(self) -> int:
        return max(1, math.ceil(len(self.train_set) / self.config.batch_size))

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def train_samples(self) -> int:
        return len(self.train_set)

    def train_batches(self, epoch: int) -> Iterable[Batch]:
        return train_loader(self.train_set, self.config.batch_size, epoch_seed=self.ctx.seed * 100_003 + epoch,
                            flip=self.hp["hflip"], workers=self.hp["workers"])

    def _loss_parts(self, batch: Batch) -> dict[str, torch.Tensor]:
        images, targets = batch
        images = [image.to(self.device, non_blocking=True) for image in images]
        targets = [{"boxes": t["boxes"].to(self.device), "labels": t["labels"].to(self.device)} for t in targets]
        return self.model(images, targets)

    def compute_loss(self, batch: Batch) -> tuple[torch.Tensor, int]:
        return sum(self._loss_parts(batch).values()), len(batch[0])

    def train_step(self, batch: Batch) -> StepOutput:
        self.optimizer.zero_grad(set_to_none=True)
        parts = self._loss_parts(batch)
        loss = sum(parts.values())
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return StepOutput(loss=float(loss.detach()), samples=len(batch[0]),
                          losses={name: float(value.detach()) for name, value in parts.items()})

    # ----- evaluation and inference -----------------------------------------------------------------
    @torch.no_grad()
    def _detect(self, images: Sequence[torch.Tensor]) -> list[Target]:
        """Detections (boxes, scores, labels) per image, on the CPU; the model runs in eval mode."""
        was_training = self.model.training
        self.model.eval()
        outputs = self.model([image.to(self.device, non_blocking=True) for image in images])
        self.model.train(was_training)
        return [{k: out[k].cpu() for k in ("boxes", "scores", "labels")} for out in outputs]

    def _quality(self, detections: Sequence[Target], ground_truths: Sequence[Target]) -> Quality:
        voc = voc07_map(detections, ground_truths)
        extra = {"coco_map50": coco_map50(detections, ground_truths)}
        extra.update({f"ap50_{name}": ap for name, ap in zip(class_names(list(voc.ap)), voc.ap.values())})
        return Quality(value=voc.map, extra=extra, samples=len(detections))

    def evaluate(self) -> Quality:
        detections: list[Target] = []
        ground_truths: list[Target] = []
        for images, targets in eval_loader(self.test_set, self.hp["eval_batch_size"], self.hp["workers"]):
            detections += self._detect(images)
            ground_truths += targets
        return self._quality(detections, ground_truths)

    def inference_samples(self) -> Sequence[torch.Tensor]:
        """The first test images, decoded on first use: training never reads them, so neither the untimed
        initialization nor the timed data preparation does; inference asks before LoadGen's clock starts."""
        if self._samples is None:
            count = min(self.config.inference_samples, len(self.test_set))
            self._samples = [self.test_set[(i, False)][0] for i in range(count)]
        return self._samples

    def query_count(self) -> int:
        return len(self.test_set)  # query i is test image i (the inference samples are the first)

    def load_query(self, index: int) -> torch.Tensor:
        return self.test_set[(index, False)][0]  # decoded when LoadGen loads it

    def infer(self, samples: Sequence[torch.Tensor]) -> list[Target]:
        return self._detect(samples)

    def score(self, indices: Sequence[int], outputs: Sequence[Target]) -> Quality:
        annotations = self.test_set.annotations
        return self._quality(outputs, [make_target(annotations[i], keep_difficult=True) for i in indices])

    def example_batch(self) -> Batch:
        return next(iter(train_loader(self.train_set, self.config.batch_size, epoch_seed=self.ctx.seed,
                                      flip=False, workers=0)))


BENCHMARK = ObjectDetection
