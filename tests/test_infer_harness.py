from aibench.harness.infer import InferSettings, PERCENTILES, run_inference
from aibench.harness.train import train
from aibench.results.mllog import RunLog
from toy import SteadyCounter, make_toy


def test_loadgen_scenarios_and_accuracy_pass(tmp_path):
    bench = make_toy(tmp_path)
    log = RunLog(tmp_path / "log")
    train(bench, log)
    log.close()
    out = run_inference(bench, bench.device, InferSettings(min_duration_ms=200, min_query_count=16,
                                                           log_dir=tmp_path / "lg"))
    single, offline = out["scenarios"]["SingleStream"], out["scenarios"]["Offline"]
    assert set(single.latency_ms) == set(PERCENTILES)
    lat = [single.latency_ms[p] for p in PERCENTILES]
    assert lat == sorted(lat) and lat[0] > 0
    assert single.qps > 0 and offline.qps > 0
    assert single.samples >= 16 and offline.samples >= 16
    assert single.energy_j is None and single.energy_source == "none"
    # the accuracy pass scored every query of the evaluation split with the trained model: the same quality as
    # the training run's evaluation of that split
    assert out["samples"] == out["quality"].samples == bench.query_count() == 256
    assert out["quality"].value == bench.evaluate().value >= 0.9
    assert (tmp_path / "lg" / "SingleStream" / "mlperf_log_summary.txt").exists()
    # LoadGen's verdict and its early-stopping p90 are kept; all four scenarios are the default
    assert single.valid is True and single.invalid_reason is None and single.headline == single.early_stopping_ms
    assert set(out["scenarios"]) == {"SingleStream", "MultiStream", "Server", "Offline"}
    assert out["scenarios"]["MultiStream"].samples_per_query == 8
    # without a latency bound a default Server scenario is skipped, and says why
    assert "latency bound" in out["scenarios"]["Server"].skipped
    # the accuracy pass was scored from what LoadGen logged
    assert out["accuracy"]["scored_from"] == "mlperf_log_accuracy.json"


def test_each_scenario_records_energy_above_an_idle_baseline_where_a_counter_exists(tmp_path, monkeypatch):
    import pytest

    from aibench.harness import infer
    from aibench.harness.energy import EnergyMeter


    monkeypatch.setattr(infer, "IDLE_BASELINE_S", 0.2)
    bench = make_toy(tmp_path)
    bench.setup()
    out = run_inference(bench, bench.device, InferSettings(scenarios=("Offline",), min_duration_ms=200,
                                                           min_query_count=1, log_dir=tmp_path / "lg"),
                        meter=EnergyMeter([SteadyCounter(40.0)], interval_s=0.05))
    offline = out["scenarios"]["Offline"]
    assert offline.energy_j > 0 and offline.energy_per_sample_j > 0
    assert offline.energy_detail["energy_idle_w"] == pytest.approx(40.0, rel=0.05)
    assert abs(offline.energy_detail["energy_above_idle_j"]) < 0.1 * offline.energy_j
