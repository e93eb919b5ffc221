import pytest
from rich.console import Console

from aibench.analysis.variation import NEEDS_TWO, fingerprint, summarize_repeats
from aibench.report.tables import variation_table

SYSTEM = {"hostname": "a", "cpu_model": "Test CPU", "logical_cpus": 2, "gpus": [], "cuda": None,
          "libraries": {"torch": "2.3.0", "numpy": "1.26.4"}, "code_version": "abc123", "load_average_1m": 0.1}
CONFIG = {"scale_config": {"target": 0.5, "max_epochs": 10, "batch_size": 8, "hparams": {"lr": 0.1}},
          "data_dir": "/data", "device": "cpu", "max_epochs": 10, "mode": "train", "smoke": False}


def _train(seed, status, epochs, ttq, *, rid=None, config=None, system=None, mode="train"):
    return {"id": rid, "benchmark": "DC-AI-C1", "scale": "tiny", "mode": mode, "seed": seed, "status": status,
            "metrics": {"epochs_to_quality": epochs, "time_to_quality_s": ttq},
            "config": {**CONFIG, **(config or {})}, "system": {**SYSTEM, **(system or {})}}


def _text(table) -> str:
    console = Console(width=400, record=True)
    console.print(table)
    return console.export_text()


def test_variation_over_successful_repeats_only():
    rows = [_train(0, "success", 4, 10.0), _train(1, "success", 6, 30.0), _train(2, "success", 5, 20.0),
            _train(3, "target_missed", None, None), {"benchmark": "DC-AI-C1", "scale": "tiny", "mode": "infer"}]
    (s,) = summarize_repeats(rows)
    assert s["runs"] == 4 and s["successes"] == 3 and s["seeds"] == [0, 1, 2, 3]
    assert s["epochs_mean"] == 5 and s["epochs_std"] == pytest.approx(1.0)
    assert s["epochs_cv"] == pytest.approx(0.2)
    # MLPerf: the non-converged run is the slowest and is dropped, then the fastest (10): mean of 20 and 30.
    assert s["valid"] is True and s["ttq_olympic_mean_s"] == 25.0


def test_a_run_still_in_progress_is_not_a_repeat_yet():
    rows = [_train(0, "success", 4, 10.0), _train(1, "success", 6, 30.0), _train(2, "running", None, None)]
    (s,) = summarize_repeats(rows)
    assert s["runs"] == 2 and s["seeds"] == [0, 1] and s["valid"] is True


def test_records_without_config_or_system_still_group():
    rows = [{"benchmark": "DC-AI-C1", "scale": "tiny", "mode": "train", "seed": s, "status": "success",
             "metrics": {"epochs_to_quality": 3, "time_to_quality_s": 5.0}} for s in (0, 1)]
    (s,) = summarize_repeats(rows)
    assert s["runs"] == 2 and s["epochs_std"] == 0.0


# 1. grouping by a fingerprint of configuration, system and code version (not the seed)

@pytest.mark.parametrize("change", [
    {"config": {"device": "cuda:0"}},
    {"config": {"max_epochs": 3}},  # a --max-epochs override
    {"config": {"mode": "all"}},
    {"config": {"scale_config": {**CONFIG["scale_config"], "hparams": {"lr": 0.2}}}},
    {"system": {"code_version": "def456"}},
    {"system": {"cpu_model": "Other CPU"}},
    {"system": {"gpus": [{"name": "H200", "memory_gib": 139.8, "capability": "9.0"}]}},
    {"system": {"libraries": {"torch": "2.4.0", "numpy": "1.26.4"}}},
])
def test_runs_that_differ_in_configuration_system_or_code_are_not_pooled(change):
    rows = [_train(0, "success", 4, 10.0), _train(1, "success", 6, 30.0),
            _train(0, "success", 9, 90.0, **change), _train(1, "success", 9, 99.0, **change)]
    a, b = summarize_repeats(rows)
    assert a["fingerprint"] != b["fingerprint"]
    assert len(a["fingerprint"]) == 10
    assert (a["runs"], a["epochs_mean"]) == (2, 5) and (b["runs"], b["epochs_mean"]) == (2, 9)
    assert a["distinguished_by"] and a["distinguished_by"].keys() == b["distinguished_by"].keys()
    assert a["distinguished_by"] != b["distinguished_by"]
    text = _text(variation_table([a, b]))
    assert a["fingerprint"] in text and b["fingerprint"] in text


def test_what_tells_groups_apart_is_named():
    rows = [_train(0, "success", 4, 10.0), _train(0, "success", 4, 10.0, config={"device": "cuda:0"})]
    a, b = summarize_repeats(rows)
    assert a["distinguished_by"] == {"config.device": "cpu"}
    assert b["distinguished_by"] == {"config.device": "cuda:0"}
    assert "config.device=cuda:0" in _text(variation_table([a, b]))


