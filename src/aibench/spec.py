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
class SmokeConfig:
    """How `aibench run --scale small|full --smoke` proves a configuration: the scale's real model, optimizer and
    schedule for a few optimizer steps at a small batch, one evaluation on a few samples and a short LoadGen pass.

    `synth` holds the sizes `aibench data synth --scale small|full` writes: a small set shaped like the real one
    (every class folder, the full vocabulary, ...), so the real output layers are built. They are merged into the
    scale's hparams for `synthesize()`, which reads them under the same keys as tiny's synth_* settings.
    `hparams` overrides the scale's hyperparameters in a smoke run only; keep it empty unless a size that does not
    change the model (a data-loader worker count, a beam width) would make the smoke run slow.
    """

    batch_size: int = 2
    steps: int = 2  # optimizer steps
    eval_samples: int = 8  # at most this many evaluation samples (RunContext.eval_limit)
    queries: int = 8  # inference samples LoadGen draws from, and its minimum query count
    synth: dict[str, Any] = field(default_factory=dict)
    hparams: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelSize:
    """The full-scale model's size, as static numbers so listing needs no torch; a test keeps them true."""

    params: int  # learnable parameters (all roles, shared modules once)
    flops_per_sample: float | None  # inference forward FLOPs per sample (FlopCounterMode), None if not yet measured
    source: str  # the reference implementation / paper the architecture and its count come from
    note: str = ""  # where the count departs from the paper's envelope or the reference, and why


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
    # the benchmark trained without the paper's key part (`BenchmarkSpec.control`, `aibench run --controls`): its
    # quality measured at this scale, the median over seeds 0, 1, 2 of the control's best evaluation (the command,
    # seeds and every value in `control_source`), and the margin the method must beat it by on every seed (a test
    # runs both and asserts it); no margin (None) where none held
    control: float | None = None
    control_margin: float | None = None
    control_source: str = ""
    time_budget_s: float | None = None  # wall-clock cap on the timed training region
    eval_every: int = 1  # epochs between evaluations
    warmup_steps: int = 2  # steps excluded from throughput
    inference_samples: int = 64  # samples LoadGen draws from
    hparams: dict[str, Any] = field(default_factory=dict)
    shrink: str = ""  # how this scale departs from the reference sizes (tiny only)
    # pretrained starting point the reference uses at this scale, as "what file `--pretrained CN=PATH` must name;
    # how to get it" ("" = trains from scratch). A real run without it refuses to start, quoting it whole; --smoke
    # warns with the part before the ";".
    pretrained: str = ""
    smoke: SmokeConfig = field(default_factory=SmokeConfig)


@dataclass(frozen=True)
class BenchmarkSpec:
    card: PaperCard
    scales: dict[str, ScaleConfig]
    data_layout: str  # the on-disk layout the reader expects, for error messages and docs
    default_data_subdir: str = ""
    full_size: ModelSize | None = None
    # where the paper's words leave a choice (which MovieLens, the units of a target), what we chose and why
    choices: dict[str, str] = field(default_factory=dict)
    # LoadGen Server scenario: the p99 latency bound per scale, in ms (MLPerf Inference's bound where MLPerf has
    # one for this kind of model; otherwise derived), and where each number comes from
    server_latency_ms: dict[str, float] = field(default_factory=dict)
    server_latency_basis: str = ""
    # the ablation `aibench run --controls` trains beside the method: what it removes from the paper's method (the
    # benchmark reads `ctx.control` and builds that variant); "" when none, with `no_control` saying why
    control: str = ""
    no_control: str = "no natural ablation of its method is defined"

    def scale(self, name: str) -> ScaleConfig:
        from aibench.errors import UserError

        if name not in self.scales:
            raise UserError(f"{self.card.id} has no scale {name!r}; choose one of {', '.join(self.scales)}")
        return self.scales[name]

    def server_bound_ms(self, scale: str) -> float | None:
        return self.server_latency_ms.get(scale)

    def meets_target(self, quality: float, target: float) -> bool:
        return quality >= target if self.card.higher_is_better else quality <= target
