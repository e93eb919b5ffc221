"""The inference driver: a benchmark's model served to MLPerf LoadGen (mlcommons-loadgen) in its four scenarios.

LoadGen owns query generation, timing, the latency statistics and the validity of a run; we read them back from
its detail log. The system under test (harness/loadgen_sut.py) is asynchronous: LoadGen's issue callback only
queues, worker threads batch and serve. Scenarios and their headline metrics (MLPerf's):

- SingleStream: one sample per query, the next issued when the last completes; headline p90 latency, LoadGen's
  early-stopping estimate (the raw percentiles beside it).
- MultiStream: 8 samples per query, queries back to back; headline p99 per-query latency, early-stopping estimate.
- Server: Poisson arrivals at a target QPS; headline the peak target QPS whose run is VALID (p99 latency under
  the benchmark's bound and LoadGen's early-stopping check passed), found by a bounded bracketing search
  (harness/qps_search.py) whose every step is kept.
- Offline: every sample in one query; headline samples per second.

LoadGen's query sample library is the benchmark's whole evaluation split (`query_count()` queries, each read by
`load_query(i)` when LoadGen's load callback asks); a performance run keeps only the performance sample set loaded.
The accuracy pass (LoadGen's AccuracyOnly mode) sends every query of the split once, loading it one performance
sample set at a time; responses carry the serialized outputs, and the quality is scored from what LoadGen logged in
mlperf_log_accuracy.json.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlperf_loadgen as lg
import torch

from aibench.harness.energy import EnergyMeter, per_query, per_sample
from aibench.harness.loadgen_sut import Batching, SampleLibrary, ServedModel, deserialize
from aibench.harness.precision import compute_context
from aibench.harness.qps_search import find_peak_qps
from aibench.harness.timing import synchronize

PERCENTILES = ("50.00", "90.00", "95.00", "97.00", "99.00", "99.90")
SCENARIOS = {"SingleStream": lg.TestScenario.SingleStream, "Offline": lg.TestScenario.Offline,
             "MultiStream": lg.TestScenario.MultiStream, "Server": lg.TestScenario.Server}
SCENARIO_ORDER = ("SingleStream", "MultiStream", "Server", "Offline")
MULTI_STREAM_SAMPLES = 8  # MLPerf's samples per MultiStream query
EXPECTATION_MARGIN = 4.0  # SingleStream/MultiStream: LoadGen is told a latency this many times below calibration
OFFLINE_MARGIN = 2.0  # Offline: LoadGen is told a throughput this many times the calibrated one
IDLE_BASELINE_S = 3.0  # idle power measured once before the scenarios where an energy counter exists
RESIZE_ATTEMPTS, RESIZE_FACTOR = 3, 4.0  # a run that ended before its minimum duration runs again, told faster
# LoadGen's early stopping needs this many queries (with none over the percentile) to estimate a percentile
# or, in Server, to pass: fewer makes the run INVALID (SingleStream p90: 64; MultiStream p99: 662; Server p99: 459)
EARLY_STOPPING_QUERIES = {"SingleStream": 64, "MultiStream": 662, "Server": 459}
# MLPerf Inference's minimums (rules: 600 s, and these query counts) for small/full runs
MLPERF_MIN_DURATION_MS = 600_000
MLPERF_MIN_QUERIES = {"SingleStream": 1024, "MultiStream": 270_336, "Server": 270_336, "Offline": 1}
MLPERF_OFFLINE_MIN_SAMPLES = 24_576
HEADLINE = {"SingleStream": "p90 latency (early-stopping estimate), ms",
            "MultiStream": "p99 per-query latency (early-stopping estimate), ms",
            "Server": "peak target QPS with p99 under the bound", "Offline": "samples/s"}


@dataclass
class InferSettings:
    scenarios: tuple[str, ...] = SCENARIO_ORDER
    scenarios_chosen: bool = False  # the user named them (--scenarios): run each whatever it costs
    min_duration_ms: int = 1000
    # per-scenario minimum query counts; Server's is per search step (enough for LoadGen's early stopping with a
    # few queries over the bound, so a VALID step does not need a perfect run)
    min_query_count: dict[str, int] | int = field(default_factory=lambda: {
        "SingleStream": 64, "MultiStream": 662, "Server": 800, "Offline": 1})
    offline_min_samples: int = 0  # at least this many samples in the Offline query (MLPerf: 24,576)
    offline_batch_size: int = 16
    log_dir: Path | None = None
    calibrate: bool = True  # time single and batched passes before LoadGen; False: the warm-up pass only (smoke)
    server_latency_ms: float | None = None  # the benchmark's p99 bound (its spec); Server needs it
    server_batching: Batching = field(default_factory=lambda: Batching(max_batch_size=8, max_wait_s=0.002))
    search_steps: int = 6  # LoadGen runs the peak-QPS search may spend
    search_precision: float = 0.1  # the search stops when the VALID/INVALID bracket is this narrow
    budget_s: float | None = None  # a scenario the user did not name is skipped when its estimate exceeds this
    expected_qps: float | None = None  # override of the calibrated throughput LoadGen sizes runs from
    short: bool = False  # durations and counts below MLPerf's minimums on request (--infer-duration-ms)
    audit: str | None = None  # "TEST01": log a fraction of performance responses and compare with accuracy's
    performance_sample_count: int | None = None  # samples LoadGen keeps loaded (None: the benchmark's own)
    step_cap_s: float | None = 60.0  # the search goes no lower than the QPS that serves a step's queries in this
    search_budget_s: float | None = None  # the search runs no step it expects to end after this many seconds


@dataclass
class ScenarioResult:
    scenario: str
    qps: float | None
    latency_ms: dict[str, float] = field(default_factory=dict)  # percentile -> ms (per query for MultiStream)
    mean_latency_ms: float | None = None
    queries: int = 0
    samples: int = 0
    valid: bool | None = None
    invalid_reason: str | None = None
    energy_j: float | None = None
    energy_per_query_j: float | None = None  # per LoadGen query (an Offline query holds many samples)
    energy_per_sample_j: float | None = None
    energy_source: str = "none"
    energy_detail: dict[str, Any] = field(default_factory=dict)
    headline: float | None = None  # the scenario's MLPerf metric (HEADLINE names it)
    headline_name: str = ""
    early_stopping_ms: float | None = None  # LoadGen's early-stopping latency estimate (SingleStream p90, MS p99)
    early_stopping_text: str = ""
    qps_without_loadgen_overhead: float | None = None
    samples_per_query: int = 1
    target_qps: float | None = None  # Server: the target of this run (the peak's, for the Server result)
    latency_bound_ms: float | None = None  # Server: the p99 bound
    batching: dict[str, Any] = field(default_factory=dict)
    search: list[dict[str, Any]] = field(default_factory=list)  # Server: each tried QPS, p99, validity
    skipped: str | None = None  # a default scenario left out, and why
    resized: str | None = None  # a run too short for LoadGen's minimum duration ran again, told a faster system
    retried_with_queries: int | None = None  # Server: the step ran again with the queries early stopping asked for
    duration_s: float | None = None
    short: bool = False


class _Model:
    """The benchmark's infer() as the SUT's predict: no autograd, the run's autocast (per thread), synchronized."""

    def __init__(self, bench: Any, device: torch.device) -> None:
        self.bench, self.device = bench, device

    def __call__(self, samples: list[Any]) -> list[Any]:
        with torch.no_grad(), compute_context(self.bench):  # a worker thread: autocast is per thread
            outs = self.bench.infer(samples)
        synchronize(self.device)
        return list(outs)


