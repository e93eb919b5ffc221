"""Runs selected benchmarks end to end: data, training, inference, characterization, and storing records.

This is the library entry point the CLI calls; each step is a short function so other front ends can reuse it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from aibench import registry
from aibench.benchmarks.base import Benchmark, RunContext
from aibench.characterize.flops import characterize_compute
from aibench.characterize.peak import achievable_peak, utilization
from aibench.characterize.system import system_info
from aibench.errors import UserError
from aibench.harness import resume
from aibench.harness.controls import run_control
from aibench.harness.distributed import World, barrier, device_for
from aibench.harness.energy import EnergyMeter
from aibench.harness.infer import InferSettings, run_inference
from aibench.harness.launch import PEER_LOST_EXIT, StoppedByLauncher, is_peer_loss
from aibench.harness.memory import peak_memory, reset_peaks
from aibench.harness.precision import apply_compute_options, check_compute, compute_options
from aibench.harness.precision import train_step as precise_train_step
from aibench.harness.preserve import model_state_preserved
from aibench.harness.progress import InferProgress, TrainProgress
from aibench.harness.smoke import run_smoke, smoke_context
from aibench.harness.train import TrainResult, environment_error, one_line, train
from aibench.results.liveness import Heartbeat
from aibench.results.mllog import NullLog, RunLog, lowest_precision
from aibench.results.store import DEFAULT_DIR, ResultStore, label_from_record
from aibench.spec import PaperCard, ScaleConfig

MODES = ("train", "infer", "all")

DEFAULT_CACHE = Path(".aibench-cache")


@dataclass
class RunOptions:
    scale: str = "tiny"
    mode: str = "train"
    data_dir: Path | None = None
    seed: int = 0
    repeats: int = 1
    device: str = "auto"
    out_dir: Path = DEFAULT_DIR
    cache_dir: Path = DEFAULT_CACHE
    max_epochs: int | None = None
    infer: InferSettings = field(default_factory=InferSettings)
    smoke: bool = False  # a full-size configuration check: a few steps, one small evaluation, a short LoadGen pass
    pretrained: dict[str, Path] = field(default_factory=dict)  # alias -> state-dict file
    untrained: bool = False  # --mode infer may serve a freshly initialised model (else it needs a checkpoint)
    precision: str = "fp32"  # --precision fp32|bf16|fp16: autocast of steps, evaluation and inference
    channels_last: bool = False  # --channels-last: models with 4-D convolutions in torch.channels_last
    compile: bool = False  # --compile: models compiled in place with torch.compile
    world: World = field(default_factory=World)  # this process among torchrun's (one process: rank 0 of 1)
    launch_id: str | None = None  # set by `aibench run --nproc N` for the processes it launches
    resume: bool = False  # continue the newest interrupted run of each benchmark from its training checkpoint
    label: str | None = None  # --label: the machine or stack the records speak for (default: host and device)
    controls: bool = False  # --controls: after each training run, train its control (the method's ablation)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device is available on this machine")
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise UserError(f"--device {name!r} is not a device torch knows ({err})") from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def benchmark_data_dir(root: Path, card: PaperCard) -> Path:
    """A benchmark's data under a shared root: ROOT/<name> when that folder exists, else ROOT itself."""
    sub = root / card.name
    return sub if sub.is_dir() else root


