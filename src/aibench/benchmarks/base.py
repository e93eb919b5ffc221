"""The benchmark contract: what every component benchmark provides to the shared harness.

A benchmark knows its model, data and quality metric and how to take one learning step. It knows nothing
about time, energy, logging, stopping rules or storage: the harness owns those.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from aibench.harness.distributed import World
from aibench.spec import BenchmarkSpec, ScaleConfig


@dataclass
class RunContext:
    """Everything a benchmark instance needs to know about the run it is part of."""

    scale: str
    config: ScaleConfig
    data_dir: Path
    device: torch.device
    seed: int
    smoke: bool = False  # a full-size configuration check (`--smoke`): a few steps, never a result
    eval_limit: int | None = None  # at most this many evaluation samples (set by --smoke); None: the whole split
    pretrained: Path | None = None  # `--pretrained CN=PATH`: a state-dict file to start from
    warnings: list[str] = field(default_factory=list)  # adaptations worth keeping in the record
    cache_dir: Path = Path(".aibench-cache")  # where data-set artefacts (a subword model, a vocabulary) are kept
    artefacts: list[dict[str, Any]] = field(default_factory=list)  # the artefacts this run used, for the record
    precision: str = "fp32"  # `--precision`: fp32, or bf16/fp16 autocast (the harness wraps steps, eval, inference)
    channels_last: bool = False  # `--channels-last`: models with 4-D convolutions converted by the harness
    compile: bool = False  # `--compile`: models compiled in place by the harness
    compute_applied: dict[str, Any] = field(default_factory=dict)  # what of those the harness did, for the record
    world: World = field(default_factory=World)  # this process among the data-parallel training processes
    control: bool = False  # build the benchmark without the paper's key part (its CONTROL), for `--controls`


@dataclass
class StepOutput:
    """Result of one learning step: the loss (for divergence checks and curves) and samples consumed."""

    loss: float
    samples: int
    losses: dict[str, float] = field(default_factory=dict)  # named parts (e.g. generator / critic)


@dataclass
class Quality:
    """A quality measurement in the spec's metric, plus secondary metrics (recall, nDCG, BLEU ...)."""

    value: float
    extra: dict[str, float] = field(default_factory=dict)
    samples: int = 0  # evaluation samples it was computed on
    # whether this measurement may end the run at the target: False while the metric does not yet mean what it
    # says (a WGAN critic's distance estimate before the critic has trained); it still goes into the curve
    counts: bool = True


def selected_rows_first(selected: Iterable[int], total: int) -> list[int]:
    """Every row of a split of `total` rows, the `selected` ones first (in their order, each once), then the rest
    in order: the query order of a benchmark whose inference samples are a selection of its evaluation split, so
    query i is inference sample i for the selection and the accuracy pass still covers every row."""
    first = list(dict.fromkeys(int(r) for r in selected))
    chosen = set(first)
    return first + [r for r in range(total) if r not in chosen]


