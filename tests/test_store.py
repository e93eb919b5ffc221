import json
import math

from aibench.results.store import ResultStore, dumps


def _row(**kw):
    base = dict(benchmark="DC-AI-C1", name="image_classification", mode="train", scale="tiny", status="success",
                quality=0.9, target=0.8, metric="top1_accuracy", seed=0, metrics={"throughput": 10.0})
    base.update(kw)
    return base


def test_records_round_trip_and_filter(tmp_path):
    store = ResultStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    store.add(**_row())
    store.add(**_row(mode="infer", status="completed", metrics={"latency_ms": {"50.00": 1.5}}))
    store.add(**_row(benchmark="DC-AI-C9", name="object_detection"))
    rows = store.records()
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert store.records(benchmark="DC-AI-C1", mode="infer")[0]["metrics"]["latency_ms"]["50.00"] == 1.5
    for key in ("benchmark", "mode", "scale", "status", "quality", "target", "metrics"):
        assert key in rows[0]
    # a second store on the same file sees what the first wrote (records are committed at once)
    assert len(ResultStore(f"sqlite:///{tmp_path / 'r.sqlite'}").records()) == 3


def test_non_finite_numbers_become_null_json(tmp_path):
    store = ResultStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    store.add(**_row(status="diverged", quality=math.nan, metrics={"last_loss": math.inf}, curve=[{"q": math.nan}]))
    row = json.loads(dumps(store.records()))[0]
    assert row["quality"] is None and row["metrics"]["last_loss"] is None and row["curve"] == [{"q": None}]
