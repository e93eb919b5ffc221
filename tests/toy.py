"""A small, really-learning benchmark for testing the harness without any real model's cost.

Logistic regression on two Gaussian blobs: it learns in a few steps, so harness tests are fast and can fail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aibench.benchmarks.base import Benchmark, Quality
from aibench.errors import DataError
from aibench.spec import BenchmarkSpec, PaperCard, ScaleConfig

CARD = PaperCard(id="DC-AI-C0", name="toy", task="toy", algorithm="logistic regression", dataset="blobs",
                 metric="accuracy", higher_is_better=True, paper_target=None, paper_target_text="N/A",
                 variation_pct=None, repeat_times=None, epoch_time_s=None, total_time_h=None)


def toy_config(**overrides: Any) -> ScaleConfig:
    base = dict(target=0.95, max_epochs=20, batch_size=32, baseline=0.5, baseline_kind="chance",
                time_budget_s=60, inference_samples=32, hparams={"lr": 0.5})
    base.update(overrides)
    return ScaleConfig(**base)


class ToyBenchmark(Benchmark):
    SPEC = BenchmarkSpec(card=CARD, scales={"tiny": toy_config()}, data_layout="blobs.npz",
                         control="the same logistic regression with its inputs zeroed")

    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, 512)
        x = rng.normal(0, 1, (512, 4)) + (y[:, None] * 2 - 1) * 1.5
        np.savez(data_dir / "blobs.npz", x=x.astype("float32"), y=y)

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        path = data_dir / "blobs.npz"
        if not path.is_file():
            raise DataError(path, "missing: expected the toy blobs file")
        return {"samples": len(np.load(path)["y"])}

    def initialize(self) -> None:
        self.model = nn.Linear(4, 2)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.hp["lr"])

    def prepare_data(self) -> None:
        data = np.load(self.ctx.data_dir / "blobs.npz")
        self.x, self.y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"]).long()

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def train_batches(self, epoch: int):
        bs = self.config.batch_size
        for i in range(0, 256, bs):
            yield self.x[i:i + bs], self.y[i:i + bs]

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x) if self.ctx.control else x

    def compute_loss(self, batch):
        x, y = batch
        return nn.functional.cross_entropy(self.model(self._inputs(x)), y), len(y)

    def train_samples(self) -> int:
        return 256

    def evaluate(self) -> Quality:
        pred = self.model(self._inputs(self.x[256:])).argmax(1)
        return Quality(float((pred == self.y[256:]).float().mean()), {"errors": float((pred != self.y[256:]).sum())},
                       samples=256)

    def inference_samples(self):
        return [self.x[256 + i] for i in range(self.config.inference_samples)]

    def query_count(self) -> int:
        return len(self.x) - 256  # the whole held-out half evaluate() scores; inference samples are its first

    def load_query(self, index: int):
        if not 0 <= index < self.query_count():
            raise IndexError(f"query {index} of {self.query_count()}")
        return self.x[256 + index]

    def infer(self, samples):
        return self.model(torch.stack(list(samples))).argmax(1).tolist()

    def score(self, indices, outputs) -> Quality:
        labels = [int(self.y[256 + i]) for i in indices]
        return Quality(sum(int(o == t) for o, t in zip(outputs, labels)) / len(labels), samples=len(labels))

    def example_batch(self):
        return self.x[:32], self.y[:32]


def make_toy(tmp_path: Path, seed: int = 0, **overrides: Any) -> ToyBenchmark:
    from aibench.benchmarks.base import RunContext

    cfg = toy_config(**overrides)
    ToyBenchmark.synthesize(tmp_path, cfg, seed)
    torch.manual_seed(seed)
    return ToyBenchmark(RunContext("tiny", cfg, tmp_path, torch.device("cpu"), seed))


class SteadyCounter:
    """A fake energy counter drawing `watts` whatever happens (so a run draws nothing above idle)."""

    name = "fake"

    def __init__(self, watts: float) -> None:
        import time

        self.watts, self.t0, self._clock = watts, time.monotonic(), time.monotonic

    def read_joules(self) -> dict[str, float]:
        return {"pkg": self.watts * (self._clock() - self.t0)}

    def wrap_joules(self, domain: str) -> None:
        return None

    def max_watts(self, domain: str) -> None:
        return None
