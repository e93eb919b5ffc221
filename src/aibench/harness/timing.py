"""Clocks that respect asynchronous devices, and the summary statistics the paper's tables use."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence

import torch


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so a wall-clock reading covers the work it claims to."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def now() -> float:
    return time.perf_counter()


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the convention LoadGen uses for latency percentiles)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def olympic_mean(values: Sequence[float]) -> float:
    """Mean after dropping the fastest and slowest run (MLPerf's rule for time-to-train); plain mean below 3 runs."""
    if len(values) < 3:
        return statistics.fmean(values)
    ordered = sorted(values)
    return statistics.fmean(ordered[1:-1])


def variation(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation and coefficient of variation (the paper's Table 5 measure)."""
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "cv": std / mean if mean else math.nan, "n": float(len(values))}
