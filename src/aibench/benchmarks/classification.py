"""The training, evaluation and serving shared by benchmarks that classify with cross-entropy over DataLoaders
(C1 image classification, C8 RGB-D face identification): one place for the epoch order, loss, logits pass and the
LoadGen query samples."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from aibench.benchmarks.base import Benchmark, Quality


class LoaderClassifier(Benchmark):
    """Expects setup() to set self.model, self.train_set and self.eval_set ((input, label) datasets),
    self.train_loader (drawing its order from self.shuffle_generator) and self.eval_loader, then call
    self.draw_queries(); subclasses turn logits into their metric with _quality() and name a held-out sample's
    label without decoding it with _eval_label()."""

    model: torch.nn.Module
    train_set: Dataset
    eval_set: Dataset
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

    def _eval_label(self, index: int) -> int:
        raise NotImplementedError

    # ----- inference --------------------------------------------------------------------------------
    def draw_queries(self) -> None:
        """A seeded random draw of held-out samples, so every class can appear among the LoadGen queries."""
        generator = torch.Generator().manual_seed(self.ctx.seed)
        order = torch.randperm(len(self.eval_set), generator=generator).tolist()
        self._query_order = order  # query i is held-out sample order[i]: the inference samples come first
        self._inference_indices = [order[i % len(order)] for i in range(self.config.inference_samples)]
        self._inference_samples: list[torch.Tensor] | None = None

    def inference_samples(self) -> Sequence[torch.Tensor]:
        """Preprocessed held-out inputs, decoded once, as LoadGen's sample library holds them."""
        if self._inference_samples is None:
            self._inference_samples = [self.eval_set[i][0] for i in self._inference_indices]
        return self._inference_samples

    def query_count(self) -> int:
        """The whole held-out split, decoded a sample at a time when LoadGen loads it."""
        return len(self._query_order)

    def load_query(self, index: int) -> torch.Tensor:
        return self.eval_set[self._query_order[index]][0]

    # the served answer: the K best classes, best first. MLPerf's ResNet serves the argmax alone; K = 5 keeps top-5
    # scorable, and an ImageNet accuracy pass logs 5 class ids an image (a few MB for 50,000) instead of 1,000 logits
    SERVED_TOP_K = 5
    EXTRA_TOP_K: tuple[int, ...] = (5,)  # the accuracy pass's extra metrics (top5 where there are 5 classes or more)

    @torch.no_grad()
    def infer(self, samples: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The SERVED_TOP_K best class ids of each sample (int32, best first), on the CPU."""
        logits = self.model(torch.stack(list(samples)).to(self.device))
        ranked = logits.float().topk(min(self.SERVED_TOP_K, logits.shape[1]), dim=1).indices
        return list(ranked.to(torch.int32).cpu())

    def score(self, indices: Sequence[int], outputs: Sequence[torch.Tensor]) -> Quality:
        """Top-1 accuracy of the served class ids (and top-k for each k in EXTRA_TOP_K the answer holds)."""
        labels = torch.tensor([self._eval_label(self._query_order[i]) for i in indices])
        hits = torch.stack(list(outputs)).long() == labels[:, None]
        extra = {f"top{k}": float(hits[:, :k].any(1).float().mean()) for k in self.EXTRA_TOP_K if k <= hits.shape[1]}
        return Quality(value=float(hits[:, 0].float().mean()), extra=extra, samples=len(labels))

    # ----- characterization -------------------------------------------------------------------------
    def example_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        items = [self.train_set[i] for i in range(self.example_samples())]
        return torch.stack([inputs for inputs, _ in items]), torch.tensor([label for _, label in items])

    def example_samples(self) -> int:
        return min(self.config.batch_size, len(self.train_set))
