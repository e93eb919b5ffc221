"""The training driver: one loop for every benchmark, following MLPerf's time-to-train rules.

Initialization (`initialize()`: indexing the data set, loading its artefacts, building the model) is logged
between init_start and init_stop, not timed, and capped at 20 minutes. The clock starts at run_start, before the
samples are touched: `prepare_data()` (decoding, encoding, normalising) is timed, then training, and the clock
stops at the first evaluation that meets the target; evaluation time counts. A run that exhausts its epochs
or time budget is `target_missed`; a non-finite loss is `diverged`; Ctrl-C or SIGTERM is `aborted`; any other
exception, in initialization or in the run, is `error` with its one-line summary and traceback. Every ending is
logged as run_stop with the same status.
"""

from __future__ import annotations

import errno
import math
import statistics
import traceback
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from pathlib import Path
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from mlperf_logging.mllog import constants as C

from aibench.benchmarks.base import Benchmark, Quality, StepOutput
from aibench.harness.cache import drop_file_cache
from aibench.harness.distributed import (DataParallelModels, World, alone, from_rank_zero, shard_batch,
                                         sum_over_ranks)
from aibench.harness.energy import EnergyMeter
from aibench.harness import resume
from aibench.harness.launch import StoppedByLauncher
from aibench.harness.progress import batch_count
from aibench.harness.precision import apply_compute_options, compute_context, train_step as precise_train_step
from aibench.harness.timing import now, synchronize
from aibench.results.mllog import RunLog


@dataclass
class TrainResult:
    status: str = "aborted"  # success | target_missed | diverged | aborted | error
    quality: float | None = None
    quality_extra: dict[str, float] = field(default_factory=dict)
    epochs: float = 0  # epochs trained; fractional when the time budget ended the run mid-epoch
    epochs_to_quality: int | None = None
    time_to_quality_s: float | None = None
    init_time_s: float = 0.0
    data_prep_time_s: float = 0.0  # prepare_data(), inside the timed run
    resumed_at_epoch: int | None = None  # a resumed run: the epochs its checkpoint had done
    run_time_s: float = 0.0
    epoch_times_s: list[float] = field(default_factory=list)
    eval_time_s: float = 0.0
    eval_samples: int = 0
    samples_trained: int = 0
    throughput_samples_per_s: float | None = None
    step_time_median_s: float | None = None
    step_time_cv: float | None = None  # coefficient of variation of step time per sample after warm-up
    step_time_cv_by_phase: dict[str, float] | None = None  # where phases train different models
    # coefficient of variation of the throughput of a phase's epochs after its first (what the stability warning
    # judges; None with fewer than 3 such epochs)
    throughput_cv: float | None = None
    stability_warning: str | None = None
    data_time_fraction: float | None = None
    last_loss: float | None = None
    energy_j: float | None = None
    energy_source: str = "none"
    energy_to_quality_j: float | None = None
    energy_detail: dict[str, Any] = field(default_factory=dict)  # duration, mean and idle watts, domains, warnings
    curve: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    traceback: str = ""  # of the exception that ended the run as `error`
    user_error: bool = False  # that exception was bad input (a DataError): the CLI says it in one line, exit 2

    def metrics(self) -> dict[str, Any]:
        out = asdict(self)
        for kept_apart in ("curve", "traceback", "user_error"):
            out.pop(kept_apart)
        return out

    def failed(self, err: BaseException) -> str:
        """Record the exception that ends the run; returns the status it gives."""
        from aibench.errors import UserError

        if isinstance(err, KeyboardInterrupt):
            self.message = "interrupted"
            return "aborted"
        self.message = one_line(err)
        self.traceback = traceback.format_exc()
        self.user_error = isinstance(err, UserError) or environment_error(err)
        return "error"


# what the machine, not the code, got wrong while a run wrote its files: the user's to fix, said in one line
ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def environment_error(err: BaseException) -> bool:
    """A full disk, a quota, a read-only or forbidden folder."""
    return isinstance(err, OSError) and err.errno in ENVIRONMENT_ERRNOS


