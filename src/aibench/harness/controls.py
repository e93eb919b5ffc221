"""Controls: the benchmark trained without the paper's key part, beside the method, so a reader can see that the
method is what reaches the target (`aibench run --controls`).

A control is the same benchmark class built with `RunContext.control = True` (the benchmark drops the part its spec's
`control` text names: a localisation network, the depth channel, the teacher), trained by the same loop on the same
data, seed and budget as the method (the benchmark's control_max_epochs may give it fewer epochs: C16's student alone
gets its student's epochs, not its teacher's), outside the timed run. Its quality is the best any of its evaluations
reached, so the margin the method wins by is never flattered by an unlucky last epoch of the control. A control that
diverges before any evaluation has no quality and so no margin: it failed to train at all under the method's budget, so
it counts as the method winning (`method_wins` True, `status` "diverged"), whatever margin is required.
"""

from __future__ import annotations

from typing import Any

from aibench.benchmarks.base import Benchmark
from aibench.harness.train import TrainResult, train
from aibench.results.mllog import NullLog


def best_quality(curve: list[dict[str, Any]], higher_is_better: bool) -> float | None:
    """The best quality among a curve's evaluations (None when it has none)."""
    values = [p["quality"] for p in curve if p.get("quality") is not None]
    if not values:
        return None
    return max(values) if higher_is_better else min(values)


def method_margin(method: float | None, control: float | None, higher_is_better: bool) -> float | None:
    """How far the method's quality is ahead of the control's, in the metric's better direction."""
    if method is None or control is None:
        return None
    return method - control if higher_is_better else control - method


def method_wins(margin: float | None, required: float | None, control_diverged: bool) -> bool | None:
    """Whether the method beat its control: by the required margin, or because the control diverged without a
    quality while the method reached one (None when nothing can be compared or no margin is required)."""
    if control_diverged:
        return True
    if margin is None or required is None:
        return None
    return bool(margin >= required)


def run_control(bench: Benchmark, method: TrainResult, max_epochs: int, progress: Any = None) -> dict[str, Any]:
    """Train `bench` (built as a control) under the method's budget; the control's record entry."""
    card, cfg = bench.SPEC.card, bench.config
    result = train(bench, NullLog(), progress=progress, max_epochs=max_epochs)
    best = best_quality(result.curve, card.higher_is_better)
    margin = method_margin(method.quality, best, card.higher_is_better)
    required = cfg.control_margin
    # no evaluation before a non-finite loss: the ablation did not train; the method, with a quality, wins
    diverged = result.status == "diverged" and best is None and method.quality is not None
    return {
        "ablation": bench.SPEC.control,
        "status": result.status,  # success here means the control reached the target: the method is not needed
        "quality": best,
        "final_quality": result.quality,
        "method_quality": method.quality,
        "margin": margin,
        "required_margin": required,
        "method_wins": method_wins(margin, required, diverged),
        "epochs": result.epochs,
        "training_time_s": result.run_time_s,
        "curve": [{"epoch": p.get("epoch"), "quality": p.get("quality")} for p in result.curve],
        "message": result.message or None,
    }
