import time
from pathlib import Path

import pytest
import torch
from mlperf_logging.compliance_checker import mlp_compliance

from aibench.benchmarks.base import StepOutput
from aibench.harness.train import train
from aibench.results.mllog import RunLog, read_events
from toy import SteadyCounter, make_toy


def _run(bench, tmp_path: Path, **kw):
    log = RunLog(tmp_path / "run.mllog")
    log.submission("toy", "test cpu", "toy:tiny", bench.config.batch_size)
    try:
        return train(bench, log, **kw), log.path
    finally:
        log.close()


def test_reaches_target_and_measures(tmp_path):
    result, _ = _run(make_toy(tmp_path), tmp_path)
    assert result.status == "success"
    assert result.quality >= 0.95
    assert result.epochs_to_quality == result.epochs == len(result.curve)
    assert result.time_to_quality_s == pytest.approx(result.run_time_s)
    assert result.throughput_samples_per_s > 0
    assert result.samples_trained == 256 * result.epochs
    assert result.curve[-1]["quality"] == result.quality
    assert result.energy_j is None and result.energy_source == "none"  # no counters: empty, not estimated


def test_unreachable_target_is_target_missed(tmp_path):
    result, _ = _run(make_toy(tmp_path, target=1.01, max_epochs=3), tmp_path)
    assert result.status == "target_missed"
    assert result.epochs == 3 and result.time_to_quality_s is None and result.epochs_to_quality is None


def test_time_budget_stops_the_run(tmp_path):
    result, _ = _run(make_toy(tmp_path, target=1.01, max_epochs=10_000, time_budget_s=0.3), tmp_path)
    assert result.status == "target_missed"
    assert "budget" in result.message
    assert result.run_time_s < 5


def test_nan_loss_is_recorded_as_diverged(tmp_path):
    bench = make_toy(tmp_path, hparams={"lr": 0.5})
    real_step = bench.train_step
    calls = {"n": 0}

    def exploding(batch):
        calls["n"] += 1
        out = real_step(batch)
        return StepOutput(loss=float("nan") if calls["n"] == 5 else out.loss, samples=out.samples)

    bench.train_step = exploding
    result, _ = _run(bench, tmp_path)
    assert result.status == "diverged"
    assert "non-finite" in result.message