def min_queries(cfg: InferSettings, scenario: str) -> int:
    """The minimum query count of a scenario (one number for all of them where a caller gave one)."""
    if isinstance(cfg.min_query_count, int):
        return cfg.min_query_count
    return cfg.min_query_count.get(scenario, 1)


def _settings(scenario: str, mode: Any, cfg: InferSettings, library: SampleLibrary, latency_s: float,
              expected_qps: float, ms_latency_s: float) -> Any:
    s = lg.TestSettings()
    s.scenario = SCENARIOS[scenario]
    s.mode = mode
    s.min_duration_ms = cfg.min_duration_ms
    s.min_query_count = min_queries(cfg, scenario)
    s.performance_sample_count_override = library.performance_count  # what LoadGen keeps loaded
    # LoadGen pre-generates the queries of a run from these: SingleStream and MultiStream stop issuing once both
    # minimums are met, so an expected latency set low only costs memory, while one set high (a calibration on a
    # busy moment) runs out of queries before the minimum duration (INVALID); Offline's one query holds expected
    # QPS x duration samples, so a margin of 2 costs at most a run twice as long, and too low is INVALID
    s.single_stream_expected_latency_ns = max(1, int(latency_s * 1e9 / EXPECTATION_MARGIN))
    s.multi_stream_expected_latency_ns = max(1, int(ms_latency_s * 1e9 / EXPECTATION_MARGIN))
    s.multi_stream_samples_per_query = MULTI_STREAM_SAMPLES
    s.offline_expected_qps = max(expected_qps * OFFLINE_MARGIN,
                                 cfg.offline_min_samples / max(cfg.min_duration_ms / 1000, 1e-3))
    s.server_target_qps = expected_qps
    if cfg.server_latency_ms:
        s.server_target_latency_ns = int(cfg.server_latency_ms * 1e6)
    return s


