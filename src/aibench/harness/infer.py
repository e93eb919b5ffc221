"""The inference driver: a benchmark's model served to MLPerf LoadGen (mlcommons-loadgen).

LoadGen owns query generation, timing and the latency statistics; we read them back from its detail log.
Performance runs use SingleStream (latency) and Offline (throughput); a separate accuracy pass (LoadGen's
AccuracyOnly mode) sends every sample once and the benchmark scores the outputs in its own metric.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlperf_loadgen as lg
import torch

from aibench.harness.energy import EnergyMeter, per_query, per_sample
from aibench.harness.precision import compute_context
from aibench.harness.timing import synchronize

PERCENTILES = ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90")
SCENARIOS = {"SingleStream": lg.TestScenario.SingleStream, "Offline": lg.TestScenario.Offline,
             "MultiStream": lg.TestScenario.MultiStream, "Server": lg.TestScenario.Server}


@dataclass
class InferSettings:
    scenarios: tuple[str, ...] = ("SingleStream", "Offline")
    min_duration_ms: int = 1000
    min_query_count: int = 32
    offline_batch_size: int = 16
    log_dir: Path | None = None
    calibrate: bool = True  # time single and batched passes before LoadGen; False: the warm-up pass only (smoke)


@dataclass
class ScenarioResult:
    scenario: str
    qps: float | None
    latency_ms: dict[str, float] = field(default_factory=dict)  # percentile -> ms
    mean_latency_ms: float | None = None
    queries: int = 0
    samples: int = 0
    valid: bool | None = None
    invalid_reason: str | None = None
    energy_j: float | None = None
    energy_per_query_j: float | None = None  # per LoadGen query (an Offline query holds many samples)
    energy_per_sample_j: float | None = None
    energy_source: str = "none"


class _ServedModel:
    """The system under test: answers LoadGen's queries synchronously with the benchmark's infer()."""

    def __init__(self, bench: Any, samples: Sequence[Any], device: torch.device, batch_size: int) -> None:
        self.bench, self.samples, self.device, self.batch_size = bench, samples, device, batch_size
        self.outputs: dict[int, Any] = {}
        self.keep_outputs = False
        self.queries = 0
        self.samples_done = 0

    def issue_queries(self, query_samples: list[Any]) -> None:
        self.queries += 1
        self.samples_done += len(query_samples)
        for start in range(0, len(query_samples), self.batch_size):
            chunk = query_samples[start:start + self.batch_size]
            with torch.no_grad(), compute_context(self.bench):  # LoadGen's thread: autocast is per thread
                outs = self.bench.infer([self.samples[q.index] for q in chunk])
            synchronize(self.device)
            if self.keep_outputs:
                for q, out in zip(chunk, outs):
                    self.outputs[q.index] = out
            lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in chunk])

    def flush_queries(self) -> None:
        pass


def _settings(scenario: str, mode: Any, cfg: InferSettings, n_samples: int, latency_s: float,
              expected_qps: float) -> Any:
    s = lg.TestSettings()
    s.scenario = SCENARIOS[scenario]
    s.mode = mode
    s.min_duration_ms = cfg.min_duration_ms
    s.min_query_count = cfg.min_query_count
    s.performance_sample_count_override = n_samples
    s.single_stream_expected_latency_ns = max(1, int(latency_s * 1e9))
    s.multi_stream_expected_latency_ns = max(1, int(latency_s * 8e9))
    s.offline_expected_qps = expected_qps
    s.server_target_qps = expected_qps
    return s


def _run_loadgen(sut: _ServedModel, n_samples: int, settings: Any, out_dir: Path) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(out_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    handle = lg.ConstructSUT(sut.issue_queries, sut.flush_queries)
    qsl = lg.ConstructQSL(n_samples, n_samples, lambda idx: None, lambda idx: None)  # samples already in memory
    try:
        lg.StartTestWithLogSettings(handle, qsl, settings, log_settings)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(handle)
    return read_loadgen_results(out_dir / "mlperf_log_detail.txt")


def read_loadgen_results(path: Path) -> dict[str, Any]:
    """The `result_*` and validity entries from LoadGen's detail log (one :::MLLOG JSON per line)."""
    results: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        if not line.startswith(":::MLLOG"):
            continue
        entry = json.loads(line.split(" ", 1)[1])
        key = entry.get("key", "")
        if key.startswith("result_") or key in ("early_stopping_result",):
            results[key] = entry.get("value")
    return results


