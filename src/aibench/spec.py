"""Static description of a benchmark: the paper's card plus per-scale sizes, targets and hyperparameters.

Nothing here imports torch, so listing benchmarks stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCALES = ("tiny", "small", "full")


@dataclass(frozen=True)
class PaperCard:
    """What the AIBench paper says about one component benchmark (Tables 3, 5 and 6)."""

    id: str  # "DC-AI-C1"
    name: str  # "image_classification"
    task: str
    algorithm: str
    dataset: str
    metric: str  # e.g. "top1_accuracy"
    higher_is_better: bool
    paper_target: float | None  # Table 3 (fractions for percentages), None where the paper gives N/A
    paper_target_text: str  # as printed in the paper
    variation_pct: float | None  # Table 5 coefficient of variation of epochs-to-quality
    repeat_times: int | None  # Table 5
    epoch_time_s: float | None  # Table 6, TITAN RTX
    total_time_h: float | None  # Table 6
    in_subset: bool = False
    package: str = ""  # module under aibench.benchmarks: cNN_<name>, present once implemented

    @property
    def alias(self) -> str:
        return self.id.removeprefix("DC-AI-")

    @property
    def number(self) -> int:
        return int(self.alias[1:])


@dataclass(frozen=True)
class ScaleConfig:
    """Sizes, stopping rule and hyperparameters of one benchmark at one scale.

    `target` is the quality that ends a training run with status success; `baseline` is the quality of a
    trivial predictor (chance, popularity, constant) so a reader can see the target is well above it.
    """

    target: float
    max_epochs: int
    batch_size: int
    baseline: float | None = None
    baseline_kind: str = ""
    time_budget_s: float | None = None  # wall-clock cap on the timed training region
    eval_every: int = 1  # epochs between evaluations
    warmup_steps: int = 2  # steps excluded from throughput
    inference_samples: int = 64  # samples LoadGen draws from
    hparams: dict[str, Any] = field(default_factory=dict)
    shrink: str = ""  # how this scale departs from the reference sizes (tiny only)


@dataclass(frozen=True)
class BenchmarkSpec:
    card: PaperCard
    scales: dict[str, ScaleConfig]
    data_layout: str  # the on-disk layout the reader expects, for error messages and docs
    default_data_subdir: str = ""

    def scale(self, name: str) -> ScaleConfig:
        from aibench.errors import UserError

        if name not in self.scales:
            raise UserError(f"{self.card.id} has no scale {name!r}; choose one of {', '.join(self.scales)}")
        return self.scales[name]

    def meets_target(self, quality: float, target: float) -> bool:
        return quality >= target if self.card.higher_is_better else quality <= target
