"""Peak-QPS search for LoadGen's Server scenario: the highest `server_target_qps` whose run is VALID.

A bracketing search in the spirit of LoadGen's FindPeakPerformance mode, but with each step a whole LoadGen
run we can record: from a starting guess, double while runs are VALID (or halve while INVALID, down to the
floor: the lowest target a step can afford, tried itself before the search gives up) until one VALID and one
INVALID target bracket the peak, then bisect the bracket (geometrically) until it is narrower than
`precision` or the step budget is spent. The number of LoadGen runs never exceeds `max_steps`, so the search
ends in bounded time whatever the machine does; every tried QPS is returned with its outcome.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class SearchStep:
    target_qps: float
    valid: bool
    result: Any  # what run_at returned (a ScenarioResult for aibench's Server runs)


@dataclass
class SearchOutcome:
    steps: list[SearchStep]
    peak: SearchStep | None  # the VALID step with the highest target QPS; None when no step was VALID
    bracket: tuple[float | None, float | None]  # (highest VALID, lowest INVALID above it) target QPS

    @property
    def peak_qps(self) -> float | None:
        return self.peak.target_qps if self.peak else None


def find_peak_qps(run_at: Callable[[float], tuple[bool, Any]], start_qps: float, max_steps: int = 8,
                  precision: float = 0.05, floor_qps: float = 1e-3,
                  affordable: Callable[[float], bool] | None = None) -> SearchOutcome:
    """`run_at(qps) -> (valid, result)` is one LoadGen Server run at that target; `affordable(qps)` says whether
    a run at that target still fits the search's time (a low target takes long: LoadGen's query minimum at a
    low rate), else the search ends there. The time budget binds only once a step is VALID: before that,
    `floor_qps` and `max_steps` bound the search, since stopping early would report the scenario INVALID for lack
    of search time rather than of serving capacity."""
    if start_qps <= 0 or max_steps < 1:
        raise ValueError("the search needs a positive starting QPS and at least one step")
    steps: list[SearchStep] = []
    lo: float | None = None  # highest VALID target so far
    hi: float | None = None  # lowest INVALID target above lo
    qps = start_qps
    while len(steps) < max_steps:
        if lo is not None and affordable is not None and not affordable(qps):
            break
        valid, result = run_at(qps)
        steps.append(SearchStep(qps, valid, result))
        if valid:
            lo = qps if lo is None else max(lo, qps)
        elif hi is None or qps < hi:
            hi = qps
        if lo is not None and hi is not None and hi <= lo:
            hi = None  # an INVALID run below a VALID one (noise): keep looking above the VALID one
        if lo is None:
            lower = qps / 2
            if lower < floor_qps:  # halving would pass the floor: the floor itself is the last target worth a try
                if qps <= floor_qps * (1 + precision):
                    break
                lower = floor_qps
            qps = lower
        elif hi is None:
            qps = lo * 2
        else:
            if hi / lo <= 1 + precision:
                break
            qps = math.sqrt(lo * hi)
    valid_steps = [s for s in steps if s.valid]
    peak = max(valid_steps, key=lambda s: s.target_qps) if valid_steps else None
    return SearchOutcome(steps=steps, peak=peak, bracket=(lo, hi))
