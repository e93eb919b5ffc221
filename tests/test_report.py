from aibench.characterize.breakdown import CATEGORIES
from aibench.report.html import write_report
from aibench.results.store import ResultStore


def _records(store: ResultStore) -> None:
    system = {"cpu_model": "Test CPU", "logical_cpus": 2, "gpus": [], "code_version": "abc"}
    for bench, dominant, params in (("DC-AI-C1", "convolution", 2.5e7), ("DC-AI-C16", "gemm", 1e5),
                                    ("DC-AI-C9", "batch_norm", 4e7)):
        ch = {"params": {"total": params}, "flops_train_per_sample": params * 30,
              "breakdown": {"category_share": {c: (0.9 if c == dominant else 0.1 / 8) for c in CATEGORIES},
                            "hotspots": [{"name": f"aten::{dominant}_op", "category": dominant, "share": 0.9,
                                          "calls": 3}]},
              "counters": {"status": "unavailable"}}
        common = dict(benchmark=bench, name="x", scale="tiny", metric="m", target=0.5, seed=0, system=system,
                      characterization=ch)
        for seed, epochs in ((0, 3), (1, 4)):
            store.add(**{**common, "seed": seed}, mode="train", status="success", quality=0.6,
                      metrics={"time_to_quality_s": 10.0 + epochs, "epochs_to_quality": epochs, "epochs": epochs,
                               "epoch_times_s": [3.0] * epochs, "run_time_s": 12.0, "energy_j": None})
        store.add(**common, mode="infer", status="completed", quality=0.6,
                  metrics={"model_state": "trained", "latency_ms": {"50.00": 1.0, "99.00": 2.0},
                           "offline_qps": 100.0})
        store.add(**common, mode="profile", status="completed", quality=None, metrics={})


def test_report_has_the_paper_tables_and_figures(tmp_path):
    store = ResultStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    _records(store)
    out = write_report(store.records(), tmp_path / "report.html")
    text = out.read_text()
    for heading in ("Table 3", "Table 5", "Table 6", "Table 7", "Fig. 2", "Fig. 4", "Fig. 5", "LoadGen"):
        assert heading in text, heading
    assert text.count("<img") == 3
    assert "aten::convolution_op" in text
    assert "20.20%" in text  # CV of epochs 3 and 4: std 0.707 / mean 3.5
    assert (tmp_path / "report-figures" / "clusters.png").stat().st_size > 1000


def test_a_later_failed_run_never_replaces_the_successful_result(tmp_path):
    """Issue 11: one Ctrl-C'd run of C15 replaced the successful run in the Table 3 headline."""
    from aibench.report.html import _latest, other_run_rows

    store = ResultStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    common = dict(benchmark="DC-AI-C15", name="x", scale="tiny", metric="m", target=0.9, seed=0, system={},
                  mode="train")
    store.add(**common, status="success", quality=0.93,
              metrics={"epochs_to_quality": 9, "time_to_quality_s": 20.0, "epochs": 9})
    store.add(**common, status="aborted", quality=0.30, metrics={"epochs": 2})
    records = store.records()
    assert _latest(records, "train")["DC-AI-C15"]["quality"] == 0.93
    assert other_run_rows(records, "train") == [["DC-AI-C15", "tiny", "aborted", "1"]]
    text = write_report(records, tmp_path / "report.html").read_text()
    assert "Other training runs" in text and "n/a (1 run)" in text


def test_a_resumed_run_is_marked_in_tables_and_the_report():
    from aibench.report.html import quality_rows
    from aibench.report.tables import status_label

    record = {"id": 2, "benchmark": "DC-AI-C1", "mode": "train", "scale": "tiny", "status": "success",
              "quality": 0.9, "target": 0.8, "metrics": {"time_to_quality_s": 3.0}, "config": {"resumed_from": 1}}
    assert status_label(record) == "success (resumed #1)"
    assert status_label({**record, "config": {}}) == "success"
    assert quality_rows([record])[0][8] == "success (resumed #1)"