def _run_loadgen(sut: ServedModel, library: SampleLibrary, settings: Any, out_dir: Path) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(out_dir)
    log_settings.log_output.copy_summary_to_stdout = False
    log_settings.enable_trace = False  # the per-query trace (megabytes a run) is not read
    sut.error = None
    handle = lg.ConstructSUT(sut.issue_queries, sut.flush_queries)
    qsl = lg.ConstructQSL(library.count, settings.performance_sample_count_override, library.load_samples,
                          library.unload_samples)
    try:
        with sut:
            lg.StartTestWithLogSettings(handle, qsl, settings, log_settings)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(handle)
    if sut.error is not None:
        raise sut.error
    return read_loadgen_results(out_dir / "mlperf_log_detail.txt")


def read_loadgen_results(path: Path) -> dict[str, Any]:
    """The `result_*`, validity and early-stopping entries of LoadGen's detail log (one :::MLLOG JSON per line)."""
    results: dict[str, Any] = {}
    for line in path.read_text().splitlines():
        if not line.startswith(":::MLLOG"):
            continue
        entry = json.loads(line.split(" ", 1)[1])
        key = entry.get("key", "")
        if key.startswith(("result_", "early_stopping")) or key in ("effective_target_latency_ns",):
            results[key] = entry.get("value")
    return results


def invalid_reason(res: dict[str, Any]) -> str | None:
    """LoadGen's own reason for an INVALID run: its recommendation text, and each check it failed."""
    if res.get("result_validity") != "INVALID":
        return None
    parts = [str(res["result_invalid_reason"]).strip()] if res.get("result_invalid_reason") else []
    for key, text in (("result_perf_constraints_met", "performance constraints (latency bound) not met"),
                      ("result_min_duration_met", "minimum duration not met"),
                      ("result_min_queries_met", "minimum query count not met"),
                      ("early_stopping_met", "early stopping not satisfied")):
        if res.get(key) is False:
            parts.append(text)
    if res.get("early_stopping_met") is False and res.get("early_stopping_result"):
        parts.append(" ".join(str(res["early_stopping_result"]).replace("*", "").split()))
    return "; ".join(p for p in parts if p) or "INVALID (LoadGen gave no reason)"


def _scenario_result(scenario: str, res: dict[str, Any], sut: ServedModel, energy: Any,
                     samples_per_query: int = 1) -> ScenarioResult:
    per_query_keys = scenario == "MultiStream"  # MultiStream's percentiles are per query of 8 samples
    key = "result_{}_percentile_per_query_latency_ns" if per_query_keys else "result_{}_percentile_latency_ns"
    latency = {p: res[key.format(p)] / 1e6 for p in PERCENTILES if key.format(p) in res}
    mean = res.get("result_mean_query_latency_ns" if per_query_keys else "result_mean_latency_ns")
    if scenario == "Offline":
        qps, raw = res.get("result_samples_per_second"), None
    elif scenario == "Server":  # the rate LoadGen scheduled (its overhead in) and the rate completed
        qps, raw = res.get("result_scheduled_samples_per_sec"), res.get("result_completed_samples_per_sec")
    else:
        qps, raw = res.get("result_qps_with_loadgen_overhead"), res.get("result_qps_without_loadgen_overhead")
    out = ScenarioResult(scenario=scenario, qps=qps, latency_ms=latency, queries=sut.queries,
                         mean_latency_ms=mean / 1e6 if mean else None, samples=sut.samples_done,
                         valid=res.get("result_validity") == "VALID" if "result_validity" in res else None,
                         invalid_reason=invalid_reason(res), qps_without_loadgen_overhead=raw,
                         samples_per_query=samples_per_query,
                         early_stopping_text=" ".join(str(res.get("early_stopping_result") or "").split()))
    es = {"SingleStream": "early_stopping_latency_ss", "MultiStream": "early_stopping_latency_ms"}.get(scenario)
    if es and res.get(es):
        out.early_stopping_ms = res[es] / 1e6
    out.headline_name = HEADLINE[scenario]
    out.headline = {"SingleStream": out.early_stopping_ms, "MultiStream": out.early_stopping_ms,
                    "Offline": qps}.get(scenario)
    out.energy_j, out.energy_source = energy.joules, ",".join(energy.sources)
    out.energy_detail = energy.as_dict()  # duration, mean and idle watts, energy above idle, warnings
    out.energy_per_sample_j = per_sample(energy.joules, sut.samples_done)
    out.energy_per_query_j = per_query(energy.joules, sut.queries)
    return out


