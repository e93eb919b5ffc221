import pytest

from aibench.analysis.variation import summarize_repeats


def _train(seed, status, epochs, ttq):
    return {"benchmark": "DC-AI-C1", "scale": "tiny", "mode": "train", "seed": seed, "status": status,
            "metrics": {"epochs_to_quality": epochs, "time_to_quality_s": ttq}}


def test_variation_over_successful_repeats_only():
    rows = [_train(0, "success", 4, 10.0), _train(1, "success", 6, 30.0), _train(2, "success", 5, 20.0),
            _train(3, "target_missed", None, None), {"benchmark": "DC-AI-C1", "scale": "tiny", "mode": "infer"}]
    (s,) = summarize_repeats(rows)
    assert s["runs"] == 4 and s["successes"] == 3 and s["seeds"] == [0, 1, 2, 3]
    assert s["epochs_mean"] == 5 and s["epochs_std"] == pytest.approx(1.0)
    assert s["epochs_cv"] == pytest.approx(0.2)
    assert s["ttq_olympic_mean_s"] == 20.0  # 10 and 30 dropped