def prepare_data(card: PaperCard, opts: RunOptions, console: Console | None = None) -> Path:
    """The directory a run reads: the user's (validated), or at tiny a synthesized set cached for reuse."""
    cls = registry.benchmark_class(card)
    cfg = registry.spec(card).scale(opts.scale)
    if opts.data_dir is not None:
        path = benchmark_data_dir(opts.data_dir, card)
        cls.check_data(path, cfg)
        return path
    if opts.scale != "tiny":
        raise UserError(f"{card.alias}: --data-dir is required at scale {opts.scale}; expected "
                        f"{registry.spec(card).data_layout}")
    path = opts.cache_dir / "data" / f"{card.alias}-{card.name}-tiny"
    fingerprint = synthesis_fingerprint(cfg, synthesis_sources(cls))
    # the marker holds the fingerprint of the settings and code the set was written with: a set cached by an older
    # spec (other sizes or counts) or generator is written again rather than silently measured
    if not _synthesized(path, fingerprint):
        if console:
            console.print(f"[dim]{card.alias}: writing the tiny synthetic data set to {path}[/dim]")
        synthesize(card, path, opts.scale, seed=1234, fingerprint=fingerprint)  # fixed: every run reads one set
    cls.check_data(path, cfg)
    return path


SYNTHESIZED = ".aibench-complete"  # in a cached synthetic set: the fingerprint of the settings that wrote it


def _synthesized(path: Path, fingerprint: str) -> bool:
    marker = path / SYNTHESIZED
    try:
        return marker.read_text().strip() == fingerprint
    except OSError:
        return False


def synthesis_fingerprint(cfg: ScaleConfig, sources: Iterable[Path] = ()) -> str:
    """A short hash of what decides the synthesized set: the scale's hyperparameters (sizes and counts) and the
    code that writes it (`sources`), so a set cached before its generator changed is written again."""
    digest = hashlib.sha256(json.dumps(cfg.hparams, sort_keys=True, default=str).encode())
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


def synthesis_sources(cls: type) -> list[Path]:
    """The code a benchmark's synthesize() may run: every module of its own folder under aibench/benchmarks (the
    module alone for a class defined elsewhere) and the shared data-set writers in aibench/datasets."""
    module = sys.modules[cls.__module__]
    here = Path(module.__file__ or "")
    own = sorted(here.parent.glob("*.py")) if cls.__module__.startswith("aibench.benchmarks.c") else [here]
    return own + sorted((Path(__file__).parents[1] / "datasets").glob("*.py"))


def synthesis_config(cfg: ScaleConfig, scale: str) -> ScaleConfig:
    """What synthesize() writes at a scale: tiny's own settings, or at small/full the smoke sizes (a small set
    shaped like the real one) merged over the scale's hyperparameters."""
    if scale == "tiny":
        return cfg
    return dataclasses.replace(cfg, hparams={**cfg.hparams, **cfg.smoke.synth})


