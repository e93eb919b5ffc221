#!/usr/bin/env python
"""LoadGen's and aibench's overhead: a model that answers instantly, served three ways.

1. LoadGen's bare callback: QuerySamplesComplete with empty responses inside the issue callback.
2. aibench's system under test, synchronous: serialized outputs, no queue.
3. aibench's system under test as `aibench run` uses it: queue, worker thread, serialized outputs.

Each runs LoadGen's SingleStream (QPS with and without LoadGen's own overhead, as LoadGen reports them) and
Offline (samples/s). The ratio aibench SUT / bare callback says how much of a fast model's measured rate the
harness itself costs.  Usage: python scripts/loadgen_overhead.py [--duration-ms 2000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import mlperf_loadgen as lg

from aibench.harness.infer import read_loadgen_results
from aibench.harness.loadgen_sut import Batching, SampleLibrary, ServedModel


def instant(samples):
    return [0] * len(samples)


def run(sut_issue, flush, scenario: str, duration_ms: int, out: Path, library: SampleLibrary) -> dict:
    s = lg.TestSettings()
    s.scenario = getattr(lg.TestScenario, scenario)
    s.mode = lg.TestMode.PerformanceOnly
    s.min_duration_ms = duration_ms
    s.min_query_count = 64
    s.single_stream_expected_latency_ns = 5_000  # too high only runs longer
    s.offline_expected_qps = 2_000_000
    log = lg.LogSettings()
    log.log_output.outdir = str(out)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    out.mkdir(parents=True, exist_ok=True)
    handle = lg.ConstructSUT(sut_issue, flush)
    qsl = lg.ConstructQSL(library.count, library.count, library.load_samples, library.unload_samples)
    try:
        lg.StartTestWithLogSettings(handle, qsl, s, log)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(handle)
    return read_loadgen_results(out / "mlperf_log_detail.txt")


def bare_issue(query_samples):
    lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in query_samples])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-ms", type=int, default=2000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="aibench-overhead-"))
    library = SampleLibrary(64, lambda i: i)
    rows = []
    for scenario in ("SingleStream", "Offline"):
        results = {}
        results["bare callback"] = run(bare_issue, lambda: None, scenario, args.duration_ms,
                                       root / f"bare-{scenario}", library)
        sync = ServedModel(instant, library, Batching(max_batch_size=16, max_wait_s=0.0), synchronous=True)
        with sync:
            results["aibench SUT, synchronous"] = run(sync.issue_queries, sync.flush_queries, scenario,
                                                      args.duration_ms, root / f"sync-{scenario}", library)
        queued = ServedModel(instant, library, Batching(max_batch_size=16, max_wait_s=0.0))
        with queued:
            results["aibench SUT, queue + worker"] = run(queued.issue_queries, queued.flush_queries, scenario,
                                                         args.duration_ms, root / f"queued-{scenario}", library)
        for name, res in results.items():
            if scenario == "SingleStream":
                rate, raw = res.get("result_qps_with_loadgen_overhead"), res.get("result_qps_without_loadgen_overhead")
            else:
                rate, raw = res.get("result_samples_per_second"), None
            rows.append((scenario, name, rate, raw, res.get("result_validity")))
    base = {s: r for s, n, r, _, _ in rows if n == "bare callback"}
    print(f"{'scenario':<13} {'system under test':<28} {'QPS (LoadGen overhead in)':>26} "
          f"{'QPS (without)':>14} {'vs bare':>8}  validity")
    for scenario, name, rate, raw, validity in rows:
        raw_text = f"{raw:14.0f}" if raw else f"{'-':>14}"
        print(f"{scenario:<13} {name:<28} {rate:26.0f} {raw_text} {rate / base[scenario]:8.2f}  {validity}")
    print(f"(logs in {root})")


if __name__ == "__main__":
    main()