def _faster(expect: tuple[float, float, float], result: ScenarioResult) -> tuple[float, float, float]:
    """Expectations for a run that ended too soon: what it measured, and at least RESIZE_FACTOR faster."""
    latency_s, batch_qps, ms_latency_s = expect
    measured_s = (result.mean_latency_ms or 0) / 1e3
    if result.scenario == "Offline":
        return latency_s, max(batch_qps * RESIZE_FACTOR, result.qps or 0), ms_latency_s
    if result.scenario == "MultiStream":
        return latency_s, batch_qps, min(ms_latency_s / RESIZE_FACTOR, measured_s or math.inf)
    return min(latency_s / RESIZE_FACTOR, measured_s or math.inf), batch_qps, ms_latency_s


def estimate_cost_s(scenario: str, cfg: InferSettings, latency_s: float, batch_qps: float,
                    ms_latency_s: float) -> float:
    """Seconds a scenario should take on this machine, from the calibration (for the tiny budget): half as long
    again as the calibrated passes say, since a busy machine serves a long run slower than its fastest batch."""
    return 1.5 * _cost_s(scenario, cfg, latency_s, batch_qps, ms_latency_s)


def _cost_s(scenario: str, cfg: InferSettings, latency_s: float, batch_qps: float, ms_latency_s: float) -> float:
    floor = cfg.min_duration_ms / 1000
    queries = min_queries(cfg, scenario)
    if scenario == "SingleStream":
        return max(floor, queries * latency_s)
    if scenario == "MultiStream":
        return max(floor, queries * ms_latency_s)
    if scenario == "Server":  # each step near the peak serves its queries at about the batched throughput
        capacity = max(1.0 / latency_s, 0.5 * batch_qps)  # one worker; batching serves up to the batched rate
        return cfg.search_steps * max(floor, queries / capacity)
    return max(floor, cfg.offline_min_samples / max(batch_qps, 1e-9))