def one_line(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


class _Budget:
    """Stops the run when its epochs or its wall-clock budget (from run_start) are spent."""

    def __init__(self, start: float, seconds: float | None) -> None:
        self.start, self.seconds = start, seconds

    def spent(self) -> bool:
        return self.seconds is not None and now() - self.start >= self.seconds


class _StepStats:
    """Per-step timings after warm-up: throughput counts data loading and compute, device synchronized."""

    def __init__(self, warmup_steps: int) -> None:
        self.warmup_left = warmup_steps
        self.samples = 0
        self.data_s = 0.0
        self.step_s: list[float] = []
        # each step's seconds per sample, by phase: phases train different models (a teacher, then a student), so
        # each phase's steps are compared among themselves; an epoch's last, smaller batch is a shorter step, not
        # a noisier one
        self.by_phase: dict[str, list[float]] = {}
        # samples and busy seconds of each epoch, by phase: every epoch of a phase does the same work
        self.epochs: dict[str, dict[int, list[float]]] = {}

    def add(self, samples: int, data_s: float, step_s: float, phase: str = "train", epoch: int = 0) -> None:
        if self.warmup_left > 0:
            self.warmup_left -= 1
            return
        self.samples += samples
        self.data_s += data_s
        self.step_s.append(step_s)
        self.by_phase.setdefault(phase, []).append(step_s / max(1, samples))
        totals = self.epochs.setdefault(phase, {}).setdefault(epoch, [0.0, 0.0])
        totals[0] += samples
        totals[1] += data_s + step_s

    def summary(self) -> dict[str, Any]:
        busy = self.data_s + sum(self.step_s)
        if not self.step_s or busy <= 0:
            return {"throughput_samples_per_s": None, "step_time_median_s": None, "data_time_fraction": None,
                    "step_time_cv": None, "step_time_cv_by_phase": None, "throughput_cv": None,
                    "stability_warning": None}
        by_phase = {phase: _cv(times) for phase, times in self.by_phase.items() if len(times) > 1}
        spreads = [cv for epochs in self.epochs.values() if (cv := epoch_throughput_cv(epochs)) is not None]
        throughput_cv = max(spreads, default=None)  # the least steady phase decides
        return {"throughput_samples_per_s": self.samples / busy,
                "step_time_median_s": statistics.median(self.step_s),
                "data_time_fraction": self.data_s / busy,
                "step_time_cv": max(by_phase.values(), default=None),
                "step_time_cv_by_phase": by_phase if len(by_phase) > 1 else None,
                "throughput_cv": throughput_cv,
                "stability_warning": stability_warning(throughput_cv)}


def _cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.fmean(values)


MIN_EPOCHS_JUDGED = 3  # epochs of one phase, after its first, needed to judge how steady the machine was


def epoch_throughput_cv(epochs: dict[int, list[float]]) -> float | None:
    """Coefficient of variation of the throughput of a phase's epochs ({epoch: [samples, busy seconds]}), its
    first epoch left out (a new model's allocations, a search's derivation of its cell).

    The throughput a run reports is samples over time summed across its steps, so what makes it untrustworthy is a
    machine whose speed changes over the run, not steps of different cost: a sequence model's batches differ in
    length, a search alternates its shared model's steps with its controller's. Every epoch of a phase does the
    same work, so, as pyperf judges the spread of values that each average many loops, this compares whole epochs.
    None with fewer than MIN_EPOCHS_JUDGED epochs after the first (a run to a tiny target often has no more)."""
    judged = [samples / seconds for epoch, (samples, seconds) in sorted(epochs.items())[1:] if seconds > 0]
    return _cv(judged) if len(judged) >= MIN_EPOCHS_JUDGED else None


UNSTABLE_CV = 0.10  # pyperf warns when the spread of its values passes about 10% of their mean


def stability_warning(cv: float | None) -> str | None:
    """A warning when the throughput of a phase's epochs varies too much for the run's throughput to be trusted."""
    if cv is None or cv <= UNSTABLE_CV:
        return None
    return (f"throughput varies by {100 * cv:.0f}% from epoch to epoch (coefficient of variation, above "
            f"{100 * UNSTABLE_CV:.0f}%): a busy or throttling machine; the throughput is unreliable")


IDLE_BASELINE_S = 3.0  # idle power measured before the timed run where an energy counter exists
INIT_CAP_S = 20 * 60  # MLPerf training rules: initialization (untimed) may take at most 20 minutes


class _Diverged(Exception):
    pass


def _timed_steps(bench: Benchmark, batches: Iterable[Any], device: torch.device, stats: _StepStats,
                 budget: _Budget, on_step: Any, world: World = World(), phase: str = "train", epoch: int = 0
                 ) -> tuple[list[float], int, bool]:
    """Run one epoch's steps; returns losses, samples and whether the budget ran out mid-epoch.

    With several processes each step trains this rank's part of the global batch, and the loss (averaged), the
    samples (summed) and whether the budget is spent (on any rank) are agreed over all ranks."""
    losses: list[float] = []
    samples = 0
    iterator = iter(batches)
    while True:
        t0 = now()
        try:
            batch = next(iterator)
        except StopIteration:
            return losses, samples, False
        t1 = now()
        out: StepOutput = precise_train_step(bench, batch if bench.SHARDS_ITSELF else shard_batch(batch, world))
        synchronize(device)
        t2 = now()
        spent = budget.spent()
        if world.distributed:
            loss_sum, step_samples, spent_ranks = sum_over_ranks([out.loss, out.samples, float(spent)], world,
                                                                 device)
            out = StepOutput(loss=loss_sum / world.world_size, samples=int(step_samples), losses=out.losses)
            spent = spent_ranks > 0
        if not math.isfinite(out.loss):
            raise _Diverged(f"non-finite training loss {out.loss} at step {len(losses) + 1}")
        stats.add(out.samples, t1 - t0, t2 - t1, phase, epoch)
        losses.append(out.loss)
        samples += out.samples
        on_step(out)
        if spent:
            return losses, samples, True


def evaluate_untracked(bench: Benchmark) -> Quality:
    """One evaluation in eval mode without gradients, leaving the model in training mode."""
    bench.train_mode(False)
    with torch.no_grad(), compute_context(bench):  # at the run's --precision
        quality = bench.evaluate()
    bench.train_mode(True)
    return quality


def _evaluate(bench: Benchmark, parallel: DataParallelModels | None) -> Quality:
    """The evaluation every rank acts on: measured on rank 0 with the unwrapped model, then broadcast."""
    if parallel is None:
        return evaluate_untracked(bench)
    world = bench.ctx.world
    quality = None
    if world.is_main:
        with parallel.raw(), alone():
            quality = evaluate_untracked(bench)
    return from_rank_zero(quality, world)


def train(bench: Benchmark, log: RunLog, meter: EnergyMeter | None = None, progress: Any = None,
          max_epochs: int | None = None, on_curve: Callable[[list[dict[str, Any]]], None] | None = None,
          checkpoint_to: Path | None = None, resume_from: dict[str, Any] | None = None) -> TrainResult:
    """Initialize, train to the target (or the budget), and return the measured result; never raises.

    `progress` is an optional callback object with `epoch(epoch, phase, total)` (total: the epoch's batches, or
    None where its loader cannot say), `step(loss)` and `eval(quality)`;
    `on_curve(curve)` is called with the curve so far after each epoch (the store keeps it, should the run die).
    `checkpoint_to`: where a training checkpoint is written after each evaluation (atomically; its writing is not
    training time); `resume_from`: such a checkpoint, loaded, to continue from (its training time, epochs, samples
    and curve carry on; the gap between the runs is not counted).
    """
    spec, cfg, device, world = bench.SPEC, bench.config, bench.device, bench.ctx.world
    target = cfg.target
    parallel: DataParallelModels | None = None
    max_epochs = max_epochs or cfg.max_epochs
    meter = meter or EnergyMeter(device=device)  # NVML for the GPU this run uses, not every GPU on the host
    result = TrainResult()
    prior_s = 0.0  # training time before this process, when resuming
    paused_s = 0.0  # time spent writing training checkpoints: not training time

    cleared, files = drop_file_cache(bench.ctx.data_dir)
    log.event(C.CACHE_CLEAR, cleared, files=files)  # True only when every data file was dropped from the cache
    log.start(C.INIT_START)
    t_init = now()
    try:
        bench.initialize()
        apply_compute_options(bench)  # --channels-last and --compile, on the models initialize() built
        if world.distributed:  # DDP wraps the models the benchmark built; its train_step calls the wrappers
            parallel = DataParallelModels(bench, world)
    except (Exception, KeyboardInterrupt) as err:
        result.status = result.failed(err)
        log.end(C.RUN_STOP, status=_mllog_status(result.status), aibench_status=result.status)
        return result
    result.init_time_s = now() - t_init
    log.event(C.SEED, bench.ctx.seed)
    log.event(C.GLOBAL_BATCH_SIZE, cfg.batch_size)
    for key, value in world.describe().items():  # MLPerf's number_of_nodes and accelerators_per_node
        log.event(key, value)
    log.event(C.EPOCH_COUNT, max_epochs)
    log.event("target_quality", target, metric=spec.card.metric)
    log.end(C.INIT_STOP)
    if result.init_time_s > INIT_CAP_S:  # MLPerf caps the untimed initialization; past it the run is not valid
        result.status = "error"
        result.message = (f"initialization took {result.init_time_s:.0f} s, over the {INIT_CAP_S / 60:.0f}-minute "
                          "cap MLPerf sets on untimed initialization")
        return result

    if meter.counters:  # an idle baseline, untimed, so the record can say what the run drew above idle
        meter.measure_idle(IDLE_BASELINE_S)
    stats = _StepStats(cfg.warmup_steps)
    meter.start()
    log.start(C.RUN_START)
    t_run = now()
    budget = _Budget(t_run, cfg.time_budget_s)
    status = "target_missed"
    try:
        bench.prepare_data()
        result.data_prep_time_s = now() - t_run
        log.event(C.TRAIN_SAMPLES, bench.train_samples())  # known once the data is prepared
        start_epoch = 0
        if resume_from is not None:
            with parallel.raw() if parallel else nullcontext():
                resume.restore(bench, resume_from["benchmark"])
            start_epoch, prior_s = _carry_on(result, resume_from["progress"])
        bench.train_mode(True)
        for epoch in range(start_epoch, max_epochs):
            phase = bench.phase(epoch)
            log.start(C.EPOCH_START, epoch_num=epoch + 1, phase=phase)
            t_epoch = now()
            batches = bench.train_batches(epoch)
            if progress:
                progress.epoch(epoch, phase, total=batch_count(batches))
            losses, samples, out_of_time = _timed_steps(
                bench, batches, device, stats, budget, progress.step if progress else (lambda out: None), world,
                phase, epoch)
            result.epoch_times_s.append(now() - t_epoch)
            result.samples_trained += samples
            result.epochs = epoch + 1
            result.last_loss = losses[-1] if losses else result.last_loss
            log.end(C.EPOCH_STOP, epoch_num=epoch + 1, samples=samples)
            point: dict[str, Any] = {"epoch": epoch + 1, "phase": phase,
                                     "train_loss": statistics.fmean(losses) if losses else None}
            if out_of_time and bench.train_samples():  # a partial epoch counts as the part of one it trained
                result.epochs = epoch + min(1.0, samples / bench.train_samples())
            regular = bench.eval_due(epoch) and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == max_epochs)
            # when the budget runs out mid-epoch the model is still evaluated, for the record, but that evaluation
            # is not a regular one and cannot make the run a success (MLPerf: past the budget is not converged)
            due = regular or out_of_time
            if due:
                log.start(C.EVAL_START, epoch_num=epoch + 1)
                t_eval = now()
                quality = _evaluate(bench, parallel)
                result.eval_time_s += now() - t_eval
                log.event(C.EVAL_ACCURACY, quality.value, epoch_num=epoch + 1, metric=spec.card.metric)
                log.end(C.EVAL_STOP, epoch_num=epoch + 1)
                result.quality, result.quality_extra = quality.value, quality.extra
                result.eval_samples = quality.samples
                point.update(quality=quality.value, **{f"extra_{k}": v for k, v in quality.extra.items()})
                if not quality.counts or not regular or out_of_time:
                    point["counts"] = False  # measured, but not allowed to meet the target
                if progress:
                    progress.eval(quality)
                if not math.isfinite(quality.value):
                    raise _Diverged(f"non-finite quality {quality.value} at epoch {epoch + 1}")
                if regular and not out_of_time and quality.counts and spec.meets_target(quality.value, target):
                    status = "success"
            point["time_s"] = prior_s + now() - t_run - paused_s
            result.curve.append(point)
            if checkpoint_to is not None and due and status != "success" and not out_of_time:
                t_save = now()  # before the curve is published: a stored epoch always has its checkpoint
                with parallel.raw() if parallel else nullcontext():
                    resume.save(checkpoint_to, bench, _progress(result, epoch + 1, point["time_s"]))
                paused_s += now() - t_save
            if on_curve:
                on_curve(result.curve)
            if status == "success" or out_of_time:
                if out_of_time and status != "success":
                    result.message = f"time budget of {cfg.time_budget_s:.0f} s spent"
                break
    except _Diverged as err:
        status, result.message = "diverged", str(err)
    except (Exception, KeyboardInterrupt) as err:  # anything else ends the run too, and is stored as such
        status = result.failed(err)
    except StoppedByLauncher:  # another rank failed: the launching process finalizes the record, naming it
        status, result.message = "error", "stopped by the launcher"
        raise
    finally:
        if parallel is not None:  # what is characterized, saved and served is the model itself
            parallel.unwrap()
        synchronize(device)
        result.run_time_s = prior_s + now() - t_run - paused_s
        energy = meter.stop()
        result.energy_j, result.energy_source = energy.joules, ",".join(energy.sources)
        result.energy_detail = energy.as_dict()
        result.status = status
        log.event(C.EVAL_SAMPLES, result.eval_samples)
        log.end(C.RUN_STOP, status=_mllog_status(status), aibench_status=status)
        result.__dict__.update(stats.summary())
    if status == "success":
        result.epochs_to_quality = result.epochs
        result.time_to_quality_s = result.run_time_s
        result.energy_to_quality_j = result.energy_j
    return result


def _progress(result: TrainResult, epochs_done: int, training_time_s: float) -> dict[str, Any]:
    """The harness's side of a training checkpoint: where the run stands."""
    return {"epochs_done": epochs_done, "training_time_s": training_time_s, "curve": list(result.curve),
            "samples_trained": result.samples_trained, "epoch_times_s": list(result.epoch_times_s),
            "eval_time_s": result.eval_time_s, "quality": result.quality, "quality_extra": result.quality_extra}


def _carry_on(result: TrainResult, progress: dict[str, Any]) -> tuple[int, float]:
    """Take over a checkpoint's progress; returns the epoch to start from and the training time so far."""
    result.curve = list(progress["curve"])
    result.samples_trained = progress["samples_trained"]
    result.epoch_times_s = list(progress["epoch_times_s"])
    result.eval_time_s = progress["eval_time_s"]
    result.quality, result.quality_extra = progress["quality"], progress["quality_extra"]
    result.epochs = result.resumed_at_epoch = progress["epochs_done"]
    return progress["epochs_done"], progress["training_time_s"]


def _mllog_status(status: str) -> str:
    return C.SUCCESS if status == "success" else C.ABORTED
