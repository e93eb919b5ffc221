"""Model FLOPs utilization: the matmul probe's peak is measured once per machine and cached; MFU is model FLOPs per
sample x measured samples/s over that peak."""

import json

import pytest
import torch

from aibench.characterize import peak
from aibench.characterize.peak import achievable_peak, measure_matmul_flops, utilization


def test_probe_measures_a_plausible_cpu_peak(monkeypatch):
    monkeypatch.setattr(peak, "PROBE_SECONDS", 0.05)
    monkeypatch.setattr(peak, "PROBE_SIZE", {"cpu": 256})
    flops = measure_matmul_flops(torch.device("cpu"))
    assert 1e8 < flops < 1e13  # between a slow core and far beyond any CPU: a number, not a constant


def test_peak_is_cached_per_machine_and_a_damaged_cache_is_measured_again(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(peak, "measure_matmul_flops", lambda device, dtype: calls.append(1) or 5e10)
    cache = tmp_path / "peak.json"
    first = achievable_peak(torch.device("cpu"), cache)
    second = achievable_peak(torch.device("cpu"), cache)
    assert first == second and first["peak_flops_per_s"] == 5e10 and len(calls) == 1
    assert peak.probe_key(torch.device("cpu"), torch.float32) in json.loads(cache.read_text())
    cache.write_text("{not json")
    achievable_peak(torch.device("cpu"), cache)
    assert len(calls) == 2


def test_utilization_is_achieved_over_peak():
    out = utilization(2e9, 10.0, {"peak_flops_per_s": 1e11, "peak_source": "probe"})
    assert out["achieved_flops_per_s"] == pytest.approx(2e10) and out["mfu"] == pytest.approx(0.2)
    assert utilization(None, 10.0, {"peak_flops_per_s": 1e11, "peak_source": "p"})["mfu"] is None
