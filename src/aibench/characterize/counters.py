"""Hardware counters through Linux `perf stat`, where the machine exposes them.

Virtual machines and containers often do not: then every event reads `<not supported>` and the result says
"unavailable" rather than inventing numbers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EVENTS = ("cycles", "instructions", "cache-references", "cache-misses", "branches", "branch-misses")


def parse_perf_csv(text: str) -> dict[str, float | None]:
    """Parse `perf stat -x,` output: value,unit,event,... ; unsupported or not-counted events become None."""
    values: dict[str, float | None] = {}
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) < 3 or line.startswith("#"):
            continue
        raw, event = fields[0].strip(), fields[2].strip()
        event = event.split(":")[0].removesuffix("/u").removesuffix("/k")
        if event not in EVENTS:
            continue
        try:
            values[event] = float(raw)
        except ValueError:  # "<not supported>", "<not counted>"
            values[event] = None
    return values


def derived_metrics(values: dict[str, float | None]) -> dict[str, float | None]:
    def ratio(a: str, b: str) -> float | None:
        x, y = values.get(a), values.get(b)
        return x / y if x is not None and y else None

    return {"ipc": ratio("instructions", "cycles"), "cache_miss_rate": ratio("cache-misses", "cache-references"),
            "branch_miss_rate": ratio("branch-misses", "branches")}


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)


def measure(work: Callable[[], Any], perf: str | None = None) -> dict[str, Any]:
    """Count EVENTS for this process while `work` runs; {"status": "unavailable", ...} where perf cannot."""
    perf = perf or shutil.which("perf")
    if perf is None:
        return {"status": "unavailable", "reason": "perf is not installed"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "perf.csv"
        proc = subprocess.Popen([perf, "stat", "-x,", "-o", str(out), "-e", ",".join(EVENTS), "-p", str(os.getpid())],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_for(out, proc)  # perf opens its output once attached; counting starts before the work does
        try:
            work()
        finally:
            proc.send_signal(signal.SIGINT)  # perf prints its counts when interrupted
            _, err = proc.communicate(timeout=30)
        text = out.read_text() if out.exists() else ""
    values = parse_perf_csv(text)
    if not values or all(v is None for v in values.values()):
        reason = (err.decode(errors="replace").strip().splitlines() or ["events not supported"])[-1]
        return {"status": "unavailable", "reason": reason, "events": values}
    return {"status": "measured", "events": values, **derived_metrics(values)}
