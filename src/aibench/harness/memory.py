"""Peak memory of a run: the host's resident set (VmHWM, reset per run where Linux allows) and, on CUDA, the
allocator's peak on the device the run used."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peaks(device: torch.device) -> bool:
    """Start a new peak window; returns whether the host peak could be reset (else it is the process's)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        _CLEAR_REFS.write_text("5")  # Linux: "5" resets the peak resident set size (VmHWM) to the current RSS
        return True
    except OSError:
        return False


def _host_peak_mb() -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_memory(device: torch.device, window_reset: bool) -> dict[str, Any]:
    """The peaks since `reset_peaks`, with what each one covers."""
    out: dict[str, Any] = {"host_peak_rss_mb": _host_peak_mb(),
                           "host_peak_scope": "this run" if window_reset else "the process so far"}
    if device.type == "cuda":
        out["device_peak_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out
