"""The training and evaluation loop shared by benchmarks that classify with cross-entropy over DataLoaders
(C1 image classification, C8 RGB-D face identification): one place for the epoch order, loss and logits pass."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from aibench.benchmarks.base import Benchmark, Quality


class LoaderClassifier(Benchmark):
    """Expects setup() to set self.model, self.train_loader (drawing its order from self.shuffle_generator) and
    self.eval_loader; subclasses turn the evaluation logits into their metric with _quality()."""

    model: torch.nn.Module
    train_loader: DataLoader
    eval_loader: DataLoader
    shuffle_generator: torch.Generator

    def train_batches(self, epoch: int) -> Iterable[Any]:
        self.shuffle_generator.manual_seed(self.ctx.seed * 1_000_003 + epoch)  # same order on a rerun of epoch
        return self.train_loader

    def train_samples(self) -> int:
        return len(self.train_loader) * self.config.batch_size

    def compute_loss(self, batch: Any) -> tuple[torch.Tensor, int]:
        inputs, labels = (t.to(self.device, non_blocking=True) for t in batch)
        return F.cross_entropy(self.model(inputs), labels), len(labels)

    @torch.no_grad()
    def evaluate(self) -> Quality:
        logits, labels = [], []
        for inputs, batch_labels in self.eval_loader:
            logits.append(self.model(inputs.to(self.device, non_blocking=True)))
            labels.append(batch_labels.to(self.device))
        return self._quality(torch.cat(logits), torch.cat(labels))

    def _quality(self, logits: torch.Tensor, labels: torch.Tensor) -> Quality:
        raise NotImplementedError
