"""`--controls`: the method's ablation trained beside it, same data, seed and budget, kept in the method's record."""

import dataclasses

import pytest
from toy import CARD, ToyBenchmark

from aibench import registry
from aibench.cli import main
from aibench.harness.controls import best_quality, method_margin, method_wins
from aibench.harness.runner import RunOptions, run_benchmark
from aibench.results.store import ResultStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def toy_registry(monkeypatch):
    """The toy benchmark behind the registry's lookups (it synthesizes its blobs like a real tiny benchmark)."""
    monkeypatch.setattr(registry, "spec", lambda c: ToyBenchmark.SPEC)  # read when called: a test may replace it
    monkeypatch.setattr(registry, "benchmark_class", lambda c: ToyBenchmark)


def test_best_quality_and_margin_follow_the_metric_direction():
    curve = [{"quality": 0.5}, {"quality": 0.7}, {"quality": None}, {"quality": 0.6}]
    assert best_quality(curve, True) == 0.7 and best_quality(curve, False) == 0.5
    assert best_quality([], True) is None
    assert method_margin(0.9, 0.7, True) == pytest.approx(0.2)
    assert method_margin(1.0, 3.0, False) == pytest.approx(2.0)  # a lower-is-better loss: the method is 2 lower
    assert method_margin(None, 0.5, True) is None


def test_a_control_is_trained_with_the_methods_seed_and_budget_and_stored_beside_it(tmp_path, toy_registry):
    store = ResultStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    opts = RunOptions(scale="tiny", out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", device="cpu",
                      controls=True, max_epochs=5)
    (record,) = run_benchmark(CARD, opts, store)
    control = record["metrics"]["control"]
    assert record["status"] == "success" and record["quality"] >= 0.95
    assert control["ablation"] == ToyBenchmark.SPEC.control
    # zeroed inputs leave a logistic regression at chance: the method wins by far, and the control never
    # reached the target within the method's 5-epoch budget
    assert control["status"] == "target_missed" and control["epochs"] == 5
    assert control["quality"] < 0.7 and control["margin"] > 0.25
    assert control["method_quality"] == record["quality"]
    assert len(control["curve"]) == 5
    assert "running" not in {r["status"] for r in store.records()}  # one record, final: the control adds none
    assert len(store.records()) == 1


def test_a_control_trains_its_whole_epoch_budget_whatever_the_wall_clock_budget(tmp_path):
    """The time budget is the method's rule; a busy machine must not compare the method with a control cut short."""
    from aibench.harness.runner import build

    spec = dataclasses.replace(ToyBenchmark.SPEC, scales={"tiny": dataclasses.replace(
        ToyBenchmark.SPEC.scales["tiny"], time_budget_s=0.001)})
    opts = RunOptions(scale="tiny", device="cpu", cache_dir=tmp_path / "cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry, "spec", lambda c: spec)
        patch.setattr(registry, "benchmark_class", lambda c: ToyBenchmark)
        ToyBenchmark.synthesize(tmp_path, spec.scales["tiny"], 0)
        method, control = (build(CARD, opts, tmp_path, 0, control=c) for c in (False, True))
    assert method.config.time_budget_s == 0.001 and control.config.time_budget_s is None
    assert control.config.max_epochs == method.config.max_epochs


def test_a_benchmark_may_give_its_control_a_smaller_epoch_budget(tmp_path, toy_registry, monkeypatch):
    # as C16: the method's budget counts a teacher's epochs the control (a student alone) has no use for
    assert ToyBenchmark.control_max_epochs(object.__new__(ToyBenchmark), 7) == 7  # the default: the method's
    monkeypatch.setattr(ToyBenchmark, "control_max_epochs", lambda self, max_epochs: max_epochs - 2)
    store = ResultStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    opts = RunOptions(scale="tiny", out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", device="cpu",
                      controls=True, max_epochs=5)
    (record,) = run_benchmark(CARD, opts, store)
    control = record["metrics"]["control"]
    assert control["status"] == "target_missed" and control["epochs"] == 3 and len(control["curve"]) == 3


def test_the_method_wins_by_the_required_margin_or_when_the_control_diverged():
    assert method_wins(0.2, 0.1, control_diverged=False) is True
    assert method_wins(0.05, 0.1, control_diverged=False) is False
    assert method_wins(0.2, None, control_diverged=False) is None  # no margin required: nothing to judge
    assert method_wins(None, 0.1, control_diverged=False) is None
    assert method_wins(None, 0.1, control_diverged=True) is True  # the ablation did not train at all
    assert method_wins(None, None, control_diverged=True) is True


def test_a_control_that_diverges_before_any_evaluation_counts_as_the_method_winning(tmp_path, toy_registry,
                                                                                     monkeypatch):
    method_loss = ToyBenchmark.compute_loss

    def nan_for_the_control(self, batch):
        loss, n = method_loss(self, batch)
        return (loss * float("nan") if self.ctx.control else loss), n

    monkeypatch.setattr(ToyBenchmark, "compute_loss", nan_for_the_control)
    store = ResultStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    opts = RunOptions(scale="tiny", out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", device="cpu",
                      controls=True, max_epochs=5)
    (record,) = run_benchmark(CARD, opts, store)
    control = record["metrics"]["control"]
    assert record["status"] == "success"
    assert control["status"] == "diverged" and control["quality"] is None and control["margin"] is None
    assert control["method_wins"] is True


def test_a_benchmark_without_a_control_says_why(tmp_path, toy_registry, monkeypatch):
    monkeypatch.setattr(ToyBenchmark, "SPEC", dataclasses.replace(ToyBenchmark.SPEC, control=""))
    store = ResultStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    opts = RunOptions(scale="tiny", out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", device="cpu",
                      controls=True)
    (record,) = run_benchmark(CARD, opts, store)
    assert record["metrics"]["control"] == {"ablation": None, "why_none": ToyBenchmark.SPEC.no_control}


def test_controls_are_refused_where_no_training_run_is_on_one_process(capsys):
    for extra in (["--mode", "infer"], ["--nproc", "2"]):
        assert main(["run", "C15", "--controls", *extra]) == 2
        assert "--controls" in capsys.readouterr().err