def run_inference(bench: Any, device: torch.device, cfg: InferSettings, meter: EnergyMeter | None = None,
                  predict: Callable[[list[Any]], list[Any]] | None = None, progress: Any = None) -> dict[str, Any]:
    """Performance runs per scenario and an accuracy pass; returns quality and per-scenario results.

    `progress`: an optional object told `start(scenarios)`, `scenario(name, result)` as each ends and
    `accuracy(metric, value)` (harness/progress.py's InferProgress)."""
    count = served_query_count(bench)
    if count < 1:
        raise ValueError("benchmark gave no inference samples")
    unknown = [s for s in cfg.scenarios if s not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown LoadGen scenario(s) {unknown}; choose from {', '.join(SCENARIO_ORDER)}")
    meter = meter or EnergyMeter(device=device)
    bench.train_mode(False)
    log_dir = cfg.log_dir or Path(tempfile.mkdtemp(prefix="aibench-loadgen-"))
    predict = predict or _Model(bench, device)
    library = SampleLibrary(count, bench.load_query,
                            min(cfg.performance_sample_count or bench.performance_sample_count(), count))
    # calibration reads a few queries directly (LoadGen has loaded none yet)
    samples = [bench.load_query(i) for i in range(min(count, max(cfg.offline_batch_size, MULTI_STREAM_SAMPLES)))]
    latency_s, batch_qps, ms_latency_s = (_calibrate(predict, samples, cfg.offline_batch_size) if cfg.calibrate
                                          else _warm_up(predict, samples))
    if cfg.expected_qps:  # Offline and the accuracy pass size their one query from it
        batch_qps = cfg.expected_qps
    if meter.counters:  # an idle baseline, so each scenario can say what serving drew above idle
        meter.measure_idle(IDLE_BASELINE_S)
    scenarios: dict[str, ScenarioResult] = {}
    order = [s for s in SCENARIO_ORDER if s in cfg.scenarios]
    if progress:
        progress.start(order)
    for scenario in order:
        cost = estimate_cost_s(scenario, cfg, latency_s, batch_qps, ms_latency_s)
        if not cfg.scenarios_chosen and cfg.budget_s is not None and cost > cfg.budget_s:
            scenarios[scenario] = ScenarioResult(
                scenario=scenario, qps=None, headline_name=HEADLINE[scenario],
                skipped=f"not run by default: LoadGen's minimum of {min_queries(cfg, scenario)} queries "
                        f"would take about {cost:.0f} s here, over the {cfg.budget_s:.0f} s budget of a default "
                        f"scenario at this scale (name it in --scenarios to run it)")
            if progress:
                progress.scenario(scenario, scenarios[scenario])
            continue
        if scenario == "Server" and not cfg.server_latency_ms and not cfg.scenarios_chosen:
            scenarios[scenario] = ScenarioResult(scenario=scenario, qps=None, headline_name=HEADLINE[scenario],
                                                 skipped="no p99 latency bound given for the Server scenario")
            if progress:
                progress.scenario(scenario, scenarios[scenario])
            continue
        started = time.perf_counter()
        if scenario == "Server":
            single = scenarios.get("SingleStream")
            served = single.qps if single is not None and single.qps else 1.0 / latency_s
            result = server_search(predict, library, cfg, meter, log_dir / "Server", latency_s, served, ms_latency_s)
        else:
            expect, resized = (latency_s, batch_qps, ms_latency_s), None
            for _attempt in range(1 if cfg.expected_qps else RESIZE_ATTEMPTS):  # a QPS the user set is kept
                batching = Batching(max_batch_size=cfg.offline_batch_size if scenario == "Offline"
                                    else MULTI_STREAM_SAMPLES if scenario == "MultiStream" else 1, max_wait_s=0.0)
                sut = ServedModel(predict, library, batching)
                settings = _settings(scenario, lg.TestMode.PerformanceOnly, cfg, library, *expect)
                meter.start()
                res = _run_loadgen(sut, library, settings, log_dir / scenario)
                result = _scenario_result(scenario, res, sut, meter.stop(),
                                          MULTI_STREAM_SAMPLES if scenario == "MultiStream" else 1)
                result.batching = dataclasses.asdict(batching)
                result.resized = resized
                if result.valid is not False or "minimum duration" not in (result.invalid_reason or ""):
                    break
                # the machine served faster than calibrated, so LoadGen ran out of queries early: as an MLPerf
                # submitter would, tell it what this run measured (at least RESIZE_FACTOR faster) and run again
                expect = _faster(expect, result)
                resized = (f"ran again expecting {expect[0] * 1e3:.3g} ms a sample, {expect[1]:.4g} samples/s, "
                           f"{expect[2] * 1e3:.3g} ms a MultiStream query, after: {result.invalid_reason}")
        result.duration_s = time.perf_counter() - started
        result.short = cfg.short
        scenarios[scenario] = result
        if progress:
            progress.scenario(scenario, result)
    quality, accuracy = _accuracy_pass(bench, predict, library, cfg, log_dir / "accuracy", batch_qps, latency_s,
                                       ms_latency_s)
    if progress:
        progress.accuracy(bench.SPEC.card.metric, quality.value)
    audit = _audit_test01(bench, predict, library, cfg, log_dir, batch_qps, latency_s, ms_latency_s) \
        if cfg.audit == "TEST01" else None
    return {"scenarios": scenarios, "quality": quality, "samples": library.count, "log_dir": str(log_dir),
            "performance_sample_count": library.performance_count, "qsl_peak_loaded": library.peak_loaded,
            "accuracy": accuracy, "audit": audit,
            "calibration": {"latency_ms": latency_s * 1e3, "batch_samples_per_s": batch_qps,
                            "multistream_query_ms": ms_latency_s * 1e3}}


def server_search(predict: Any, library: SampleLibrary, cfg: InferSettings, meter: EnergyMeter, out_dir: Path,
            latency_s: float, served_qps: float, ms_latency_s: float) -> ScenarioResult:
    """The peak-QPS search: one LoadGen Server run per step, the peak step's run as the Server result.

    It starts at half the QPS one worker sustained one query at a time (SingleStream's, LoadGen's overhead in,
    or else the calibrated latency's inverse) times the workers: batching may serve more, queueing less."""
    if not cfg.server_latency_ms:
        raise ValueError("the Server scenario needs a p99 latency bound (the benchmark's spec names one per scale)")
    sut = ServedModel(predict, library, cfg.server_batching)

    def run_at(qps: float, queries: int | None = None) -> tuple[bool, ScenarioResult]:
        sut.reset_counts()
        settings = _settings("Server", lg.TestMode.PerformanceOnly, cfg, library, latency_s, qps, ms_latency_s)
        if queries:
            settings.min_query_count = queries
        # a target far above what the machine serves still ends: LoadGen stops issuing at the query minimum,
        # and the queue drains at the machine's own pace
        meter.start()
        res = _run_loadgen(sut, library, settings, out_dir / f"step-{len(steps_done) + 1}")
        result = _scenario_result("Server", res, sut, meter.stop())
        result.target_qps = qps
        steps_done.append(result)
        more = _more_queries(res)
        # p99 under the bound but too few queries for LoadGen's early stopping to be sure of it: LoadGen says
        # how many more it needs; the same target runs once more with that many (one more step of the budget)
        if (not result.valid and queries is None and more and res.get("result_perf_constraints_met")
                and res.get("result_min_duration_met") and len(steps_done) < cfg.search_steps):
            needed = int(1.1 * (int(res.get("result_query_count") or 0) + more))
            if affordable(qps, needed):
                retry_valid, retry = run_at(qps, needed)
                retry.retried_with_queries = needed
                return retry_valid, retry
        return bool(result.valid), result

    steps_done: list[ScenarioResult] = []
    start = 0.5 * served_qps * cfg.server_batching.workers  # likely VALID: the first doubling brackets the peak
    floor = min_queries(cfg, "Server") / cfg.step_cap_s if cfg.step_cap_s else 1e-3
    began = time.perf_counter()

    def affordable(qps: float, queries: int | None = None) -> bool:  # a step lasts its minimum duration or its
        expected = max(cfg.min_duration_ms / 1000, (queries or min_queries(cfg, "Server")) / qps)  # queries' time
        if len(steps_done) >= cfg.search_steps:  # retries count: no more LoadGen runs than search_steps
            return False
        return cfg.search_budget_s is None or time.perf_counter() - began + expected <= cfg.search_budget_s

    outcome = find_peak_qps(run_at, start_qps=max(start, 1e-3), max_steps=cfg.search_steps,
                            precision=cfg.search_precision, floor_qps=floor, affordable=affordable)
    search = [{"target_qps": r.target_qps, "valid": bool(r.valid), "p99_ms": r.latency_ms.get("99.00"),
               "p50_ms": r.latency_ms.get("50.00"), "completed_qps": r.qps_without_loadgen_overhead,
               "queries": r.queries, "invalid_reason": r.invalid_reason} for r in steps_done]
    if outcome.peak is not None:
        result = outcome.peak.result
        result.headline = outcome.peak_qps
    else:
        lowest = min(outcome.steps, key=lambda s: s.target_qps)
        result = dataclasses.replace(lowest.result, valid=False, headline=None, invalid_reason=(
            f"no target QPS was VALID in {len(outcome.steps)} search steps (lowest tried {lowest.target_qps:.3g} "
            f"QPS{_latency_note(lowest.result, cfg.server_latency_ms)}: {lowest.result.invalid_reason})"))
    result.search = search
    result.latency_bound_ms = cfg.server_latency_ms
    result.batching = dataclasses.asdict(cfg.server_batching)
    return result


def _latency_note(result: ScenarioResult, bound_ms: float) -> str:
    """The lowest step's latencies against the bound: a median already near the bound says the service time
    itself (a slow model, or a machine busy with other work) misses it, not queueing at too high a target."""
    p50, p99 = result.latency_ms.get("50.00"), result.latency_ms.get("99.00")
    if p50 is None or p99 is None:
        return ""
    note = f", p50 {p50:.3g} ms, p99 {p99:.3g} ms against the {bound_ms:.3g} ms bound"
    if p50 >= 0.5 * bound_ms:
        note += "; the median alone is over half the bound: the service time, not the offered load, misses it"
    return note


def _more_queries(res: dict[str, Any]) -> int | None:
    """The further queries LoadGen's early stopping says a Server run would have needed, if it says so."""
    match = re.search(r"at least (\d+) more queries", str(res.get("early_stopping_result") or ""))
    return int(match.group(1)) if match else None


def served_query_count(bench: Any) -> int:
    """Queries LoadGen serves and the accuracy pass scores: the benchmark's whole evaluation split, or in a
    smoke run (`ctx.eval_limit`) no more than its few evaluation samples or its performance sample set."""
    count = bench.query_count()
    limit = bench.ctx.eval_limit
    return count if limit is None else min(count, max(limit, bench.performance_sample_count()))


def _warm_up(predict: Any, samples: Sequence[Any]) -> tuple[float, float, float]:
    """One pass: a short run needs no calibration, only the one-time costs paid, and its latency, taken from
    that pass, sizes the few queries well enough."""
    start = time.perf_counter()
    predict([samples[0]])
    latency = max(time.perf_counter() - start, 1e-6)
    return latency, 1.0 / latency, MULTI_STREAM_SAMPLES * latency


def _calibrate(predict: Any, samples: Sequence[Any], batch_size: int) -> tuple[float, float, float]:
    """Untimed warm-up that also measures single-sample latency, batched throughput and an 8-sample query.

    LoadGen sizes a run from the expected latency / QPS; telling it what this machine does makes the run
    last its minimum duration instead of ending early (an INVALID result) or overrunning.
    """
    predict([samples[0]])  # one-time costs (allocations, lazy init) stay out of the measurement
    times = []
    for sample in list(samples)[:5]:
        start = time.perf_counter()
        predict([sample])
        times.append(time.perf_counter() - start)

    def fastest(batch: list[Any], tries: int) -> float:
        best = math.inf
        for _ in range(tries):
            start = time.perf_counter()
            predict(batch)
            best = min(best, time.perf_counter() - start)
        return max(best, 1e-6)

    batch = [samples[i % len(samples)] for i in range(batch_size)]
    batch_s = fastest(batch, 3)
    ms_s = fastest([samples[i % len(samples)] for i in range(MULTI_STREAM_SAMPLES)], 2)
    # the fastest batch: an expected QPS set too low (one slow batch on a busy machine) makes LoadGen issue too
    # few queries, so the Offline run ends before its minimum duration and is INVALID; too high only runs longer
    return max(statistics.median(times), 1e-6), len(batch) / batch_s, ms_s


def read_accuracy_log(path: Path) -> dict[int, Any]:
    """sample index -> the output its response carried, from LoadGen's mlperf_log_accuracy.json."""
    entries = json.loads(path.read_text() or "[]")
    return {int(e["qsl_idx"]): deserialize(bytes.fromhex(e["data"])) for e in entries}


def score_accuracy_log(bench: Any, path: Path, count: int) -> Any:
    """The benchmark's quality metric over what LoadGen logged: every sample must be there exactly once."""
    outputs = read_accuracy_log(path)
    if sorted(outputs) != list(range(count)):
        raise RuntimeError(f"{path}: LoadGen logged {len(outputs)} responses for {count} samples")
    indices = sorted(outputs)
    with torch.no_grad():
        return bench.score(indices, [outputs[i] for i in indices])


def _accuracy_pass(bench: Any, predict: Any, library: SampleLibrary, cfg: InferSettings, out_dir: Path,
                   expected_qps: float, latency_s: float, ms_latency_s: float) -> tuple[Any, dict[str, Any]]:
    sut = ServedModel(predict, library, Batching(max_batch_size=cfg.offline_batch_size, max_wait_s=0.0))
    # every query of the split once; LoadGen loads them a performance sample set at a time, so memory holds
    # one set whatever the split's size
    settings = _settings("Offline", lg.TestMode.AccuracyOnly, cfg, library, latency_s, expected_qps, ms_latency_s)
    loads, unloads, peak = library.loads, library.unloads, library.peak_loaded
    library.peak_loaded = 0
    _run_loadgen(sut, library, settings, out_dir)
    log = out_dir / "mlperf_log_accuracy.json"
    quality = score_accuracy_log(bench, log, library.count)
    accuracy = {"log": str(log), "samples": library.count, "scored_from": "mlperf_log_accuracy.json",
                "performance_sample_count": library.performance_count, "qsl_loads": library.loads - loads,
                "qsl_unloads": library.unloads - unloads, "qsl_peak_loaded": library.peak_loaded,
                "log_bytes": log.stat().st_size}
    library.peak_loaded = max(peak, library.peak_loaded)
    return quality, accuracy


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and bool(torch.allclose(a.float(), b.float(), rtol=1e-3, atol=1e-5))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-5)
    try:
        return bool(a == b)
    except Exception:
        return False