def test_ctrl_c_is_recorded_as_aborted(tmp_path):
    bench = make_toy(tmp_path, target=1.01)
    calls = {"n": 0}
    real_step = bench.train_step

    def interrupted(batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real_step(batch)

    bench.train_step = interrupted
    result, path = _run(bench, tmp_path)
    assert result.status == "aborted"
    stop = [e for e in read_events(path) if e["key"] == "run_stop"]
    assert stop[0]["metadata"]["status"] == "aborted"


def test_log_follows_mlperf_common_training_rules(tmp_path):
    result, path = _run(make_toy(tmp_path), tmp_path)
    events = read_events(path)
    keys = [e["key"] for e in events]
    for key in ("cache_clear", "init_start", "init_stop", "run_start", "run_stop", "epoch_start", "epoch_stop",
                "eval_start", "eval_stop", "eval_accuracy", "train_samples", "eval_samples", "seed",
                "global_batch_size", "submission_benchmark", "submission_org", "submission_division"):
        assert key in keys, key
    assert keys.index("init_stop") < keys.index("run_start") < keys.index("epoch_start")
    acc = [e for e in events if e["key"] == "eval_accuracy"]
    assert acc[-1]["value"] == pytest.approx(result.quality) and "epoch_num" in acc[-1]["metadata"]
    # mlperf-logging's own checker, with its common training rules (the rules of every MLPerf benchmark)
    checker = mlp_compliance.make_checker("training", "6.1.0", quiet=True, werror=False)
    from mlperf_logging.compliance_checker.mlp_parser import parse_file

    loglines, errors = parse_file(str(path), ruleset="6.1.0")
    assert not errors
    common = Path(mlp_compliance.__file__).parent / "training_6.1.0" / "common.yaml"
    checker.configured_checks(loglines, str(common))
    mlp_compliance.enqueued_configs.clear()  # the division's benchmark list names MLPerf's own benchmarks only
    assert not checker.has_messages(), checker.log_messages()


def test_log_catches_a_broken_log(tmp_path):
    """The compliance check above can fail: a log without run_stop breaks the common rules."""
    result, path = _run(make_toy(tmp_path), tmp_path)
    lines = [l for l in path.read_text().splitlines() if '"run_stop"' not in l]
    broken = tmp_path / "broken.mllog"
    broken.write_text("\n".join(lines) + "\n")
    from mlperf_logging.compliance_checker.mlp_parser import parse_file

    checker = mlp_compliance.make_checker("training", "6.1.0", quiet=True, werror=False)
    loglines, _ = parse_file(str(broken), ruleset="6.1.0")
    common = Path(mlp_compliance.__file__).parent / "training_6.1.0" / "common.yaml"
    checker.configured_checks(loglines, str(common))
    mlp_compliance.enqueued_configs.clear()
    assert checker.has_messages()


def test_eval_runs_without_grad_and_back_in_train_mode(tmp_path):
    bench = make_toy(tmp_path, max_epochs=1, target=1.01)
    seen = {}
    real_eval = bench.evaluate

    def spy():
        seen["grad"] = torch.is_grad_enabled()
        seen["training"] = bench.model.training
        return real_eval()

    bench.evaluate = spy
    _run(bench, tmp_path)
    assert seen == {"grad": False, "training": False}
    assert bench.model.training


def test_default_step_clips_the_global_gradient_norm_when_a_benchmark_asks(tmp_path):
    bench = make_toy(tmp_path)
    bench.setup()
    batch = next(iter(bench.train_batches(0)))
    params = [p for group in bench.optimizer.param_groups for p in group["params"]]
    bench.optimizer.step = lambda: None  # keep the gradients for inspection
    bench.max_grad_norm = lambda: 1e-3
    bench.train_step(batch)
    total = torch.norm(torch.stack([p.grad.norm() for p in params if p.grad is not None]))
    assert float(total) == pytest.approx(1e-3, rel=1e-3)


def test_a_quality_that_does_not_count_yet_is_kept_in_the_curve_but_cannot_end_the_run(tmp_path):
    bench = make_toy(tmp_path, max_epochs=4)
    evaluate = bench.evaluate
    calls = []

    def not_before_epoch_three():
        quality = evaluate()
        calls.append(quality.value)
        quality.counts = len(calls) >= 3  # e.g. a WGAN critic that has not trained yet
        return quality

    bench.evaluate = not_before_epoch_three
    result, _ = _run(bench, tmp_path)
    assert result.status == "success" and result.epochs_to_quality == 3
    assert calls[0] >= 0.95  # the first measurement would have met the target had it counted
    assert [p.get("counts", True) for p in result.curve] == [False, False, True]
    assert all("quality" in p for p in result.curve)


def test_a_spent_budget_is_never_a_success_even_if_the_forced_evaluation_passes(tmp_path):
    """Issue 11: a budget of 0 s used to give success with epochs_to_quality 1 from a partial epoch."""
    bench = make_toy(tmp_path, time_budget_s=0.0)
    result, _ = _run(bench, tmp_path)
    assert result.quality >= 0.95  # the model is good enough: only the rule keeps it from counting
    assert result.status == "target_missed" and "budget" in result.message
    assert result.epochs_to_quality is None and result.time_to_quality_s is None
    assert result.epochs == pytest.approx(bench.config.batch_size / bench.train_samples())  # one step of an epoch
    assert result.curve[-1]["counts"] is False


def test_step_time_spread_is_recorded_and_a_changing_throughput_warned_about_above_ten_percent(tmp_path):
    from aibench.harness.train import _StepStats, stability_warning

    def stats(epochs: list[list[float]]) -> dict:
        s = _StepStats(warmup_steps=0)
        for epoch, times in enumerate(epochs):
            for t in times:
                s.add(8, 0.0, t, epoch=epoch)
        return s.summary()

    steady = stats([[5.0, 1.0, 1.0]] + [[1.0, 1.02, 0.98, 1.0]] * 4)  # a slow first epoch is left out
    assert steady["step_time_cv"] > 0.10 and steady["throughput_cv"] < 0.02 and steady["stability_warning"] is None
    # steps of different cost (a sequence model's batch lengths) that every epoch repeats: recorded, not warned
    jittery = stats([[1.0, 1.0, 2.0, 0.5, 1.5]] * 5)
    assert jittery["step_time_cv"] > 0.10 and jittery["throughput_cv"] < 1e-9 and jittery["stability_warning"] is None
    # a machine that gets busier: the same epochs, twice as slow in the second half
    slowing = stats([[1.0] * 4] * 3 + [[2.0] * 4] * 3)
    assert slowing["throughput_cv"] > 0.10 and "varies by" in slowing["stability_warning"]
    few = stats([[1.0], [3.0], [1.0]])  # two epochs after the first: not enough to judge
    assert few["throughput_cv"] is None and few["stability_warning"] is None
    assert stability_warning(None) is None
    result, _ = _run(make_toy(tmp_path), tmp_path)
    assert result.step_time_cv is not None


def test_epoch_throughput_counts_data_time_and_leaves_out_each_phases_first_epoch():
    from aibench.harness.train import _StepStats, epoch_throughput_cv

    assert epoch_throughput_cv({0: [8, 9.0], 1: [8, 1.0], 2: [8, 1.0], 3: [8, 1.0]}) == 0.0
    assert epoch_throughput_cv({0: [8, 1.0], 1: [8, 1.0], 2: [8, 2.0], 3: [8, 3.0]}) > 0.3
    stats = _StepStats(warmup_steps=0)
    for epoch in range(4):  # the teacher's epochs
        stats.add(8, 0.0, 1.0, "teacher", epoch)
    stats.add(8, 0.0, 50.0, "student", 4)  # a new model's first epoch
    for epoch in range(5, 8):
        stats.add(8, 0.5, 0.5, "student", epoch)  # data loading counts: 1 s a step, as the teacher's
    assert stats.summary()["throughput_cv"] == 0.0


def test_phases_that_train_different_models_are_timed_apart():
    from aibench.harness.train import _StepStats

    stats = _StepStats(warmup_steps=0)
    for t in (1.0, 1.01, 0.99, 1.0):  # a teacher's steady steps
        stats.add(8, 0.0, t, "teacher")
    for t in (0.1, 0.101, 0.099, 0.1):  # a student ten times smaller, as steady
        stats.add(8, 0.0, t, "student")
    summary = stats.summary()
    assert summary["step_time_cv"] < 0.05 and summary["stability_warning"] is None  # pooled, the CV would be ~0.9
    assert set(summary["step_time_cv_by_phase"]) == {"teacher", "student"}


def test_peak_memory_is_the_runs_own_where_linux_allows(tmp_path):
    from aibench.harness.memory import peak_memory, reset_peaks

    window = reset_peaks(torch.device("cpu"))
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB touched
    peak = peak_memory(torch.device("cpu"), window)
    del block
    assert peak["host_peak_rss_mb"] is not None and peak["host_peak_rss_mb"] > 64
    assert peak["host_peak_scope"] in ("this run", "the process so far")


def test_cache_clear_is_logged_as_what_was_done(tmp_path):
    from aibench.harness.cache import drop_file_cache

    _, path = _run(make_toy(tmp_path), tmp_path)
    (event,) = [e for e in read_events(path) if e["key"] == "cache_clear"]
    assert event["value"] is True and event["metadata"]["files"] >= 1  # the toy data set's file was advised out
    assert drop_file_cache(tmp_path / "missing") == (False, 0)


def test_precision_keys_say_what_the_math_ran_as(monkeypatch):
    from aibench.results.mllog import lowest_precision

    assert lowest_precision("cpu") == "fp32"
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    assert lowest_precision("cuda") == "tf32"  # cuDNN convolutions use TF32 by default on Ampere and later
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    assert lowest_precision("cuda") == "fp32"


def test_initialization_past_mlperfs_cap_is_an_error(tmp_path, monkeypatch):
    from aibench.harness import train as train_module

    monkeypatch.setattr(train_module, "INIT_CAP_S", 0.0)
    result, _ = _run(make_toy(tmp_path), tmp_path)
    assert result.status == "error" and "initialization took" in result.message
    assert result.epochs == 0 and result.quality is None


def test_data_preparation_is_inside_the_clock_and_model_initialization_is_not(tmp_path):
    bench = make_toy(tmp_path)
    real_init, real_prepare = bench.initialize, bench.prepare_data

    def slow(real):
        def run():
            time.sleep(0.3)
            real()
        return run

    bench.initialize, bench.prepare_data = slow(real_init), slow(real_prepare)
    result, path = _run(bench, tmp_path)
    assert result.status == "success"
    assert 0.3 <= result.init_time_s < 0.6  # the model's initialization: untimed
    assert 0.3 <= result.data_prep_time_s < 0.6  # the data's preparation: timed
    assert result.time_to_quality_s >= result.data_prep_time_s + sum(result.epoch_times_s)
    keys = [e["key"] for e in read_events(path)]
    assert keys.index("run_start") < keys.index("train_samples")  # the sample count is known once prepared


def test_artefacts_are_built_once_per_input_and_setting_and_named_in_the_record(tmp_path):
    bench = make_toy(tmp_path)
    bench.ctx.cache_dir = tmp_path / "cache"
    built = []

    def build(folder):
        built.append(folder)
        (folder / "vocab.txt").write_text("a b c")

    inputs = [tmp_path / "blobs.npz"]
    first = bench.artefact("vocab", {"size": 3}, inputs, build)
    assert (first / "vocab.txt").read_text() == "a b c" and len(built) == 1
    assert bench.ctx.artefacts == [{"name": "vocab", "key": first.name.split("-")[-1], "path": str(first),
                                    "built_in_run": True, "build_s": pytest.approx(0, abs=5)}]
    assert bench.artefact("vocab", {"size": 3}, inputs, build) == first and len(built) == 1  # cached
    assert bench.ctx.artefacts[0]["built_in_run"] is False and len(bench.ctx.artefacts) == 1
    assert bench.artefact("vocab", {"size": 4}, inputs, build) != first and len(built) == 2  # another setting
    time.sleep(0.01)
    inputs[0].write_bytes(inputs[0].read_bytes() + b"\0")  # the data set changed: a new artefact
    assert bench.artefact("vocab", {"size": 3}, inputs, build) != first and len(built) == 3


def test_a_failed_artefact_build_leaves_nothing_that_reads_as_complete(tmp_path):
    bench = make_toy(tmp_path)
    bench.ctx.cache_dir = tmp_path / "cache"

    def broken(folder):
        (folder / "half").write_text("x")
        raise ValueError("corpus unreadable")

    with pytest.raises(ValueError):
        bench.artefact("vocab", {}, [tmp_path / "blobs.npz"], broken)
    assert not list((tmp_path / "cache").rglob("half")) and bench.ctx.artefacts == []


def test_energy_record_has_an_idle_baseline_where_a_counter_exists(tmp_path, monkeypatch):
    from aibench.harness import train as train_module
    from aibench.harness.energy import EnergyMeter


    monkeypatch.setattr(train_module, "IDLE_BASELINE_S", 0.2)
    result, _ = _run(make_toy(tmp_path), tmp_path, meter=EnergyMeter([SteadyCounter(50.0)], interval_s=0.05))
    detail = result.energy_detail
    assert result.energy_j > 0 and detail["energy_idle_w"] == pytest.approx(50.0, rel=0.05)
    assert abs(detail["energy_above_idle_j"]) < 0.1 * result.energy_j