def _scenario_result(scenario: str, res: dict[str, Any], sut: _ServedModel, energy: Any) -> ScenarioResult:
    latency = {p: res[f"result_{p}_percentile_latency_ns"] / 1e6 for p in PERCENTILES
               if f"result_{p}_percentile_latency_ns" in res}
    # Offline reports samples/s; SingleStream reports QPS including LoadGen's own overhead (the honest one)
    qps = res.get("result_samples_per_second") or res.get("result_qps_with_loadgen_overhead")
    mean = res.get("result_mean_latency_ns")
    out = ScenarioResult(scenario=scenario, qps=qps, latency_ms=latency, queries=sut.queries,
                         mean_latency_ms=mean / 1e6 if mean else None, samples=sut.samples_done,
                         valid=res.get("result_validity") == "VALID" if "result_validity" in res else None,
                         invalid_reason=res.get("result_invalid_reason") or None)
    out.energy_j, out.energy_source = energy.joules, ",".join(energy.sources)
    out.energy_per_sample_j = per_sample(energy.joules, sut.samples_done)
    out.energy_per_query_j = per_query(energy.joules, sut.queries)
    return out


def run_inference(bench: Any, device: torch.device, cfg: InferSettings, meter: EnergyMeter | None = None
                  ) -> dict[str, Any]:
    """Performance runs per scenario and an accuracy pass; returns metrics, quality and per-scenario results."""
    samples = list(bench.inference_samples())
    if not samples:
        raise ValueError("benchmark gave no inference samples")
    meter = meter or EnergyMeter(device=device)
    bench.train_mode(False)
    log_dir = cfg.log_dir or Path(tempfile.mkdtemp(prefix="aibench-loadgen-"))
    sut = _ServedModel(bench, samples, device, batch_size=1)
    latency_s, batch_qps = (_calibrate(sut, samples, cfg.offline_batch_size) if cfg.calibrate
                            else _warm_up(sut, samples))
    scenarios: dict[str, ScenarioResult] = {}
    for scenario in cfg.scenarios:
        batched = scenario in ("Offline", "Server")
        sut.batch_size = cfg.offline_batch_size if batched else 1
        sut.queries = sut.samples_done = 0
        settings = _settings(scenario, lg.TestMode.PerformanceOnly, cfg, len(samples), latency_s,
                             batch_qps if batched else 1.0 / latency_s)
        meter.start()
        res = _run_loadgen(sut, len(samples), settings, log_dir / scenario)
        scenarios[scenario] = _scenario_result(scenario, res, sut, meter.stop())
    quality = _accuracy_pass(bench, sut, samples, cfg, log_dir / "accuracy", batch_qps, latency_s)
    return {"scenarios": scenarios, "quality": quality, "samples": len(samples), "log_dir": str(log_dir)}


def _warm_up(sut: _ServedModel, samples: Sequence[Any]) -> tuple[float, float]:
    """One untimed-by-LoadGen pass: a short run needs no calibration, only the one-time costs paid, and its
    latency, taken from that pass, sizes the few queries well enough."""
    with torch.no_grad(), compute_context(sut.bench):
        start = time.perf_counter()
        sut.bench.infer([samples[0]])
        synchronize(sut.device)
    latency = max(time.perf_counter() - start, 1e-6)
    return latency, 1.0 / latency


def _calibrate(sut: _ServedModel, samples: Sequence[Any], batch_size: int) -> tuple[float, float]:
    """Untimed warm-up that also measures single-sample latency and batched throughput.

    LoadGen sizes a run from the expected latency / QPS; telling it what this machine does makes the run
    last its minimum duration instead of ending early (an INVALID result) or overrunning.
    """
    with torch.no_grad(), compute_context(sut.bench):
        sut.bench.infer([samples[0]])  # one-time costs (allocations, lazy init) stay out of the measurement
        times = []
        for sample in list(samples)[:5]:
            start = time.perf_counter()
            sut.bench.infer([sample])
            synchronize(sut.device)
            times.append(time.perf_counter() - start)
        batch = list(samples)[:batch_size]
        batch_times = []
        for _ in range(3):
            start = time.perf_counter()
            sut.bench.infer(batch)
            synchronize(sut.device)
            batch_times.append(time.perf_counter() - start)
    latency = statistics.median(times)
    # the fastest batch: an expected QPS set too low (one slow batch on a busy machine) makes LoadGen issue too
    # few queries, so the Offline run ends before its minimum duration and is INVALID; too high only runs longer
    return max(latency, 1e-6), len(batch) / max(min(batch_times), 1e-6)


def _accuracy_pass(bench: Any, sut: _ServedModel, samples: Sequence[Any], cfg: InferSettings, out_dir: Path,
                   expected_qps: float, latency_s: float) -> Any:
    sut.batch_size = cfg.offline_batch_size
    sut.outputs.clear()
    sut.keep_outputs = True
    settings = _settings("Offline", lg.TestMode.AccuracyOnly, cfg, len(samples), latency_s, expected_qps)
    try:
        _run_loadgen(sut, len(samples), settings, out_dir)
    finally:
        sut.keep_outputs = False
    indices = sorted(sut.outputs)
    if len(indices) != len(samples):
        raise RuntimeError(f"accuracy pass answered {len(indices)} of {len(samples)} samples")
    with torch.no_grad():
        return bench.score(indices, [sut.outputs[i] for i in indices])