def _audit_test01(bench: Any, predict: Any, library: SampleLibrary, cfg: InferSettings, log_dir: Path,
                  expected_qps: float, latency_s: float, ms_latency_s: float) -> dict[str, Any]:
    """MLPerf's TEST01: a performance run that logs a fraction of its responses, each compared with the
    accuracy run's response for the same sample (outputs equal, floats to 1e-3)."""
    scenario = "Offline" if "Offline" in cfg.scenarios else cfg.scenarios[0]
    if scenario == "Server":
        scenario = "SingleStream"
    sut = ServedModel(predict, library, Batching(max_batch_size=cfg.offline_batch_size if scenario == "Offline"
                                                 else MULTI_STREAM_SAMPLES, max_wait_s=0.0))
    settings = _settings(scenario, lg.TestMode.PerformanceOnly, cfg, library, latency_s, expected_qps,
                         ms_latency_s)
    settings.accuracy_log_probability = 0.1
    settings.accuracy_log_rng_seed = 720381539243781796
    out_dir = log_dir / "audit-TEST01"
    _run_loadgen(sut, library, settings, out_dir)
    logged = read_accuracy_log(out_dir / "mlperf_log_accuracy.json")
    reference = read_accuracy_log(log_dir / "accuracy" / "mlperf_log_accuracy.json")
    mismatched = sorted(i for i, out in logged.items() if not _same(out, reference.get(i)))
    return {"test": "TEST01", "scenario": scenario, "logged": len(logged), "mismatched": mismatched[:20],
            "passed": bool(logged) and not mismatched}


