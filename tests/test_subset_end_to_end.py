"""The README's main job, end to end: the subset at tiny scale, trained to target and served through LoadGen.

Slow (minutes): it is the real run-to-target check, and CI runs it once.
"""

import json

import pytest

from aibench.cli import main
from aibench.results.mllog import read_events

pytestmark = pytest.mark.slow


def test_subset_trains_to_target_and_serves(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["run", "subset", "--scale", "tiny", "--mode", "all"])
    capsys.readouterr()
    assert main(["results", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    for bench in ("DC-AI-C1", "DC-AI-C9", "DC-AI-C16"):
        train = [r for r in rows if r["benchmark"] == bench and r["mode"] == "train"]
        infer = [r for r in rows if r["benchmark"] == bench and r["mode"] == "infer"]
        assert len(train) == 1 and len(infer) == 1, bench
        t, i = train[0], infer[0]
        assert t["status"] == "success", (bench, t["status"], t["quality"], t["metrics"].get("message"))
        assert t["quality"] >= t["target"]
        assert t["metrics"]["time_to_quality_s"] < 180, bench
        assert t["params"] > 0 and t["characterization"]["flops_train_per_sample"] > 0
        assert set(i["metrics"]["latency_ms"]) == {"50.00", "90.00", "95.00", "97.00", "99.00", "99.90"}
        assert i["metrics"]["offline_qps"] > 0 and i["quality"] is not None
        assert i["metrics"]["model_state"].startswith("trained")
        keys = {e["key"] for e in read_events(t["log_path"])}
        assert {"run_start", "run_stop", "eval_accuracy"} <= keys
    assert code == 0
