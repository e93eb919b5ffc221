"""Accuracy from what was served: responses carry serialized outputs, LoadGen logs them, the score reads the log;
LoadGen's query sample library loads and unloads the samples; MultiStream and early-stopping headlines."""

import json

import pytest
import torch

from aibench.harness.infer import (InferSettings, read_accuracy_log, run_inference, score_accuracy_log)
from aibench.harness.loadgen_sut import deserialize, serialize
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
    n = bench.query_count()  # the whole evaluation split, not only the inference samples held for performance
    assert n == 256 > bench.config.inference_samples
    assert len(entries) == n and all(e["data"] for e in entries)  # every response carried its output
    assert out["accuracy"]["scored_from"] == "mlperf_log_accuracy.json" and out["samples"] == n
    logged = read_accuracy_log(log)
    direct = bench.infer([bench.load_query(i) for i in range(n)])
    assert [logged[i] for i in range(n)] == list(direct)
    # the split scored through LoadGen is the split the training run evaluates: the same quality
    assert out["quality"].value == score_accuracy_log(bench, log, n).value == bench.evaluate().value
    # flip one logged prediction that was right: the score drops by exactly one sample
    victim = next(e for e in entries if logged[int(e["qsl_idx"])] == int(bench.y[256 + int(e["qsl_idx"])]))
    victim["data"] = serialize(1 - logged[int(victim["qsl_idx"])]).hex().upper()
    corrupted = tmp_path / "mlperf_log_accuracy.json"
    corrupted.write_text(json.dumps(entries))
    assert score_accuracy_log(bench, corrupted, n).value == pytest.approx(out["quality"].value - 1 / n)
    # a response missing from the log is an error, not a silently smaller sample
    corrupted.write_text(json.dumps(entries[1:]))
    with pytest.raises(RuntimeError, match="logged"):
        score_accuracy_log(bench, corrupted, n)


def test_samples_come_through_loadgens_load_and_unload_one_performance_set_at_a_time(served):
    bench, out, _ = served
    accuracy, held = out["accuracy"], bench.performance_sample_count()
    assert held == bench.config.inference_samples == 32 and out["performance_sample_count"] == held
    # the accuracy pass loaded the 256-query split in sets of 32: at least 8 loads, each unloaded, and the
    # library never held more than one set (nor did the performance runs)
    assert accuracy["qsl_loads"] >= 256 // 32 and accuracy["qsl_loads"] == accuracy["qsl_unloads"]
    assert 0 < accuracy["qsl_peak_loaded"] <= held and 0 < out["qsl_peak_loaded"] <= held


def test_the_default_query_library_is_the_inference_samples(tmp_path):
    """A benchmark without a loader of its split serves (and scores) its in-memory inference samples."""
    from aibench.benchmarks.base import Benchmark

    class HeldToy(type(make_toy(tmp_path))):
        query_count, load_query = Benchmark.query_count, Benchmark.load_query

    bench = HeldToy(make_toy(tmp_path).ctx)
    bench.setup()
    out = run_inference(bench, bench.device, InferSettings(
        scenarios=("Offline",), scenarios_chosen=True, min_duration_ms=50, log_dir=tmp_path / "lg",
        expected_qps=20_000))
    assert bench.query_count() == out["samples"] == out["quality"].samples == bench.config.inference_samples
    assert torch.equal(bench.load_query(3), bench.inference_samples()[3])


def test_responses_carry_each_sample_s_own_tensor_bytes_not_the_batch_s():
    """torch pickles a row of a batch with the batch's whole storage; the served response holds only the row."""
    rows = list(torch.randn(16, 1000))
    data = serialize(rows[3])
    assert torch.equal(deserialize(data), rows[3]) and len(data) < 4000 + 500
    half = {"x": torch.randn(4, 4).to(torch.bfloat16)[1], "label": 3}
    back = deserialize(serialize(half))
    assert back["label"] == 3 and back["x"].dtype == torch.bfloat16 and torch.equal(back["x"], half["x"])
    grid = torch.rand(16, 16, 16) > 0.5  # a voxel grid travels as bits
    packed = serialize(grid)
    assert len(packed) < 4096 // 8 + 300 and torch.equal(deserialize(packed), grid)
    assert deserialize(serialize(torch.zeros(0, 3, dtype=torch.bool))).shape == (0, 3)


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
