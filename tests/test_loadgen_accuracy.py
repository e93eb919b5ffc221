"""Accuracy from what was served: responses carry serialized outputs, LoadGen logs them, the score reads the log;
LoadGen's query sample library loads and unloads the samples; MultiStream and early-stopping headlines."""

import json

import pytest

from aibench.harness.infer import (InferSettings, read_accuracy_log, run_inference, score_accuracy_log)
from aibench.harness.loadgen_sut import serialize
from aibench.harness.train import train
from aibench.results.mllog import RunLog
from toy import make_toy

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("served")
    bench = make_toy(tmp)
    log = RunLog(tmp / "log")
    train(bench, log)
    log.close()
    out = run_inference(bench, bench.device, InferSettings(
        scenarios=("SingleStream", "MultiStream", "Offline"), scenarios_chosen=True, min_duration_ms=100,
        log_dir=tmp / "lg", expected_qps=20_000))
    return bench, out, tmp


def test_accuracy_is_scored_from_loadgens_log_and_a_corrupted_response_moves_it(served, tmp_path):
    bench, out, tmp = served
    log = tmp / "lg" / "accuracy" / "mlperf_log_accuracy.json"
    entries = json.loads(log.read_text())
    n = bench.config.inference_samples
    assert len(entries) == n and all(e["data"] for e in entries)  # every response carried its output
    assert out["accuracy"]["scored_from"] == "mlperf_log_accuracy.json"
    logged = read_accuracy_log(log)
    direct = bench.infer([bench.inference_samples()[i] for i in range(n)])
    assert [logged[i] for i in range(n)] == list(direct)
    assert out["quality"].value == score_accuracy_log(bench, log, n).value == 1.0
    # flip one logged prediction: the score drops by exactly one sample
    victim = entries[5]
    wrong = 1 - logged[int(victim["qsl_idx"])]
    victim["data"] = serialize(wrong).hex().upper()
    corrupted = tmp_path / "mlperf_log_accuracy.json"
    corrupted.write_text(json.dumps(entries))
    assert score_accuracy_log(bench, corrupted, n).value == pytest.approx(1.0 - 1 / n)
    # a response missing from the log is an error, not a silently smaller sample
    corrupted.write_text(json.dumps(entries[1:]))
    with pytest.raises(RuntimeError, match="logged"):
        score_accuracy_log(bench, corrupted, n)


def test_samples_come_through_loadgens_load_and_unload(served):
    _, out, _ = served
    assert out["accuracy"]["qsl_loads"] >= 1 and out["accuracy"]["qsl_loads"] == out["accuracy"]["qsl_unloads"]


def test_multistream_and_early_stopping_headlines(served):
    _, out, _ = served
    single, multi = out["scenarios"]["SingleStream"], out["scenarios"]["MultiStream"]
    assert single.valid and multi.valid, (single.invalid_reason, multi.invalid_reason)
    # the headline is LoadGen's early-stopping estimate, not a raw percentile
    assert single.headline == single.early_stopping_ms and single.early_stopping_ms >= single.latency_ms["90.00"]
    assert "90.0th percentile estimate" in single.early_stopping_text
    assert multi.samples_per_query == 8 and multi.samples == 8 * multi.queries and multi.queries >= 662
    assert multi.headline == multi.early_stopping_ms >= multi.latency_ms["99.00"]
    assert single.qps_without_loadgen_overhead >= single.qps > 0


def test_test01_audit_compares_logged_performance_responses_with_the_accuracy_run(tmp_path):
    bench = make_toy(tmp_path)
    bench.setup()
    out = run_inference(bench, bench.device, InferSettings(
        scenarios=("Offline",), scenarios_chosen=True, min_duration_ms=100, log_dir=tmp_path / "lg",
        expected_qps=20_000, audit="TEST01"))
    audit = out["audit"]
    assert audit["test"] == "TEST01" and audit["logged"] > 0 and audit["mismatched"] == [] and audit["passed"]
    assert (tmp_path / "lg" / "audit-TEST01" / "mlperf_log_accuracy.json").stat().st_size > 10
