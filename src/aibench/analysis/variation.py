"""Run-to-run variation over repeated training runs (the paper's Table 5, MLPerf's olympic scoring)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aibench.harness.timing import olympic_mean, variation


def summarize_repeats(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per benchmark and scale: runs, successes, epochs-to-quality mean/std/CV, olympic mean time-to-quality.

    Only successful runs have an epochs-to-quality; the others are counted, not averaged in.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r["mode"] == "train":
            groups[(r["benchmark"], r["scale"])].append(r)
    summary = []
    for (bench, scale), runs in sorted(groups.items()):
        ok = [r for r in runs if r["status"] == "success"]
        row: dict[str, Any] = {"benchmark": bench, "scale": scale, "runs": len(runs), "successes": len(ok),
                               "seeds": [r["seed"] for r in runs]}
        if ok:
            epochs = variation([r["metrics"]["epochs_to_quality"] for r in ok])
            row.update(epochs_mean=epochs["mean"], epochs_std=epochs["std"], epochs_cv=epochs["cv"],
                       ttq_olympic_mean_s=olympic_mean([r["metrics"]["time_to_quality_s"] for r in ok]))
        summary.append(row)
    return summary
