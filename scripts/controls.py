#!/usr/bin/env python
"""Run benchmarks' controls at tiny and print one table: does the paper's method beat its ablation?

For each benchmark and seed this runs the real command,
    python -m aibench run CN --scale tiny --controls --threads 1 --seed S --out OUT/CN-S
reads the stored record back (`python -m aibench results --json --out OUT/CN-S`) and prints the control's best
quality, the method's quality, the target, the margin the method won by, the margin the spec requires, the verdict
and the wall time of the command (method and control together). Run it from the checkout whose sources you mean to
measure, with PYTHONPATH pointing at its src/:

    PYTHONPATH=$PWD/src python scripts/controls.py C16 C17 --seeds 0 1 2

Exit status: 0 when every row passes (a control that diverged before any evaluation counts as the method winning),
1 when one does not (or a run failed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# verdicts where the method beat its control (a control that diverged before any evaluation has no quality: it lost)
PASSING = ("pass", "control diverged")
COLUMNS = ("benchmark", "seed", "control", "method", "target", "margin", "required", "verdict", "time_s")


def run_one(alias: str, seed: int, out: Path) -> tuple[dict[str, Any] | None, float, str]:
    """Train the method and its control once; the stored training record, the wall time and any error text (a run
    that misses its target exits non-zero but still stores its record, control included)."""
    command = [sys.executable, "-m", "aibench", "run", alias, "--scale", "tiny", "--controls", "--threads", "1",
               "--seed", str(seed), "--out", str(out)]
    t0 = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.monotonic() - t0
    listed = subprocess.run([sys.executable, "-m", "aibench", "results", "--json", "--out", str(out)],
                            capture_output=True, text=True)
    records = [r for r in json.loads(listed.stdout or "[]") if r["mode"] == "train"] if listed.returncode == 0 else []
    if records:
        return records[-1], wall, ""
    return None, wall, (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]


def row(alias: str, seed: int, record: dict[str, Any] | None, wall: float, error: str) -> dict[str, Any]:
    """One table row; the verdict is the record's own `method_wins` (the harness compares margin and required)."""
    control = (record or {}).get("metrics", {}).get("control") or {}
    if error or not control:
        verdict = f"error: {error or 'no control stored'}"
    elif record["status"] != "success":
        verdict = f"FAIL: the method's run ended {record['status']}"
    elif control.get("ablation") is None:
        verdict = f"no control: {control.get('why_none')}"
    elif control.get("status") == "diverged" and control.get("quality") is None:
        verdict = "control diverged"  # the ablation did not train at all: the harness counts it as the method winning
    elif control.get("status") == "success":
        verdict = "FAIL: the control alone reaches the target"
    elif control.get("method_wins") is None:
        verdict = "no required margin in the spec" if control.get("margin") is not None else "not comparable"
    else:
        verdict = "pass" if control["method_wins"] else "FAIL"
    return {"benchmark": alias, "seed": seed, "control": control.get("quality"),
            "method": (record or {}).get("quality"), "target": (record or {}).get("target"),
            "margin": control.get("margin"), "required": control.get("required_margin"), "verdict": verdict,
            "time_s": wall, "method_status": (record or {}).get("status")}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    cells = [[_cell(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)))
    for line in cells:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmarks", nargs="+", help="benchmark aliases, e.g. C16 C17")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the runs' results (default: a new temporary folder)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="aibench-controls-"))
    rows = []
    for alias in args.benchmarks:
        for seed in args.seeds:
            rows.append(row(alias, seed, *run_one(alias, seed, out / f"{alias}-{seed}")))
            print(f"# {alias} seed {seed}: {rows[-1]['verdict']} ({rows[-1]['time_s']:.0f} s)", file=sys.stderr,
                  flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(f"# load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; results under {out}")
        print_table(rows)
    return 0 if all(r["verdict"] in PASSING for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