def test_seed_host_and_load_are_not_part_of_the_fingerprint():
    one = _train(0, "success", 4, 10.0)
    other = _train(7, "success", 5, 12.0, config={"data_dir": "/elsewhere"},
                   system={"hostname": "b", "load_average_1m": 3.0})
    assert fingerprint(one) == fingerprint(other)
    (s,) = summarize_repeats([one, other])
    assert s["runs"] == 2 and s["distinguished_by"] == {}


# 2. a repeated seed counts once (its latest record), with a note

def test_repeated_seed_counts_once_latest_record():
    rows = [_train(0, "success", 4, 10.0, rid=1), _train(1, "success", 6, 30.0, rid=2),
            _train(2, "success", 5, 20.0, rid=3), _train(0, "success", 8, 40.0, rid=4)]
    (s,) = summarize_repeats(rows)
    assert s["runs"] == 3 and s["successes"] == 3 and sorted(s["seeds"]) == [0, 1, 2]
    assert s["duplicates_dropped"] == 1
    assert s["epochs_mean"] == pytest.approx((8 + 6 + 5) / 3)  # seed 0's later record (8 epochs), not 4
    assert s["ttq_olympic_mean_s"] == 30.0  # 20, 30, 40: 20 and 40 dropped
    assert any("seed 0" in n and "once" in n for n in s["notes"])
    assert "seed 0" in _text(variation_table([s]))


def test_latest_is_by_creation_time_when_given():
    late = {**_train(0, "success", 8, 40.0), "created_at": "2025-02-01T00:00:00"}
    early = {**_train(0, "success", 4, 10.0), "created_at": "2025-01-01T00:00:00"}
    (s,) = summarize_repeats([late, early])
    assert s["runs"] == 1 and s["epochs_mean"] == 8


# 3. MLPerf's convergence rule; smoke records never enter

def test_one_non_converged_run_is_dropped_as_the_slowest():
    rows = [_train(0, "success", 4, 10.0), _train(1, "success", 5, 20.0), _train(2, "success", 5, 30.0),
            _train(3, "success", 6, 1000.0), _train(4, "target_missed", None, None)]
    (s,) = summarize_repeats(rows)
    assert s["valid"] is True and s["reason"] is None and s["non_converged"] == 1
    assert s["ttq_olympic_mean_s"] == pytest.approx((20 + 30 + 1000) / 3)  # 10 and the failed run dropped


@pytest.mark.parametrize("failed", [("target_missed", "diverged"), ("diverged", "error")])
def test_more_than_one_non_converged_run_invalidates_the_result(failed):
    rows = [_train(0, "success", 4, 10.0), _train(1, "success", 5, 20.0), _train(2, "success", 5, 30.0),
            _train(3, failed[0], None, None), _train(4, failed[1], None, None)]
    (s,) = summarize_repeats(rows)
    assert s["valid"] is False and s["ttq_olympic_mean_s"] is None
    assert "2 of 5" in s["reason"] and "at most 1" in s["reason"]
    assert s["epochs_mean"] == pytest.approx(14 / 3)  # the converged runs' variation is still reported
    text = _text(variation_table([s]))
    assert "invalid" in text and "at most 1" in text


def test_a_non_converged_run_among_fewer_than_three_gives_no_result():
    (s,) = summarize_repeats([_train(0, "success", 4, 10.0), _train(1, "diverged", None, None)])
    assert s["valid"] is False and s["ttq_olympic_mean_s"] is None and s["reason"]


def test_smoke_records_never_enter_variation():
    smoke_status = _train(5, "smoke", None, None)
    smoke_mode = _train(6, "smoke", None, None, mode="smoke")
    smoke_config = _train(7, "success", 1, 1.0, config={"smoke": True})
    rows = [_train(0, "success", 4, 10.0), _train(1, "success", 6, 30.0), _train(2, "success", 5, 20.0),
            smoke_status, smoke_mode, smoke_config]
    (s,) = summarize_repeats(rows)
    assert s["runs"] == 3 and s["seeds"] == [0, 1, 2] and s["valid"] is True
    assert summarize_repeats([smoke_mode, smoke_status]) == []


# 4. statistics that need two runs are not given from one

def test_one_run_gives_no_std_or_cv():
    (s,) = summarize_repeats([_train(0, "success", 4, 10.0)])
    assert s["epochs_mean"] == 4 and s["epochs_std"] is None and s["epochs_cv"] is None
    assert s["epochs_spread_reason"] == NEEDS_TWO == "n/a (1 run)"
    assert s["ttq_olympic_mean_s"] == 10.0
    text = _text(variation_table([s]))
    assert "n/a (1 run)" in text and "0.00%" not in text


def test_one_success_among_two_runs_gives_no_cv():
    (s,) = summarize_repeats([_train(0, "success", 4, 10.0), _train(1, "target_missed", None, None)])
    assert s["runs"] == 2 and s["epochs_cv"] is None and s["epochs_spread_reason"] == "n/a (1 run)"
