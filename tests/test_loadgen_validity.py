"""An INVALID LoadGen result is a record with status `invalid`, LoadGen's reason, and a non-zero exit."""

import json

import aibench.harness.infer as infer
from aibench.cli import main
from aibench.harness.infer import inference_settings, invalid_reason


def test_invalid_reason_names_loadgens_failed_checks():
    res = {"result_validity": "INVALID", "result_invalid_reason": "Reduce target QPS to improve latency. ",
           "result_perf_constraints_met": False, "result_min_duration_met": True, "result_min_queries_met": True,
           "early_stopping_met": False, "early_stopping_result": " * Run unsuccessful.  * Processed 190 queries."}
    reason = invalid_reason(res)
    assert reason.startswith("Reduce target QPS") and "latency bound" in reason and "early stopping" in reason
    assert "Processed 190 queries" in reason
    assert invalid_reason({"result_validity": "VALID"}) is None


def test_settings_per_scale_follow_mlperfs_minimums_and_flag_short_runs():
    tiny = inference_settings("tiny")
    assert tiny.scenarios == ("SingleStream", "MultiStream", "Server", "Offline") and not tiny.short
    assert tiny.min_query_count["SingleStream"] >= 64 and tiny.min_query_count["MultiStream"] >= 662
    full = inference_settings("full")
    assert full.min_duration_ms == 600_000 and full.min_query_count["Server"] == 270_336 and not full.short
    quick = inference_settings("small", ["Server"], duration_ms=2000, audit="TEST01")
    assert quick.short and quick.scenarios == ("Server",) and quick.scenarios_chosen and quick.audit == "TEST01"


def test_an_expected_qps_far_too_low_is_invalid_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    real = infer.inference_settings

    def too_low(*args, **kwargs):
        cfg = real(*args, **kwargs)
        cfg.expected_qps = 0.5  # LoadGen sizes Offline's one query from it: the run ends long before 1 s
        return cfg

    monkeypatch.setattr(infer, "inference_settings", too_low)
    out = str(tmp_path / "out")
    rc = main(["run", "C15", "--mode", "infer", "--untrained", "--scenarios", "Offline", "--threads", "1",
               "--out", out])
    assert rc == 1
    capsys.readouterr()
    assert main(["results", "--json", "--mode", "infer", "--out", out]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["status"] == "invalid"
    assert "Offline" in record["message"] and "minimum duration not met" in record["message"]
    assert "Increase expected QPS" in record["message"]  # LoadGen's own words
    offline = record["metrics"]["scenarios"]["Offline"]
    assert offline["valid"] is False and offline["invalid_reason"]


def test_the_queries_loadgens_early_stopping_asks_for_are_read():
    from aibench.harness.infer import _more_queries

    text = " * Run unsuccessful.  * Processed 800 queries.  * Would need to run at least 201 more queries,  with"
    assert _more_queries({"early_stopping_result": text}) == 201
    assert _more_queries({"early_stopping_result": " * Run successful."}) is None


def test_a_run_that_ends_before_its_minimum_duration_runs_again_told_a_faster_system(tmp_path, monkeypatch):
    from toy import make_toy

    from aibench.harness.infer import InferSettings, run_inference

    def pessimistic(*args, **kwargs):  # a calibration on a busy moment: 10 samples/s, the machine serves far more
        return 0.1, 10.0, 0.8

    monkeypatch.setattr(infer, "_calibrate", pessimistic)
    bench = make_toy(tmp_path)
    bench.setup()
    out = run_inference(bench, bench.device, InferSettings(scenarios=("Offline",), min_duration_ms=300,
                                                           min_query_count=1, log_dir=tmp_path / "lg"))
    offline = out["scenarios"]["Offline"]
    assert offline.valid is True, offline.invalid_reason
    assert offline.resized and "minimum duration" in offline.resized
