"""Is the process that owns a `running` record still alive?

A record names its host, process id and that process's start time. On the same host the answer is exact: the id
must belong to a live process that started when the record's did (a reused id is a different process). A record
from another host sharing the store can only be judged by its heartbeat, refreshed while the run lives.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

STALE_HEARTBEAT = dt.timedelta(minutes=5)  # a heartbeat older than this, from another host: that run is gone
HEARTBEAT_EVERY_S = 30.0


def host_name() -> str:
    return socket.gethostname()


def process_start(pid: int) -> str | None:
    """The process's start time as the kernel keeps it (clock ticks after boot, with the boot's id), or None
    when no such process exists or the system does not say (then only the id is compared)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    boot = _boot_id()
    return f"{boot}:{fields[19]}" if boot else fields[19]  # field 22 of stat, counted after pid and comm


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return ""


def process_alive(pid: int, started: str | None) -> bool:
    """Whether `pid` is a live process that started at `started` (when both are known)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        pass
    if started is None:
        return True
    now = process_start(pid)
    if now is None:  # no /proc (macOS): the id alone
        return not Path("/proc/self/stat").exists()
    return now == started


def run_gone(host: str | None, pid: int | None, started: str | None, heartbeat: dt.datetime | None,
             now: dt.datetime) -> bool:
    """Whether a `running` record's process has ended without finishing it (killed, out of memory, lost)."""
    if host == host_name() and pid:
        return not process_alive(pid, started)
    return heartbeat is None or now - heartbeat > STALE_HEARTBEAT


class Heartbeat:
    """A daemon thread calling `beat()` every `every_s` seconds until stopped; a failed beat is retried next time."""

    def __init__(self, beat: Callable[[], None], every_s: float = HEARTBEAT_EVERY_S) -> None:
        self._beat, self._every = beat, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="aibench-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._beat()
            except Exception:  # a busy or briefly unreachable store: the next beat tries again
                pass
