"""The full-size smoke run (`aibench run ... --scale small|full --smoke`): proves a configuration builds, steps,
evaluates and serves before anyone rents GPUs for it.

It runs the scale's real model, optimizer and schedule for a few optimizer steps at a small batch, one evaluation
on a few samples and a LoadGen pass of a few queries (exempt from any minimum duration), and stores one record with
status `smoke`: never a result, so no table or comparison mistakes it for one.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import torch

from aibench.benchmarks.base import Benchmark, RunContext
from aibench.characterize.flops import characterize_compute
from aibench.errors import UserError
from aibench.harness.energy import EnergyMeter
from aibench.harness.infer import InferSettings, run_inference
from aibench.harness.precision import apply_compute_options, train_step as precise_train_step
from aibench.harness.preserve import model_state_preserved
from aibench.harness.timing import now, synchronize
from aibench.harness.train import evaluate_untracked
from aibench.spec import ScaleConfig


def smoke_config(cfg: ScaleConfig) -> ScaleConfig:
    """The scale's configuration with the smoke run's batch, query count and (rare) overrides."""
    return dataclasses.replace(cfg, batch_size=cfg.smoke.batch_size, inference_samples=cfg.smoke.queries,
                               warmup_steps=0, hparams={**cfg.hparams, **cfg.smoke.hparams})


def smoke_context(scale: str, cfg: ScaleConfig, data_dir: Path, seed: int = 0, device: str = "cpu",
                  pretrained: Path | None = None) -> RunContext:
    """The run context of a smoke run of `cfg` (the scale's own configuration): its smoke batch and overrides, and
    the evaluation limited to the smoke run's few samples."""
    config = smoke_config(cfg)
    return RunContext(scale=scale, config=config, data_dir=data_dir, device=torch.device(device), seed=seed,
                      smoke=True, eval_limit=config.smoke.eval_samples, pretrained=pretrained)


def smoke_infer_settings(cfg: ScaleConfig, log_dir: Path) -> InferSettings:
    """A LoadGen pass of a few queries: no minimum duration, SingleStream and Offline."""
    return InferSettings(scenarios=("SingleStream", "Offline"), min_duration_ms=0,
                         min_query_count=cfg.smoke.queries, offline_batch_size=min(16, cfg.smoke.queries),
                         log_dir=log_dir, calibrate=False)


def _train_steps(bench: Benchmark, steps: int) -> tuple[list[float], list[float], int]:
    """A few optimizer steps from the first epoch's batches: losses, step times and samples."""
    losses: list[float] = []
    times: list[float] = []
    samples = 0
    bench.train_mode(True)
    batches = iter(bench.train_batches(0))
    for _ in range(steps):
        try:
            batch = next(batches)
        except StopIteration:
            break
        start = now()
        out = precise_train_step(bench, batch)
        synchronize(bench.device)
        times.append(now() - start)
        losses.append(out.loss)
        samples += out.samples
    return losses, times, samples


def run_smoke(bench: Benchmark, log_dir: Path) -> dict[str, Any]:
    """Set up, step, evaluate and serve once; returns the record's status, quality, metrics and characterization."""
    cfg = bench.config
    if cfg.pretrained and bench.ctx.pretrained is None:
        bench.warn(f"no --pretrained {bench.SPEC.card.alias}=PATH: random initial weights instead of "
                   f"{cfg.pretrained.split(';')[0]}")  # the what, without the how-to-get
    start = now()
    bench.setup()
    init_s = now() - start
    apply_compute_options(bench)
    losses, step_times, samples = _train_steps(bench, cfg.smoke.steps)
    if not losses:
        raise UserError(f"{bench.SPEC.card.alias}: the training data gave no batch of {cfg.batch_size}")
    finite = all(math.isfinite(loss) for loss in losses)
    start = now()
    quality = evaluate_untracked(bench)
    eval_s = now() - start
    with model_state_preserved(bench):  # the LoadGen pass serves the model the steps left
        characterization = characterize_compute(bench)
    served = run_inference(bench, bench.device, smoke_infer_settings(cfg, log_dir),
                           EnergyMeter(device=bench.device))
    scenarios = {name: dataclasses.asdict(r) for name, r in served["scenarios"].items()}
    metrics = {
        "smoke": {"init_time_s": init_s, "steps": len(losses), "losses": losses, "step_times_s": step_times,
                  "samples_trained": samples, "batch_size": cfg.batch_size, "eval_time_s": eval_s,
                  "eval_samples": quality.samples, "eval_quality_extra": quality.extra,
                  "infer_quality": served["quality"].value, "accuracy_samples": served["samples"]},
        "scenarios": scenarios, "loadgen_log_dir": served["log_dir"],
        "warnings": list(bench.ctx.warnings), "details": bench.describe(),
    }
    status = "smoke" if finite and math.isfinite(quality.value) else "diverged"
    return {"status": status, "quality": quality.value, "metrics": metrics, "characterization": characterization}
