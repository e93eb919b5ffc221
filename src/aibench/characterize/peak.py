"""What the machine can do: a short matmul probe measures the device's achievable FLOP/s per precision, cached per
machine, so every record can say how much of it the workload used (model FLOPs utilization, MFU)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

PROBE_SIZE = {"cpu": 1024, "cuda": 8192}  # large enough to reach the matmul plateau, small enough to take < 1 s
PROBE_SECONDS = 0.3


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from aibench.characterize.system import cpu_model

    return f"{cpu_model()} x{torch.get_num_threads()} threads"


def probe_key(device: torch.device, dtype: torch.dtype) -> str:
    """What a cached peak is valid for: the device, its thread count, the dtype and the torch build."""
    return f"{_device_name(device)} | {str(dtype).removeprefix('torch.')} | torch {torch.__version__}"


def measure_matmul_flops(device: torch.device, dtype: torch.dtype = torch.float32) -> float:
    """The best FLOP/s of repeated square matmuls (2 n^3 FLOPs each) over a short window, device synchronized."""
    n = PROBE_SIZE.get(device.type, 1024)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)  # one-time costs out of the measurement
    best, deadline = 0.0, time.perf_counter() + PROBE_SECONDS
    while time.perf_counter() < deadline:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = max(best, 2 * n**3 / max(time.perf_counter() - start, 1e-9))
    return best


def achievable_peak(device: torch.device, cache: Path, dtype: torch.dtype = torch.float32) -> dict[str, Any]:
    """The probe's peak for this machine, from `cache` (a JSON file) or measured once and written there."""
    key = probe_key(device, dtype)
    try:
        known = json.loads(cache.read_text()) if cache.exists() else {}
    except (OSError, ValueError):
        known = {}  # a damaged cache is measured again, not trusted
    if key not in known:
        known[key] = measure_matmul_flops(device, dtype)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(known, indent=1))
    return {"peak_flops_per_s": known[key], "peak_source": f"{n_label(device)} matmul probe: {key}"}


def n_label(device: torch.device) -> str:
    return f"{PROBE_SIZE.get(device.type, 1024)}x{PROBE_SIZE.get(device.type, 1024)}"


def utilization(flops_per_sample: float | None, samples_per_s: float | None, peak: dict[str, Any]
                ) -> dict[str, Any]:
    """Achieved FLOP/s (model FLOPs per sample x measured samples/s) and its share of the probe's peak."""
    if not flops_per_sample or not samples_per_s:
        return {"achieved_flops_per_s": None, "mfu": None, **peak}
    achieved = flops_per_sample * samples_per_s
    return {"achieved_flops_per_s": achieved, "mfu": achieved / peak["peak_flops_per_s"], **peak}