class Benchmark(ABC):
    """Base class of all component benchmarks.

    Lifecycle, driven by the harness: `initialize()` (untimed: index the data set, load its artefacts, build
    model and optimizer), then after the clock starts `prepare_data()` (timed: decode, encode, normalise), then per epoch `train_batches(epoch)` and `train_step(batch)`, and `evaluate()` at the
    evaluation cadence. Inference uses `query_count()` and `load_query()` (the evaluation split, by default the
    in-memory `inference_samples()`), `infer()` and `score()`.
    """

    SPEC: ClassVar[BenchmarkSpec]
    # an overridden train_step that scales fp16 gradients through backward()/step() says so; otherwise the harness
    # refuses --precision fp16 for it (the default train_step scales them)
    SCALES_GRADIENTS: ClassVar[bool] = False
    # data-parallel training (`--nproc`): None when the harness's default works for this benchmark (each global
    # batch split along its first dimension, the models wrapped in DDP); else why it cannot run on several processes
    DATA_PARALLEL_UNSUPPORTED: ClassVar[str | None] = (
        "its data-parallel training is not tested yet (C1, C10 and C15 are)")
    SHARDS_ITSELF: ClassVar[bool] = False  # its train_batches() already yields this rank's part of each batch
    # why the same seed on one CPU thread would not repeat this benchmark's run exactly (None: it does)
    NONDETERMINISTIC: ClassVar[str | None] = None

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self.hp: dict[str, Any] = dict(ctx.config.hparams)
        self.device = ctx.device

    def warn(self, message: str) -> None:
        """Record an adaptation (fewer classes than the configuration assumes, random instead of pretrained
        weights): it is stored in the run's record and printed."""
        if message not in self.ctx.warnings:
            self.ctx.warnings.append(message)

    def limit_eval(self, items: Sequence[Any]) -> Sequence[Any]:
        """The evaluation items a run scores: all of them, or the first `ctx.eval_limit` in a smoke run."""
        limit = self.ctx.eval_limit
        return items if limit is None else items[:limit]

    def pretrained_state(self) -> dict[str, Any] | None:
        """The state dict named by `--pretrained` for this benchmark, unwrapped; None when none was given.

        Without one at a scale whose reference starts from pretrained weights, the harness has already refused a
        real run; a smoke run starts from random weights and its record says so.
        """
        if self.ctx.pretrained is None:
            return None
        from aibench.harness.pretrained import load_state_file

        return load_state_file(self.ctx.pretrained)

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        """The scale's models built without reading data, with the output sizes the real data set gives
        (its class count, vocabulary, users and items), for the size test and the spec's full_size."""
        raise NotImplementedError(f"{cls.__name__} does not build its reference models without data")

    # ----- data -------------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        """Write a small data set in the real on-disk layout, with structure a model can learn."""

    @classmethod
    @abstractmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        """Validate the layout under data_dir; return a summary (counts). Raise DataError naming the path."""

    # ----- training ---------------------------------------------------------------------------------
    @abstractmethod
    def initialize(self) -> None:
        """Untimed initialization (MLPerf's init phase, capped at 20 minutes): list the data set's files, load or
        build its artefacts (`artefact()`), build the model(s) and optimizer(s). Reading, decoding, encoding or
        fitting anything to the samples themselves belongs in `prepare_data()`, which the clock covers."""

    def prepare_data(self) -> None:
        """Timed data preparation, run right after run_start: decode images into memory, encode a corpus, fit a
        normaliser, build sliding windows. Default: nothing (the loaders read inside the timed loop)."""

    def setup(self) -> None:
        """Both phases in order, for callers that time neither (inference, smoke runs, profiling, tests)."""
        self.initialize()
        self.prepare_data()

    def prepare_artefacts(self) -> None:
        """Build (or load) the data-set artefacts this benchmark ships before the clock; `aibench data prepare`
        calls it alone, `initialize()` calls it first. Default: none."""

    def artefact(self, name: str, settings: dict[str, Any], inputs: Iterable[Path],
                 build: Callable[[Path], None]) -> Path:
        """A cached data-set artefact's folder (built by `build(folder)` when missing), named in the record."""
        from aibench.harness.artefacts import cached_artefact

        folder, info = cached_artefact(self.ctx.cache_dir, self.SPEC.card.alias, name, settings, inputs, build)
        self.ctx.artefacts[:] = [a for a in self.ctx.artefacts if a["name"] != name] + [info]
        return folder

    @abstractmethod
    def models(self) -> dict[str, nn.Module]:
        """The learnable modules, by role ("model", or "teacher"/"student", "generator"/"critic")."""

    @abstractmethod
    def train_batches(self, epoch: int) -> Iterable[Any]:
        """The batches of one training epoch (already on the device, or moved in train_step)."""

    def train_step(self, batch: Any) -> StepOutput:
        """One optimizer step. The default covers single-loss models; GANs and ENAS override it."""
        self.optimizer.zero_grad(set_to_none=True)
        loss, samples = self.compute_loss(batch)
        self.backward(loss)
        if (clip := self.max_grad_norm()) is not None:
            self.grad_scaler().unscale_(self.optimizer)  # clip the true gradients, not fp16-scaled ones
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            nn.utils.clip_grad_norm_(params, clip)
        self.step(self.optimizer)
        if getattr(self, "scheduler", None) is not None:
            self.scheduler.step()
        return StepOutput(loss=float(loss.detach()), samples=samples)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """The run's gradient scaler: active under `--precision fp16`, a pass-through otherwise."""
        if getattr(self, "_grad_scaler", None) is None:
            from aibench.harness.precision import make_grad_scaler

            self._grad_scaler = make_grad_scaler(self.ctx)
        return self._grad_scaler

    def backward(self, loss: torch.Tensor) -> None:
        """`loss.backward()`, outside autocast and with the loss scaled under fp16."""
        with torch.autocast(self.device.type, enabled=False):
            self.grad_scaler().scale(loss).backward()

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """`optimizer.step()`, through the gradient scaler (skipped when fp16 gradients overflowed)."""
        scaler = self.grad_scaler()
        scaler.step(optimizer)
        scaler.update()

    def max_grad_norm(self) -> float | None:
        """The global gradient-norm clip the default train_step applies (None: no clipping)."""
        return None

    def compute_loss(self, batch: Any) -> tuple[torch.Tensor, int]:
        """Training loss of one batch and its sample count (used by the default train_step and FLOPs)."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute_loss or train_step")

    def train_samples(self) -> int:
        """Samples in one training epoch (for the log's train_samples)."""
        return 0

    def phase(self, epoch: int) -> str:
        """Name of the training phase an epoch belongs to (e.g. teacher / student); one phase by default."""
        return "train"

    def eval_due(self, epoch: int) -> bool:
        """Whether evaluating after this epoch is meaningful (e.g. not while only a teacher trains)."""
        return True

    def control_max_epochs(self, max_epochs: int) -> int:
        """The control's epoch budget (`--controls`) given the method's: the same by default; a method whose
        budget includes epochs the control has no use for (a teacher's) may give the control fewer."""
        return max_epochs

    @abstractmethod
    def evaluate(self) -> Quality:
        """Quality of the current model on the evaluation split, in the spec's metric."""

    # ----- inference --------------------------------------------------------------------------------
    @abstractmethod
    def inference_samples(self) -> Sequence[Any]:
        """Preprocessed query samples (held in memory, as LoadGen's sample library loads them)."""

    @abstractmethod
    def infer(self, samples: Sequence[Any]) -> list[Any]:
        """Run the model on a batch of query samples; one output per sample."""

    @abstractmethod
    def score(self, indices: Sequence[int], outputs: Sequence[Any]) -> Quality:
        """Quality of inference outputs for the given query indices (LoadGen's accuracy pass): index i is
        `load_query(i)`, which for i below len(inference_samples()) is inference sample i (where the inference
        samples are a selection of the evaluation split)."""

    # ----- LoadGen's query sample library: the evaluation split as queries -----------------------------
    # LoadGen's accuracy pass scores every query; its performance runs keep only the performance sample set
    # loaded (load_query is called when LoadGen's QSL load callback asks), so a split that does not fit in
    # memory (ImageNet's validation set) is served a performance set at a time. A benchmark whose split is larger
    # than its inference samples overrides query_count() and load_query() with a per-sample loader of the split,
    # ordered so that its first queries are the inference samples where those are a selection of the split.
    def query_count(self) -> int:
        """Queries in the evaluation split (LoadGen's total sample count). Default: the inference samples."""
        return len(self._held_queries())

    def load_query(self, index: int) -> Any:
        """Query `index`, preprocessed as infer() takes it, read when LoadGen loads it. Default: inference
        sample `index`, from the list inference_samples() holds in memory."""
        return self._held_queries()[index]

    def performance_sample_count(self) -> int:
        """Queries LoadGen keeps loaded for a performance run (and loads at a time in the accuracy pass): the
        scale's inference_samples (at full, MLPerf's performance sample count where MLPerf has the model: 1024
        for ResNet-50), at most the whole split."""
        return max(1, min(self.config.inference_samples, self.query_count()))

    def _held_queries(self) -> Sequence[Any]:
        held = getattr(self, "_held_query_list", None)
        if held is None:  # inference_samples() may decode or draw afresh on each call: once is enough
            held = self._held_query_list = list(self.inference_samples())
        return held

    # ----- characterization -------------------------------------------------------------------------
    @abstractmethod
    def example_batch(self) -> Any:
        """One training batch, for FLOP counting and profiling."""

    def forward_example(self) -> tuple[Callable[[], Any], int]:
        """A call doing one inference pass on a few query samples, and how many (FLOPs of inference)."""
        samples = list(self.inference_samples())[:8]
        return (lambda: self.infer(samples)), len(samples)

    def training_example(self) -> Callable[[], Any]:
        """A call doing one training forward+backward on the example batch, no optimizer step."""
        batch = self.example_batch()

        def run() -> None:
            loss, _ = self.compute_loss(batch)
            loss.backward()

        return run

    def example_samples(self) -> int:
        """Samples in example_batch(), to express FLOPs per sample."""
        return self.config.batch_size

    def describe(self) -> dict[str, Any]:
        """Benchmark-specific facts worth keeping in the record (e.g. a searched architecture)."""
        return {}

    # ----- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {role: m.state_dict() for role, m in self.models().items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for role, m in self.models().items():
            m.load_state_dict(state[role])

    def extra_training_state(self) -> Any:
        """What a resumed run needs beyond what the harness finds on the benchmark object (its modules, optimizers,
        schedulers, random generators and plain counters): None by default."""
        return None

    def load_extra_training_state(self, state: Any) -> None:
        """Restore `extra_training_state()` when a run resumes."""

    def train_mode(self, training: bool) -> None:
        for m in self.models().values():
            m.train(training)
