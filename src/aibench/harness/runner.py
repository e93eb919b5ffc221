"""Runs selected benchmarks end to end: data, training, inference, characterization, and storing records.

This is the library entry point the CLI calls; each step is a short function so other front ends can reuse it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import random
import shutil
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
from aibench.harness.energy import EnergyMeter
from aibench.harness.infer import InferSettings, run_inference
from aibench.harness.memory import peak_memory, reset_peaks
from aibench.harness.preserve import model_state_preserved
from aibench.harness.progress import TrainProgress
from aibench.harness.smoke import run_smoke, smoke_context
from aibench.harness.train import TrainResult, train
from aibench.results.mllog import RunLog, lowest_precision
from aibench.results.store import DEFAULT_DIR, ResultStore
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
    marker, fingerprint = path / ".aibench-complete", synthesis_fingerprint(cfg)
    # the marker holds the fingerprint of the settings the set was written with: a set cached by an older
    # spec (other sizes or counts) is written again rather than silently measured
    if not marker.exists() or marker.read_text().strip() != fingerprint:
        if console:
            console.print(f"[dim]{card.alias}: writing the tiny synthetic data set to {path}[/dim]")
        synthesize(card, path, opts.scale, seed=1234)  # fixed: every run reads the same tiny set
        marker.write_text(fingerprint + "\n")
    cls.check_data(path, cfg)
    return path


def synthesis_fingerprint(cfg: ScaleConfig) -> str:
    """A short hash of the scale's hyperparameters, which hold what synthesize() writes."""
    text = json.dumps(cfg.hparams, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def synthesis_config(cfg: ScaleConfig, scale: str) -> ScaleConfig:
    """What synthesize() writes at a scale: tiny's own settings, or at small/full the smoke sizes (a small set
    shaped like the real one) merged over the scale's hyperparameters."""
    if scale == "tiny":
        return cfg
    return dataclasses.replace(cfg, hparams={**cfg.hparams, **cfg.smoke.synth})


def synthesize(card: PaperCard, path: Path, scale: str, seed: int) -> None:
    """Write a data set atomically: a half-written directory is never mistaken for a complete one."""
    cls = registry.benchmark_class(card)
    cfg = synthesis_config(registry.spec(card).scale(scale), scale)
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    cls.synthesize(tmp, cfg, seed)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def build(card: PaperCard, opts: RunOptions, data_dir: Path, seed: int) -> Benchmark:
    cls = registry.benchmark_class(card)
    cfg = registry.spec(card).scale(opts.scale)
    device, pretrained = pick_device(opts.device), opts.pretrained.get(card.alias)
    seed_everything(seed)
    if opts.smoke:
        ctx = smoke_context(opts.scale, cfg, data_dir, seed, str(device), pretrained)
        return cls(dataclasses.replace(ctx, cache_dir=opts.cache_dir))
    return cls(RunContext(scale=opts.scale, config=cfg, data_dir=data_dir, device=device, seed=seed,
                          pretrained=pretrained, cache_dir=opts.cache_dir))


def check_pretrained(card: PaperCard, opts: RunOptions) -> None:
    """A real small/full run whose reference starts from pretrained weights refuses to start without them."""
    needed = registry.spec(card).scale(opts.scale).pretrained
    if needed and not opts.smoke and card.alias not in opts.pretrained:
        raise UserError(f"{card.alias} at scale {opts.scale} starts from {needed}: pass --pretrained "
                        f"{card.alias}=PATH (or --smoke to check the configuration from random weights)")


def _checkpoint_path(card: PaperCard, opts: RunOptions) -> Path:
    return opts.out_dir / "checkpoints" / f"{card.alias}-{opts.scale}.pt"


def _record_base(bench: Benchmark, opts: RunOptions, data_dir: Path, system: dict[str, Any]) -> dict[str, Any]:
    card = bench.SPEC.card
    return {
        "benchmark": card.id, "name": card.name, "scale": opts.scale, "metric": card.metric,
        "target": bench.config.target, "seed": bench.ctx.seed, "system": system,
        "config": {"scale_config": dataclasses.asdict(bench.config), "data_dir": str(data_dir),
                   "device": str(bench.device), "max_epochs": opts.max_epochs or bench.config.max_epochs,
                   "mode": opts.mode, "paper_target": card.paper_target, "smoke": opts.smoke,
                   "pretrained": str(bench.ctx.pretrained) if bench.ctx.pretrained else None},
    }


def run_training(bench: Benchmark, opts: RunOptions, store: ResultStore, base: dict[str, Any],
                 console: Console | None) -> tuple[int, TrainResult]:
    card = bench.SPEC.card
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    log = RunLog(opts.out_dir / "logs" / f"{card.alias}-{opts.scale}-{stamp}-seed{bench.ctx.seed}.mllog")
    log.submission(card.name, system_platform(base["system"]), f"{card.alias}:{opts.scale}",
                   bench.config.batch_size, precision=lowest_precision(bench.device.type))
    max_epochs = opts.max_epochs or bench.config.max_epochs
    window = reset_peaks(bench.device)
    try:
        with TrainProgress(card.alias, max_epochs, console) as progress:
            result = train(bench, log, progress=progress, max_epochs=max_epochs)
    finally:
        log.close()
    if console and result.stability_warning:
        console.print(f"[yellow]warning:[/yellow] {card.alias}: {result.stability_warning}")
    with model_state_preserved(bench):  # the checkpoint and the served model are the trained model
        characterization = characterize_compute(bench)
    metrics = result.metrics()
    metrics["memory"] = peak_memory(bench.device, window)
    metrics["utilization"] = utilization(characterization.get("flops_train_per_sample"),
                                         result.throughput_samples_per_s, _peak(bench, opts))
    metrics["details"] = bench.describe()
    metrics["artefacts"] = bench.ctx.artefacts  # data-set artefacts built before the clock, named and keyed
    record_id = store.add(**base, mode="train", status=result.status, quality=result.quality,
                          metrics=metrics, curve=result.curve, characterization=characterization,
                          log_path=str(log.path))
    if result.status not in ("aborted", "error"):  # only trained weights become the served checkpoint
        path = _checkpoint_path(card, opts)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(bench.state_dict(), path)
        # which run the weights come from, so a later `--mode infer` record can name it
        path.with_suffix(".json").write_text(json.dumps(
            {"record_id": record_id, "status": result.status, "epochs": result.epochs, "quality": result.quality,
             "seed": bench.ctx.seed, "saved_at": dt.datetime.now().isoformat(timespec="seconds")}))
    return record_id, result


def run_inference_record(bench: Benchmark, opts: RunOptions, store: ResultStore, base: dict[str, Any],
                         trained: str) -> int:
    card = bench.SPEC.card
    settings = dataclasses.replace(opts.infer, log_dir=opts.out_dir / "loadgen" / f"{card.alias}-{opts.scale}")
    window = reset_peaks(bench.device)
    out = run_inference(bench, bench.device, settings, EnergyMeter(device=bench.device))
    scenarios = {name: dataclasses.asdict(r) for name, r in out["scenarios"].items()}
    quality = out["quality"]
    metrics: dict[str, Any] = {"model_state": trained, "scenarios": scenarios, "quality_extra": quality.extra,
                               "accuracy_samples": out["samples"], "loadgen_log_dir": out["log_dir"],
                               "memory": peak_memory(bench.device, window)}
    single = scenarios.get("SingleStream")
    if single:
        metrics["latency_ms"] = single["latency_ms"]
        metrics["single_stream_qps"] = single["qps"]
    if "Offline" in scenarios:
        metrics["offline_qps"] = scenarios["Offline"]["qps"]
        metrics["energy_per_query_j"] = scenarios["Offline"]["energy_per_query_j"]
        metrics["energy_per_sample_j"] = scenarios["Offline"]["energy_per_sample_j"]
        metrics["energy_source"] = scenarios["Offline"]["energy_source"]
    status = "completed"
    with model_state_preserved(bench):
        characterization = characterize_compute(bench)
    metrics["utilization"] = utilization(characterization.get("flops_inference_per_sample"),
                                         metrics.get("offline_qps"), _peak(bench, opts))
    return store.add(**base, mode="infer", status=status, quality=quality.value, metrics=metrics,
                     characterization=characterization, curve=[])


def run_smoke_record(bench: Benchmark, opts: RunOptions, store: ResultStore, base: dict[str, Any],
                     console: Console | None) -> int:
    card = bench.SPEC.card
    if console:
        console.print(f"[dim]{card.alias}: smoke run of the {opts.scale} configuration[/dim]")
    window = reset_peaks(bench.device)
    out = run_smoke(bench, opts.out_dir / "loadgen" / f"{card.alias}-{opts.scale}-smoke")
    out["metrics"]["memory"] = peak_memory(bench.device, window)
    if console:
        for warning in out["metrics"]["warnings"]:
            console.print(f"[yellow]warning:[/yellow] {card.alias}: {warning}")
    return store.add(**base, mode="smoke", **out, curve=[])


def _peak(bench: Benchmark, opts: RunOptions) -> dict[str, Any]:
    """The machine's achievable float32 matmul FLOP/s (measured once per machine and thread count, cached)."""
    return achievable_peak(bench.device, opts.cache_dir / "peak_flops.json")


def system_platform(system: dict[str, Any]) -> str:
    gpus = system.get("gpus") or []
    return f"{system.get('cpu_model', 'cpu')} x{system.get('logical_cpus')}" + (
        f" + {gpus[0]['name']} x{len(gpus)}" if gpus else "")


def check_before_run(card: PaperCard, opts: RunOptions, console: Console | None) -> None:
    """What must hold before any work starts: the pretrained weights a real run needs, a checkpoint to serve;
    and what the user should read first (a documented choice about the target)."""
    check_pretrained(card, opts)
    if opts.mode == "infer" and not opts.smoke and not opts.untrained and not _checkpoint_path(card, opts).exists():
        raise UserError(f"{card.alias}: no checkpoint {_checkpoint_path(card, opts)} from a `--mode train` run at "
                        f"scale {opts.scale}; train first, or pass --untrained to serve a freshly initialised model")
    target_choice = registry.spec(card).choices.get("target")
    if console and target_choice and opts.scale != "tiny":  # e.g. a paper target no published system reaches
        console.print(f"[yellow]note:[/yellow] {card.alias} target: {target_choice}")


def run_benchmark(card: PaperCard, opts: RunOptions, store: ResultStore, console: Console | None = None
                  ) -> list[dict[str, Any]]:
    """Every requested repeat and mode of one benchmark; returns the stored records (as dicts)."""
    check_before_run(card, opts, console)
    data_dir = prepare_data(card, opts, console)
    system = system_info()
    ids: list[int] = []
    for repeat in range(opts.repeats):
        seed = opts.seed + repeat
        bench = build(card, opts, data_dir, seed)
        base = _record_base(bench, opts, data_dir, system)
        if opts.smoke:
            ids.append(run_smoke_record(bench, opts, store, base, console))
            continue
        trained = "untrained"
        if opts.mode in ("train", "all"):
            record_id, result = run_training(bench, opts, store, base, console)
            ids.append(record_id)
            if result.status == "aborted":
                raise KeyboardInterrupt
            trained = f"trained ({result.status}, {result.epochs} epochs)"
        if opts.mode in ("infer", "all"):
            if opts.mode == "infer":
                bench.setup()
                trained = _load_checkpoint(bench, card, opts)
            ids.append(run_inference_record(bench, opts, store, base, trained))
    return [r for r in store.records() if r["id"] in ids]


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
    info = characterize_compute(bench)
    info["breakdown"] = profile_training(bench, steps=steps)
    batches = iter(bench.train_batches(0))
    info["counters"] = measure(lambda: [bench.train_step(next(batches)) for _ in range(steps)])
    base = _record_base(bench, opts, data_dir, system_info())
    record_id = store.add(**base, mode="profile", status="completed", quality=None, metrics={},
                          characterization=info)
    return next(r for r in store.records() if r["id"] == record_id)


def _load_checkpoint(bench: Benchmark, card: PaperCard, opts: RunOptions) -> str:
    path = _checkpoint_path(card, opts)
    if not path.exists():  # only with --untrained: run_benchmark refused otherwise
        return "untrained (freshly initialised, --untrained: no checkpoint from an earlier train run)"
    bench.load_state_dict(torch.load(path, map_location=bench.device))
    origin = path.with_suffix(".json")
    if not origin.exists():
        return f"trained (checkpoint {path}; the run that wrote it is not recorded)"
    run = json.loads(origin.read_text())
    return (f"trained (checkpoint {path} of run #{run['record_id']}, status {run['status']}, "
            f"{run['epochs']:g} epochs, seed {run['seed']})")