def synthesize(card: PaperCard, path: Path, scale: str, seed: int, fingerprint: str | None = None) -> None:
    """Write a data set atomically: a half-written directory is never mistaken for a complete one, and two
    processes writing the same cached set at once (`fingerprint` given) each write their own copy; the first to
    finish is kept, so a run already reading it is never pulled from under it."""
    cls = registry.benchmark_class(card)
    cfg = synthesis_config(registry.spec(card).scale(scale), scale)
    tmp = path.with_name(f"{path.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        cls.synthesize(tmp, cfg, seed)
        if fingerprint is not None:
            (tmp / SYNTHESIZED).write_text(fingerprint + "\n")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if fingerprint is not None and _synthesized(path, fingerprint):  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
        return
    stale = path.with_name(f"{path.name}.stale-{os.getpid()}")
    if path.exists():
        path.rename(stale)  # an older set (other settings): moved aside in one step, then removed
    try:
        tmp.rename(path)
    except OSError:  # another process moved its copy in between: keep that one
        if fingerprint is None or not _synthesized(path, fingerprint):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(stale, ignore_errors=True)


def build(card: PaperCard, opts: RunOptions, data_dir: Path, seed: int, control: bool = False) -> Benchmark:
    cls = registry.benchmark_class(card)
    cfg = registry.spec(card).scale(opts.scale)
    if control:  # a control trains its whole epoch budget: the wall-clock cap is the method's rule (reach the
        # target in time), and a control cut short by a busy machine would be compared after fewer epochs
        cfg = dataclasses.replace(cfg, time_budget_s=None)
    device, pretrained = device_for(opts.world, pick_device(opts.device)), opts.pretrained.get(card.alias)
    seed_everything(seed)  # the same seed on every rank: the same initial weights and the same batches
    if opts.smoke:
        ctx = smoke_context(opts.scale, cfg, data_dir, seed, str(device), pretrained)
        return cls(dataclasses.replace(ctx, cache_dir=opts.cache_dir, **compute_options(opts)))
    return cls(RunContext(scale=opts.scale, config=cfg, data_dir=data_dir, device=device, seed=seed,
                          pretrained=pretrained, cache_dir=opts.cache_dir, **compute_options(opts), world=opts.world,
                          control=control))


def check_data_parallel(card: PaperCard, opts: RunOptions, nproc: int) -> None:
    """Several training processes: only for training, and only for benchmarks whose data-parallel training works."""
    if nproc <= 1:
        return
    if opts.mode != "train" or opts.smoke:
        raise UserError(f"--nproc {nproc} trains on several processes: use it with --mode train (not "
                        f"{'--smoke' if opts.smoke else '--mode ' + opts.mode}); serve the checkpoint with one process")
    reason = registry.benchmark_class(card).DATA_PARALLEL_UNSUPPORTED
    if reason:
        raise UserError(f"{card.alias} cannot train on {nproc} processes: {reason}")


def check_pretrained(card: PaperCard, opts: RunOptions) -> None:
    """A real small/full run whose reference starts from pretrained weights refuses to start without them."""
    needed = registry.spec(card).scale(opts.scale).pretrained
    if needed and not opts.smoke and card.alias not in opts.pretrained:
        raise UserError(f"{card.alias} at scale {opts.scale} starts from {needed}: pass --pretrained "
                        f"{card.alias}=PATH (or --smoke to check the configuration from random weights)")


def _checkpoint_path(card: PaperCard, opts: RunOptions, record_id: int) -> Path:
    """One checkpoint per training run, keyed by its record: runs never overwrite each other's."""
    return opts.out_dir / "checkpoints" / f"{card.alias}-{opts.scale}-run{record_id}.pt"


def latest_checkpoint(store: ResultStore, card: PaperCard, scale: str) -> tuple[Path, dict[str, Any]] | None:
    """The newest training run of this benchmark and scale whose checkpoint is still on disk, and its record."""
    for record in reversed(store.records(benchmark=card.id, mode="train")):
        path = (record.get("metrics") or {}).get("checkpoint")
        if record["scale"] == scale and path and Path(path).exists():
            return Path(path), record
    return None


def save_atomically(obj: Any, path: Path) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves a half-written checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def live_record(store: ResultStore, **fields: Any) -> Iterator[int]:
    """A `running` record for the body, heartbeat refreshed meanwhile. The body finishes it; if the body raises
    first, the record ends `aborted` (Ctrl-C, SIGTERM) or `error` (with the traceback) and the exception goes on."""
    record_id = store.start(**fields)
    with Heartbeat(lambda: store.heartbeat(record_id)):
        try:
            yield record_id
        except StoppedByLauncher:  # `aibench run --nproc` ends the record, naming the rank that failed
            raise
        except BaseException as err:
            aborted = isinstance(err, KeyboardInterrupt)
            import traceback

            store.finish(record_id, "aborted" if aborted else "error", strict=False,
                         message="interrupted" if aborted else one_line(err),
                         traceback=None if aborted else traceback.format_exc())
            raise


def _record_base(bench: Benchmark, opts: RunOptions, data_dir: Path, system: dict[str, Any]) -> dict[str, Any]:
    card = bench.SPEC.card
    world = opts.world
    parallel = {**world.describe(), "global_batch_size": bench.config.batch_size,
                "per_rank_batch_size": -(-bench.config.batch_size // world.world_size), "launch_id": opts.launch_id}
    if world.distributed:
        parallel["backend"] = "nccl" if bench.device.type == "cuda" else "gloo"
        # BatchNorm layers, where a model has them, normalise with each rank's own statistics (no SyncBatchNorm
        # yet); evaluation uses rank 0's running averages
        parallel["batchnorm"] = "per-rank statistics where the model has BatchNorm (no SyncBatchNorm)"
    return {
        "label": opts.label or label_from_record(system, {"device": str(bench.device)}),
        "benchmark": card.id, "name": card.name, "scale": opts.scale, "metric": card.metric,
        "target": bench.config.target, "seed": bench.ctx.seed, "system": system,
        "config": {"scale_config": dataclasses.asdict(bench.config), "data_dir": str(data_dir),
                   "device": str(bench.device), "max_epochs": opts.max_epochs or bench.config.max_epochs,
                   "mode": opts.mode, "paper_target": card.paper_target, "smoke": opts.smoke,
                   **compute_options(opts),  # precision, channels_last, compile as requested
                   "pretrained": str(bench.ctx.pretrained) if bench.ctx.pretrained else None,
                   "distributed": parallel, "determinism": determinism(bench, opts.world)},
    }


def determinism(bench: Benchmark, world: World) -> dict[str, Any]:
    """Whether this run should repeat bit for bit with the same seed, and if not, why not."""
    threads, device = torch.get_num_threads(), bench.device.type
    reasons = []
    if device == "cuda" and not torch.are_deterministic_algorithms_enabled():
        reasons.append("CUDA kernels may add floating-point values in a different order each run (atomics, "
                       "autotuned algorithms)")
    if threads > 1:
        reasons.append(f"{threads} threads split floating-point reductions differently from run to run")
    if world.distributed:
        reasons.append("several processes: collectives may add the ranks' gradients in any order")
    if bench.NONDETERMINISTIC:
        reasons.append(bench.NONDETERMINISTIC)
    return {"repeatable": not reasons, "why_not": "; ".join(reasons) or None, "seed": bench.ctx.seed,
            "torch_threads": threads, "deterministic_algorithms": torch.are_deterministic_algorithms_enabled()}


def run_training(bench: Benchmark, opts: RunOptions, store: ResultStore, base: dict[str, Any],
                 console: Console | None, resumes: dict[str, Any] | None = None) -> tuple[int, TrainResult]:
    """Train and store the record; `resumes`: the interrupted run's record this one continues from its last
    training checkpoint (the new record names it in `resumed_from`; the old one keeps its status)."""
    card = bench.SPEC.card
    state = resume.load(training_checkpoint_path(card, opts, resumes["id"])) if resumes else None
    if not opts.world.is_main:  # the other ranks train alongside; rank 0 alone logs, stores and saves
        return -1, train(bench, NullLog(), max_epochs=opts.max_epochs or bench.config.max_epochs, resume_from=state)
    if resumes:
        base = {**base, "config": {**base["config"], "resumed_from": resumes["id"]}}
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    log = RunLog(opts.out_dir / "logs" / f"{card.alias}-{opts.scale}-{stamp}-seed{bench.ctx.seed}.mllog")
    log.submission(card.name, system_platform(base["system"]), f"{card.alias}:{opts.scale}",
                   bench.config.batch_size, precision=lowest_precision(bench.device.type, opts.precision))
    max_epochs = opts.max_epochs or bench.config.max_epochs
    window = reset_peaks(bench.device)
    with live_record(store, **base, mode="train", log_path=str(log.writing_path)) as record_id:
        def keep(**fields: Any) -> None:
            try:
                store.update(record_id, **fields)
            except Exception:  # a busy store: the curve is written again at the next evaluation and at the end
                pass

        try:
            with TrainProgress(card.alias, max_epochs, console, target=bench.config.target, metric=card.metric,
                               budget_s=bench.config.time_budget_s) as progress:
                result = train(bench, log, progress=progress, max_epochs=max_epochs,
                               on_curve=lambda curve: keep(curve=curve), resume_from=state,
                               checkpoint_to=training_checkpoint_path(card, opts, record_id))
        finally:
            log.close()
            keep(log_path=str(log.path))  # the whole log now has its final name
        if console and result.stability_warning:
            console.print(f"[yellow]warning:[/yellow] {card.alias}: {result.stability_warning}")
        characterization = _characterize(bench) if result.status not in ("aborted", "error") else {}
        metrics = result.metrics()
        metrics["memory"] = peak_memory(bench.device, window)
        # the throughput counts every rank's samples; the peak is one process's device: MFU per device
        per_rank = (result.throughput_samples_per_s or 0) / opts.world.world_size
        metrics["utilization"] = utilization(characterization.get("flops_train_per_sample"), per_rank,
                                             _peak(bench, opts))
        metrics["details"] = bench.describe() if result.status != "error" else {}
        metrics["compute"] = bench.ctx.compute_applied  # what --precision, --channels-last, --compile did
        metrics["artefacts"] = bench.ctx.artefacts  # data-set artefacts built before the clock, named and keyed
        if result.status not in ("aborted", "error"):  # only trained weights become a served checkpoint
            path = _checkpoint_path(card, opts, record_id)
            save_atomically(bench.state_dict(), path)
            metrics["checkpoint"] = str(path)
        if result.status not in RESUMABLE:  # a finished run is not resumed: its training checkpoint goes
            training_checkpoint_path(card, opts, record_id).unlink(missing_ok=True)
        store.finish(record_id, result.status, quality=result.quality, metrics=metrics, curve=result.curve,
                     characterization=characterization, message=result.message or None,
                     traceback=result.traceback or None)
    return record_id, result


RESUMABLE = ("aborted", "crashed", "error")  # ended by something outside the run's own course


def training_checkpoint_path(card: PaperCard, opts: RunOptions, record_id: int) -> Path:
    """A run's training checkpoint (model, optimizers, random states, progress), rewritten at each evaluation."""
    return opts.out_dir / "checkpoints" / f"{card.alias}-{opts.scale}-run{record_id}.train.pt"


def run_to_resume(store: ResultStore, card: PaperCard, opts: RunOptions, seed: int) -> dict[str, Any]:
    """The newest interrupted training run of this benchmark, scale and seed that left a training checkpoint."""
    for record in reversed(store.records(benchmark=card.id, mode="train")):
        if (record["scale"] == opts.scale and record["seed"] == seed and record["status"] in RESUMABLE
                and training_checkpoint_path(card, opts, record["id"]).exists()):
            return record
    raise UserError(f"{card.alias}: no interrupted training run (aborted, crashed or error) at scale {opts.scale}, "
                    f"seed {seed}, with a training checkpoint in {opts.out_dir / 'checkpoints'} to resume")


def _characterize(bench: Benchmark) -> dict[str, Any]:
    """FLOPs and parameters of the model as trained, which the measurement leaves unchanged; a failure to count
    is kept in the record beside the measured run rather than ending it."""
    try:
        with model_state_preserved(bench):  # the checkpoint and the served model are the trained model
            return characterize_compute(bench)
    except Exception as err:
        return {"error": one_line(err)}


def run_inference_record(bench: Benchmark, opts: RunOptions, store: ResultStore, base: dict[str, Any],
                         model_state: Callable[[], str], console: Console | None = None) -> int:
    """Serve the model through LoadGen and store the record; `model_state()` readies the model (set-up and
    checkpoint, in `--mode infer`) inside the record's life and says what it serves. A scenario LoadGen reports
    INVALID makes the record `invalid`, its reasons in the message (a peak-QPS search's failed steps do not)."""
    card = bench.SPEC.card
    settings = dataclasses.replace(opts.infer, log_dir=opts.out_dir / "loadgen" / f"{card.alias}-{opts.scale}",
                                   server_latency_ms=opts.infer.server_latency_ms
                                   or registry.spec(card).server_bound_ms(opts.scale))
    with live_record(store, **base, mode="infer") as record_id:
        trained = model_state()
        apply_compute_options(bench)  # once: a trained model already has them
        window = reset_peaks(bench.device)
        out = run_inference(bench, bench.device, settings, EnergyMeter(device=bench.device),
                            progress=InferProgress(card.alias, console) if console else None)
        scenarios = {name: dataclasses.asdict(r) for name, r in out["scenarios"].items()}
        quality = out["quality"]
        metrics: dict[str, Any] = {"model_state": trained, "scenarios": scenarios, "quality_extra": quality.extra,
                                   "accuracy_samples": out["samples"], "loadgen_log_dir": out["log_dir"],
                                   "accuracy": out["accuracy"], "audit": out["audit"],
                                   "calibration": out["calibration"], "short": settings.short,
                                   "memory": peak_memory(bench.device, window)}
        metrics["compute"] = bench.ctx.compute_applied
        single = scenarios.get("SingleStream")
        if single and not single["skipped"]:
            metrics["latency_ms"] = single["latency_ms"]
            metrics["single_stream_qps"] = single["qps"]
            metrics["single_stream_p90_ms"] = single["headline"]  # LoadGen's early-stopping estimate
        multi = scenarios.get("MultiStream")
        if multi and not multi["skipped"]:
            metrics["multi_stream_p99_ms"] = multi["headline"]
        server = scenarios.get("Server")
        if server and not server["skipped"]:
            metrics["server_peak_qps"] = server["headline"]
            metrics["server_latency_bound_ms"] = server["latency_bound_ms"]
        if "Offline" in scenarios and not scenarios["Offline"]["skipped"]:
            metrics["offline_qps"] = scenarios["Offline"]["qps"]
            metrics["energy_per_query_j"] = scenarios["Offline"]["energy_per_query_j"]
            metrics["energy_per_sample_j"] = scenarios["Offline"]["energy_per_sample_j"]
            metrics["energy_source"] = scenarios["Offline"]["energy_source"]
        characterization = _characterize(bench)
        metrics["utilization"] = utilization(characterization.get("flops_inference_per_sample"),
                                             metrics.get("offline_qps"), _peak(bench, opts))
        invalid = [f"{name}: {r['invalid_reason']}" for name, r in scenarios.items()
                   if not r["skipped"] and r["valid"] is False]
        store.finish(record_id, "invalid" if invalid else "completed", quality=quality.value, metrics=metrics,
                     characterization=characterization,
                     message=("LoadGen INVALID: " + " | ".join(invalid)) if invalid else None)
    return record_id


def run_smoke_record(bench: Benchmark, opts: RunOptions, store: ResultStore, base: dict[str, Any],
                     console: Console | None) -> int:
    card = bench.SPEC.card
    if console:
        console.print(f"[dim]{card.alias}: smoke run of the {opts.scale} configuration[/dim]")
    with live_record(store, **base, mode="smoke") as record_id:
        window = reset_peaks(bench.device)
        out = run_smoke(bench, opts.out_dir / "loadgen" / f"{card.alias}-{opts.scale}-smoke")
        out["metrics"]["memory"] = peak_memory(bench.device, window)
        out["metrics"]["compute"] = bench.ctx.compute_applied
        if console:
            for warning in out["metrics"]["warnings"]:
                console.print(f"[yellow]warning:[/yellow] {card.alias}: {warning}")
        store.finish(record_id, out.pop("status"), **out)
    return record_id


def _peak(bench: Benchmark, opts: RunOptions) -> dict[str, Any]:
    """The machine's achievable float32 matmul FLOP/s (measured once per machine and thread count, cached)."""
    return achievable_peak(bench.device, opts.cache_dir / "peak_flops.json")


def system_platform(system: dict[str, Any]) -> str:
    gpus = system.get("gpus") or []
    return f"{system.get('cpu_model', 'cpu')} x{system.get('logical_cpus')}" + (
        f" + {gpus[0]['name']} x{len(gpus)}" if gpus else "")


def check_before_run(card: PaperCard, opts: RunOptions, store: ResultStore, console: Console | None) -> None:
    """What must hold before any work starts: the pretrained weights a real run needs, a checkpoint to serve;
    and what the user should read first (a documented choice about the target)."""
    check_pretrained(card, opts)
    check_compute(card, opts, pick_device(opts.device))  # --precision, --compile: what the device can do
    if opts.mode == "infer" and not opts.smoke and not opts.untrained and not latest_checkpoint(store, card,
                                                                                                 opts.scale):
        raise UserError(f"{card.alias}: no checkpoint of a `--mode train` run at scale {opts.scale} in this store "
                        f"and {opts.out_dir / 'checkpoints'}; train first, or pass --untrained to serve a freshly "
                        "initialised model")
    target_choice = registry.spec(card).choices.get("target")
    if console and target_choice and opts.scale != "tiny":  # e.g. a paper target no published system reaches
        console.print(f"[yellow]note:[/yellow] {card.alias} target: {target_choice}")


def run_benchmark(card: PaperCard, opts: RunOptions, store: ResultStore, console: Console | None = None
                  ) -> list[dict[str, Any]]:
    """Every requested repeat and mode of one benchmark; returns the stored records (as dicts).

    A run that fails with an unexpected exception is stored as `error` (traceback in the record), said in one
    line, and ends this benchmark's repeats; bad input (a DataError) is raised on as a UserError."""
    check_before_run(card, opts, store, console)
    if opts.world.is_main:  # one process writes a synthesized set; the others then find it complete
        data_dir = prepare_data(card, opts, console)
    barrier(opts.world)
    if not opts.world.is_main:
        data_dir = prepare_data(card, opts)
    system = system_info()
    first = len(store.created)
    try:
        for repeat in range(opts.repeats):
            seed = opts.seed + repeat
            bench = build(card, opts, data_dir, seed)
            base = _record_base(bench, opts, data_dir, system)
            if opts.smoke:
                run_smoke_record(bench, opts, store, base, console)
                continue
            trained = "untrained"
            if opts.mode in ("train", "all"):
                resumes = run_to_resume(store, card, opts, seed) if opts.resume else None
                record_id, result = run_training(bench, opts, store, base, console, resumes)
                if opts.world.distributed and result.status == "error":
                    # the ranks can no longer agree on what comes next: this process ends, and torchrun stops
                    # the others (the record is stored; a lost peer is said apart from a failure of its own)
                    raise SystemExit(PEER_LOST_EXIT if is_peer_loss(result.message) else 1)
                if not opts.world.is_main:
                    continue
                if result.status == "aborted":
                    raise KeyboardInterrupt
                if result.user_error:  # bad data, a full disk: one line, exit 2 (the record keeps the details)
                    raise UserError(f"{card.alias}: {result.message.split(': ', 1)[-1]}")
                if result.status == "error":
                    _say_error(console, card, result.message, record_id)
                    break
                trained = f"trained ({result.status}, {result.epochs:g} epochs, run #{record_id})"
                if opts.controls:
                    train_control(card, opts, store, data_dir, seed, record_id, result, console)
            if opts.mode in ("infer", "all"):
                run_inference_record(bench, opts, store, base,
                                     (lambda b=bench: _serve_checkpoint(b, card, opts, store))
                                     if opts.mode == "infer" else (lambda t=trained: t), console)
    except UserError:
        raise
    except OSError as err:
        if not environment_error(err):
            _say_error(console, card, one_line(err), None)
        else:  # a full disk or a folder taken away: the user's to fix, said in one line (stored as error)
            raise UserError(f"{card.alias}: {err.filename or opts.out_dir}: {err.strerror} (the run is stored as "
                            "error)") from None
    except Exception as err:  # already stored as `error` by live_record, with its traceback
        _say_error(console, card, one_line(err), None)
    mine = set(store.created[first:])  # every record this call created, the failed ones too
    return [r for r in store.records(benchmark=card.id) if r["id"] in mine]


def train_control(card: PaperCard, opts: RunOptions, store: ResultStore, data_dir: Path, seed: int,
                  record_id: int, method: TrainResult, console: Console | None) -> None:
    """`--controls`: train the benchmark's control after its method's run (untimed for the method: the record is
    already final) and keep it in the method's record as `metrics.control`."""
    spec = registry.spec(card)
    if not spec.control:
        store.merge_metrics(record_id, control={"ablation": None, "why_none": spec.no_control})
        if console:
            console.print(f"[dim]{card.alias}: no control ({spec.no_control})[/dim]")
        return
    bench = build(card, opts, data_dir, seed, control=True)
    max_epochs = bench.control_max_epochs(opts.max_epochs or spec.scale(opts.scale).max_epochs)
    with TrainProgress(f"{card.alias} control", max_epochs, console) as progress:
        control = run_control(bench, method, max_epochs, progress)
    store.merge_metrics(record_id, control=control)
    if console:
        console.print(f"{card.alias} control ({control['ablation']}): {_fmt(control['quality'])} against the "
                      f"method's {_fmt(control['method_quality'])} (target {bench.config.target:g})")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _say_error(console: Console | None, card: PaperCard, message: str, record_id: int | None) -> None:
    where = f"record #{record_id}" if record_id else "its record"
    text = f"aibench: {card.alias}: error: {message} (the traceback is kept in {where}; `aibench results --json`)"
    if console:
        console.print(text, style="red", markup=False, highlight=False)
    else:
        print(text, file=sys.stderr)


def prepare_artefacts(card: PaperCard, opts: RunOptions) -> list[dict[str, Any]]:
    """Build one benchmark's data-set artefacts (`aibench data prepare`); returns what each record will name."""
    bench = build(card, opts, prepare_data(card, opts), opts.seed)
    bench.prepare_artefacts()
    return bench.ctx.artefacts


def run_profile(card: PaperCard, opts: RunOptions, store: ResultStore, steps: int = 3) -> dict[str, Any]:
    """Characterize one benchmark: params, FLOPs, runtime breakdown by kernel category, hardware counters."""
    from aibench.characterize.breakdown import profile_training
    from aibench.characterize.counters import measure

    data_dir = prepare_data(card, opts)
    bench = build(card, opts, data_dir, opts.seed)
    bench.setup()
    info = characterize_compute(bench)  # FLOPs and parameters: the same at every precision
    info["compute"] = apply_compute_options(bench)  # --precision, --channels-last, --compile: what was applied
    info["breakdown"] = profile_training(bench, steps=steps)
    batches = iter(bench.train_batches(0))
    info["counters"] = measure(lambda: [precise_train_step(bench, next(batches)) for _ in range(steps)])
    base = _record_base(bench, opts, data_dir, system_info())
    record_id = store.add(**base, mode="profile", status="completed", quality=None, metrics={},
                          characterization=info)
    return next(r for r in store.records() if r["id"] == record_id)


def _serve_checkpoint(bench: Benchmark, card: PaperCard, opts: RunOptions, store: ResultStore) -> str:
    """Set the benchmark up and load the newest checkpoint of its training runs; says which run it serves."""
    bench.setup()
    found = latest_checkpoint(store, card, opts.scale)
    if found is None:  # only with --untrained: check_before_run refused otherwise
        return "untrained (freshly initialised, --untrained: no checkpoint from an earlier train run)"
    path, run = found
    try:
        state = torch.load(path, map_location=bench.device, weights_only=True)
        bench.load_state_dict(state)
    except Exception as err:  # truncated, corrupt, or another model's weights
        raise UserError(f"{path}: not a usable {card.alias} checkpoint ({one_line(err)[:200]})") from None
    return (f"trained (checkpoint {path} of run #{run['id']}, status {run['status']}, "
            f"{run['metrics'].get('epochs', 0):g} epochs, seed {run['seed']})")
