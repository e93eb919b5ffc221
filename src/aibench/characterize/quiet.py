"""Silence the profiler's own log lines, which its C++ side (Kineto) writes straight to file descriptor 2.

On every run torch.profiler prints `USDT:… profiler_start` / `profiler_stop` and, on a machine without a GPU,
`ERROR:… gpuGetDeviceCount failed with code 35`: noise that reads as a failure. KINETO_LOG_LEVEL does not hide
the USDT lines (tried: levels 3 and 5), and Python's sys.stderr never sees them, so the descriptor itself is
pointed at a temporary file while the profiler runs; afterwards every line that is not this known noise is
written back to stderr, so a real error still shows.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

# Kineto's glog-style prefix (`USDT:2026-12-02 03:49:10 31988:31988 File.cpp:39] `) and the messages it writes
# on every profiling session: start and stop markers, stage timings, the GPU count probe on a CPU-only machine
_NOISE = re.compile(r"^(USDT|STAGE|ERROR|WARNING|INFO):\d{4}-\d\d-\d\d [\d:]+ \d+:\d+ \S+\.cpp:\d+\] "
                    r"(profiler_start|profiler_stop|Completed Stage: .*|gpuGetDeviceCount failed with code \d+)$")


def profiler_noise(line: str) -> bool:
    """Whether a stderr line is one of the profiler's routine messages."""
    return bool(_NOISE.match(line.rstrip("\n")))


@contextmanager
def quiet_profiler() -> Iterator[None]:
    """Run the block with fd 2 captured; give back every captured line but the profiler's routine ones."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not profiler_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()
