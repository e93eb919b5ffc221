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


def _catches_sigint(pid: int) -> bool | None:
    """Whether process `pid` has installed a SIGINT handler (Linux /proc); None where that cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signal.SIGINT - 1) & 1)
    except (OSError, ValueError):
        pass
    return None


def _wait_until_ready(path: Path, proc: subprocess.Popen, seconds: float) -> None:
    """Wait (at most `seconds`) until perf has opened its output and then installed its SIGINT handler.

    perf stat opens its output file first, then installs the handler, then attaches; a SIGINT between the two kills
    it without counts (or, where SIGINT was inherited as ignored, is lost). Counting starts just after the handler.
    """
    deadline = time.monotonic() + seconds
    while proc.poll() is None and time.monotonic() < deadline:
        if path.exists() and _catches_sigint(proc.pid) is not False:
            return
        time.sleep(0.005)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):  # the group has already gone
        pass


def _stop(proc: subprocess.Popen, grace_s: float) -> str | None:
    """Stop perf and reap it; None when SIGINT stopped it (perf then writes its counts), else why the counts are not
    to be trusted.

    SIGINT first, as Ctrl-C would. perf installs its own handler, but a program that does not never sees it where
    SIGINT was inherited as ignored, as by every background job of a non-interactive shell (`cmd &` in a script or
    CI, `nohup cmd &`); nor can a shell `trap` re-enable it. So after `grace_s` SIGTERM, then SIGKILL, which nothing
    can ignore. Signals go to perf's process group (its own session), so whatever it started dies with it.
    """
    pgid = proc.pid  # start_new_session: perf leads its own process group
    stopped_by: signal.Signals | None = None
    if proc.poll() is None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            _signal_group(pgid, sig)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                continue
            stopped_by = sig
            break
    _signal_group(pgid, signal.SIGKILL)  # leftovers in perf's group, if perf left any
    if proc.poll() is None:  # not even SIGKILL within the grace period (uninterruptible sleep): do not wait forever
        return f"perf (pid {proc.pid}) did not stop within {grace_s:g} s of SIGKILL"
    if stopped_by is None or stopped_by == signal.SIGINT:
        return None
    return (f"perf did not stop within {grace_s:g} s of SIGINT; stopped with {stopped_by.name}, "
            "so its counts do not cover the measured work alone")


def measure(work: Callable[[], Any], perf: str | None = None, grace_s: float = 5.0) -> dict[str, Any]:
    """Count EVENTS for this process while `work` runs; {"status": "unavailable", "reason": ...} where perf cannot.

    Never hangs and never raises on perf's account: perf that cannot start, fails, or does not stop on SIGINT within
    `grace_s` seconds (it is then killed, see _stop) is reported as unavailable with the reason; perf also gets
    `grace_s` to attach before the work starts. An exception from `work` itself propagates, after perf has been
    stopped.
    """
    perf = perf or shutil.which("perf")
    if perf is None:
        return {"status": "unavailable", "reason": "perf is not installed"}
    with tempfile.TemporaryDirectory() as tmp:
        out, err_path = Path(tmp) / "perf.csv", Path(tmp) / "perf.err"
        with err_path.open("wb") as err_file:  # a file, not a pipe: nothing perf leaves behind can block a read
            try:
                proc = subprocess.Popen(
                    [perf, "stat", "-x,", "-o", str(out), "-e", ",".join(EVENTS), "-p", str(os.getpid())],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err_file, start_new_session=True)
            except OSError as err:
                return {"status": "unavailable", "reason": f"perf could not start: {err}"}
        try:
            _wait_until_ready(out, proc, grace_s)
            work()
        finally:
            stop_reason = _stop(proc, grace_s)
        text = out.read_text(errors="replace") if out.exists() else ""
        err = err_path.read_text(errors="replace")
    if stop_reason is not None:
        return {"status": "unavailable", "reason": stop_reason}
    values = parse_perf_csv(text)
    if not values or all(v is None for v in values.values()):
        if err.strip():
            reason = err.strip().splitlines()[-1]
        elif values:
            reason = "events not supported"
        else:
            code = proc.returncode
            how = f"killed by {_signal_name(-code)}" if code < 0 else f"exit status {code}"
            reason = f"perf wrote no counts ({how})"
        return {"status": "unavailable", "reason": reason, "events": values}
    return {"status": "measured", "events": values, **derived_metrics(values)}
