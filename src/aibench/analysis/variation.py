"""Run-to-run variation over repeated training runs (the paper's Table 5, MLPerf's olympic scoring).

Runs are compared only with runs of the same fingerprint: the same configuration (scale config, max epochs, device,
mode), the same system (CPU model, GPUs, CUDA and library versions) and the same code version. The seed is left out,
since varying it is what a repeat is. Within a group a seed counts once (its latest record).

MLPerf's training rules score a set of runs by the olympic mean of time to train: the fastest and slowest runs are
dropped. At most one run may fail to converge; it counts as the slowest and is dropped. With more than one
non-converged run the set gives no result.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections import defaultdict
from typing import Any

from aibench.harness.timing import olympic_mean, variation

NEEDS_TWO = "n/a (1 run)"  # printed in place of a statistic (std, CV) that one run cannot give

CONFIG_KEYS = ("scale_config", "max_epochs", "device", "mode", "pretrained")  # runs from other weights never pool
SYSTEM_KEYS = ("cpu_model", "gpus", "cuda", "libraries")
# Every finished training run other than "success" (target_missed, diverged, error) did not converge. "aborted"
# (Ctrl-C) is not a finished run and is left out with a note; smoke records are configuration checks, never results.
NOT_A_RUN = ("aborted",)


def fingerprint_parts(record: dict[str, Any]) -> dict[str, Any]:
    """What must match for two runs to be repeats of each other (everything but the seed)."""
    config = record.get("config") or {}
    system = record.get("system") or {}
    return {
        "config": {k: config.get(k) for k in CONFIG_KEYS},
        "system": {k: system.get(k) for k in SYSTEM_KEYS},
        "code_version": system.get("code_version"),
    }


def fingerprint(record: dict[str, Any]) -> str:
    """A short hash of fingerprint_parts (10 hex digits)."""
    return short_hash(fingerprint_parts(record))


def short_hash(parts: dict[str, Any]) -> str:
    """10 hex digits of a SHA-256 over the parts as sorted JSON: the same parts, the same hash, on any machine."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _is_smoke(record: dict[str, Any]) -> bool:
    return (record.get("mode") == "smoke" or record.get("status") == "smoke"
            or bool((record.get("config") or {}).get("smoke")))


def _order(indexed: tuple[int, dict[str, Any]]) -> tuple[str, int, int]:
    """Oldest first: by creation time, then store id, then position in the list given."""
    i, r = indexed
    rid = r.get("id")
    return (str(r.get("created_at") or ""), rid if isinstance(rid, int) else -1, i)


def _olympic(times: list[float], non_converged: int) -> dict[str, Any]:
    """MLPerf's olympic mean of time to quality, with its convergence rule.

    ``times`` are the converged runs' times; ``non_converged`` runs have none (they count as infinitely slow).
    """
    n = len(times) + non_converged
    if non_converged > 1:
        return {"valid": False, "ttq": None,
                "reason": f"{non_converged} of {n} runs did not converge (MLPerf allows at most 1): no result"}
    if not times:
        return {"valid": False, "ttq": None, "reason": "no run converged: no result"}
    if non_converged == 1:
        if n < 3:
            return {"valid": False, "ttq": None,
                    "reason": f"1 of {n} runs did not converge and the olympic mean drops it only from 3 or more "
                              f"runs: no result"}
        # The non-converged run is the slowest and is dropped; then the fastest converged run.
        kept = sorted(times)[1:]
        return {"valid": True, "ttq": statistics.fmean(kept), "reason": None,
                "note": "1 run did not converge: dropped as the slowest (MLPerf)"}
    note = None if n >= 3 else f"{n} run{'s' if n > 1 else ''}: plain mean, nothing dropped (olympic needs 3)"
    return {"valid": True, "ttq": olympic_mean(times), "reason": None, "note": note}


