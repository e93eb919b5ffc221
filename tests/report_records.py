"""Hand-made results for the report's tests: two labels (two machines), repeated training runs with curves and a
control, LoadGen scenarios with a Server search and an INVALID scenario, profiles with and without counters."""

from __future__ import annotations

from aibench.characterize.breakdown import CATEGORIES
from aibench.results.store import ResultStore

LABEL_A, LABEL_B = "box-a-cpu", "box-b-cuda-H200"
SYSTEM_A = {"hostname": "box-a", "cpu_model": "Test CPU A", "logical_cpus": 2, "gpus": [], "os": "Linux-test",
            "python": "3.11.7", "libraries": {"torch": "2.14.1", "numpy": "2.4.6"}, "code_version": "abc123"}
SYSTEM_B = {**SYSTEM_A, "hostname": "box-b", "cpu_model": "Test CPU B", "logical_cpus": 64,
            "gpus": [{"name": "NVIDIA H200"}], "libraries": {"torch": "2.14.1", "numpy": "2.4.6"}}
TRAINED = ("DC-AI-C1", "DC-AI-C9", "DC-AI-C15", "DC-AI-C16")
TTQ_A = (10.0, 14.0, 12.0)  # per seed: median 12.0
TTQ_B = (6.0, 5.0, 7.0)  # median 6.0: B / A = 0.5
CONTROL_C15 = 0.8
SERVER_SEARCH = [
    {"target_qps": 100.0, "valid": True, "p99_ms": 4.0, "p50_ms": 1.0, "completed_qps": 99.0, "queries": 800,
     "invalid_reason": None},
    {"target_qps": 200.0, "valid": True, "p99_ms": 9.0, "p50_ms": 2.0, "completed_qps": 198.0, "queries": 900,
     "invalid_reason": None},
    {"target_qps": 400.0, "valid": False, "p99_ms": 80.0, "p50_ms": 30.0, "completed_qps": 350.0,
     "queries": 900, "invalid_reason": "99.00 percentile latency over the bound"},
]
MULTISTREAM_INVALID = "too few queries for the early-stopping estimate"


def _profile(dominant: str, params: float, counters: dict) -> dict:
    return {"params": {"total": params}, "flops_train_per_sample": params * 30,
            "breakdown": {"category_share": {c: (0.9 if c == dominant else 0.1 / (len(CATEGORIES) - 1))
                                             for c in CATEGORIES},
                          "hotspots": [{"name": f"aten::{dominant}_op", "category": dominant, "share": 0.9,
                                        "calls": 3}]},
            "counters": counters}


MEASURED = {"status": "measured", "events": {"cycles": 2.0e9, "instructions": 3.0e9, "cache-references": 1.0e8,
                                             "cache-misses": 2.5e6, "branches": 4.0e8, "branch-misses": 4.0e6},
            "ipc": 1.5, "cache_miss_rate": 0.025, "branch_miss_rate": 0.01}
UNSUPPORTED = {"status": "unavailable", "reason": "events not supported", "events": {}}
PROFILES = {"DC-AI-C1": ("convolution", 2.5e7, MEASURED), "DC-AI-C9": ("batch_norm", 4e7, UNSUPPORTED),
            "DC-AI-C15": ("pooling", 3e4, UNSUPPORTED), "DC-AI-C16": ("gemm", 1e5, UNSUPPORTED)}


def _scenarios() -> dict:
    lat = {"50.00": 1.25, "90.00": 2.5, "95.00": 3.0, "97.00": 3.5, "99.00": 4.75, "99.90": 1234.5}
    return {
        "SingleStream": {"valid": True, "latency_ms": lat, "mean_latency_ms": 1.5, "queries": 1024,
                         "samples": 1024, "headline": 2.6},
        "MultiStream": {"valid": False, "invalid_reason": MULTISTREAM_INVALID, "latency_ms": lat,
                        "mean_latency_ms": 2.0, "queries": 100, "samples": 800, "headline": 5.0},
        "Server": {"valid": True, "latency_ms": lat, "mean_latency_ms": 2.0, "queries": 900, "samples": 900,
                   "headline": 200.0, "latency_bound_ms": 25, "search": SERVER_SEARCH},
        "Offline": {"valid": True, "latency_ms": lat, "mean_latency_ms": 700.0, "queries": 1, "samples": 123456,
                    "headline": 1469.932},
    }


def fill(store: ResultStore, labels: tuple[str, ...] = (LABEL_A, LABEL_B)) -> None:
    """Store the hand-made runs of each label given."""
    for label in labels:
        system, ttqs = (SYSTEM_A, TTQ_A) if label == LABEL_A else (SYSTEM_B, TTQ_B)
        for bench in TRAINED:
            dominant, params, counters = PROFILES[bench]
            common = dict(benchmark=bench, name="x", scale="tiny", metric="accuracy", target=0.9, system=system,
                          label=label, characterization=_profile(dominant, params, counters),
                          config={"scale_config": {"shrink": f"synthetic {bench} data"}})
            for seed, ttq in enumerate(ttqs):
                epochs = 3 + seed
                curve = [{"epoch": e, "phase": "train", "quality": 0.5 + 0.45 * e / epochs}
                         for e in range(1, epochs + 1)]
                metrics = {"time_to_quality_s": ttq, "epochs_to_quality": epochs, "epochs": epochs,
                           "epoch_times_s": [ttq / epochs] * epochs, "run_time_s": ttq, "energy_j": None,
                           "throughput_samples_per_s": 163_456.0}
                if bench == "DC-AI-C15" and label == LABEL_A:
                    metrics["control"] = {"quality": CONTROL_C15}
                store.add(**common, seed=seed, mode="train", status="success", quality=0.95, metrics=metrics,
                          curve=curve)
            store.add(**common, seed=9, mode="train", status="aborted", quality=0.3, metrics={"epochs": 1},
                      curve=[{"epoch": 1, "phase": "train", "quality": 0.3}])
            if label == LABEL_A or bench in ("DC-AI-C1", "DC-AI-C9"):  # B profiled only two benchmarks
                store.add(**common, seed=0, mode="profile", status="completed", quality=None, metrics={})
        store.add(benchmark="DC-AI-C15", name="x", scale="tiny", metric="accuracy", target=0.9, seed=0,
                  system=system, label=label, mode="infer", status="completed", quality=0.97,
                  metrics={"model_state": "trained", "scenarios": _scenarios(), "latency_ms": {}})