def inference_settings(scale: str, scenarios: Sequence[str] | None = None, duration_ms: int | None = None,
                       audit: str | None = None) -> InferSettings:
    """`aibench run`'s LoadGen settings at a scale.

    tiny: 1 s per scenario (and per search step) and the query counts LoadGen's early stopping needs, so every
    scenario can be VALID; a default scenario whose minimum would take over 20 s here is skipped (named in
    --scenarios it runs whatever it costs), and the Server search, once a step is VALID, starts no step that would
    end past 30 s (120 s when named); before that its floor and step count bound it. small/full: MLPerf's minimums
    (600 s, its query and sample counts); --infer-duration-ms below the scale's own duration shortens the runs (and the query counts to tiny's), and
    such a record is flagged short, never shown as a result."""
    cfg = InferSettings(audit=audit)
    if scenarios:
        cfg.scenarios, cfg.scenarios_chosen = tuple(scenarios), True
    if scale == "tiny":  # the search's time is bounded too: a scenario the user named may take 2 minutes
        cfg.budget_s, cfg.search_steps, cfg.search_budget_s = 20.0, 6, 120.0 if cfg.scenarios_chosen else 30.0
        default_ms = cfg.min_duration_ms
    else:
        cfg.min_duration_ms = default_ms = MLPERF_MIN_DURATION_MS
        cfg.min_query_count = dict(MLPERF_MIN_QUERIES)
        cfg.offline_min_samples = MLPERF_OFFLINE_MIN_SAMPLES
        cfg.search_steps = 10
    if duration_ms is not None:
        cfg.min_duration_ms = duration_ms
        if duration_ms < default_ms:
            cfg.short = True
            cfg.min_query_count = dict(InferSettings().min_query_count)
            cfg.offline_min_samples = 0
    return cfg