def summarize_repeats(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per benchmark, scale and fingerprint: runs, successes, epochs-to-quality mean/std/CV, olympic time to quality.

    Only training records count; smoke records never do. Only successful runs have an epochs-to-quality; the others
    are counted, not averaged in. Each row carries ``fingerprint`` (short hash), ``fingerprint_parts`` and
    ``distinguished_by`` (the fingerprint fields whose values tell this group from other groups of the same
    benchmark, with this group's values), ``valid``/``reason`` (MLPerf's convergence rule) and ``notes``.
    Statistics that need two runs (std, CV) are None from one run, with ``epochs_spread_reason`` "n/a (1 run)".
    """
    groups: dict[tuple[str, str, str], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    aborted: dict[tuple[str, str, str], int] = defaultdict(int)
    first_seen: dict[tuple[str, str, str], int] = {}
    for i, r in enumerate(records):
        if r.get("mode") != "train" or _is_smoke(r) or r.get("status") == "running":  # running: not a run yet
            continue
        key = (r["benchmark"], r["scale"], fingerprint(r))
        first_seen.setdefault(key, i)
        if r.get("status") in NOT_A_RUN:
            aborted[key] += 1
            continue
        groups[key].append((i, r))
    for key in aborted:
        groups.setdefault(key, [])

    # Which fingerprint fields tell apart the groups of one benchmark.
    flat = {key: _flatten({"scale": key[1], **fingerprint_parts(next(iter(runs))[1])}) if runs else {}
            for key, runs in groups.items()}
    by_bench: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for key in groups:
        by_bench[key[0]].append(key)

    summary = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], first_seen[k])):
        bench, scale, fp = key
        notes: list[str] = []
        latest: dict[Any, dict[str, Any]] = {}
        count: dict[Any, int] = defaultdict(int)
        for _, r in sorted(groups[key], key=_order):
            latest[r.get("seed")] = r  # a later record of the same seed replaces the earlier one
            count[r.get("seed")] += 1
        runs = sorted(latest.values(), key=lambda r: _order((0, r)))
        duplicates = {seed: n for seed, n in count.items() if n > 1}
        if duplicates:
            notes.append("repeated seed counted once (latest record): "
                         + ", ".join(f"seed {s} x{n}" for s, n in duplicates.items()))
        if aborted.get(key):
            notes.append(f"{aborted[key]} aborted run(s) left out")

        others = [k for k in by_bench[bench] if k != key and flat[k]]
        distinguished = {}
        if others and flat[key]:
            paths = set(flat[key]).union(*(flat[k] for k in others))
            distinguished = {p: flat[key].get(p) for p in sorted(paths)
                             if any(flat[k].get(p) != flat[key].get(p) for k in others)}

        ok = [r for r in runs if r.get("status") == "success"]
        row: dict[str, Any] = {
            "benchmark": bench, "scale": scale, "fingerprint": fp,
            "fingerprint_parts": fingerprint_parts(runs[0]) if runs else None,
            "distinguished_by": distinguished,
            "runs": len(runs), "successes": len(ok), "non_converged": len(runs) - len(ok),
            "seeds": [r.get("seed") for r in runs], "duplicates_dropped": sum(n - 1 for n in duplicates.values()),
            "epochs_mean": None, "epochs_std": None, "epochs_cv": None, "epochs_spread_reason": None,
            "ttq_olympic_mean_s": None,
        }
        if ok:
            epochs = variation([r["metrics"]["epochs_to_quality"] for r in ok])
            row["epochs_mean"] = epochs["mean"]
            if len(ok) >= 2:
                row.update(epochs_std=epochs["std"], epochs_cv=epochs["cv"])
            else:
                row["epochs_spread_reason"] = NEEDS_TWO
        if runs:
            olympic = _olympic([r["metrics"]["time_to_quality_s"] for r in ok], len(runs) - len(ok))
            row.update(valid=olympic["valid"], reason=olympic["reason"], ttq_olympic_mean_s=olympic["ttq"])
            if olympic.get("note"):
                notes.append(olympic["note"])
        else:
            row.update(valid=False, reason="no finished run")
        row["notes"] = notes
        summary.append(row)
    return summary
