"""`aibench compare`: the statistics pinned on hand-made records, and the command on a synthetic store."""

import csv
import io
import json

import pytest

from aibench.analysis import compare
from aibench.analysis.compare import compare_labels, fingerprint
from aibench.cli import main
from aibench.results.store import ResultStore

SCALE_CONFIG = {"target": 0.9, "max_epochs": 30, "batch_size": 64, "hparams": {"lr": 0.01}}


def train(label, ttq, benchmark="DC-AI-C15", seed=0, status="success", epochs=10, throughput=1000.0,
          energy=None, precision="fp32", max_epochs=30, world_size=1, **config):
    return {"label": label, "benchmark": benchmark, "name": "spatial_transformer", "mode": "train", "scale": "tiny",
            "status": status, "seed": seed, "metric": "accuracy",
            "metrics": {"time_to_quality_s": ttq, "epochs_to_quality": epochs, "throughput_samples_per_s": throughput,
                        "energy_to_quality_j": energy},
            "config": {"scale_config": SCALE_CONFIG, "precision": precision, "channels_last": False,
                       "compile": False, "max_epochs": max_epochs, "device": "cpu", "mode": "train",
                       "data_dir": f"/data/{label}", "distributed": {"world_size": world_size},
                       "determinism": {"torch_threads": 1}, **config}}


def infer(label, p90_ms, server_qps=None, offline=500.0, bound=25, status="completed", short=False, seed=0):
    scenarios = {"SingleStream": {"headline": p90_ms}, "Offline": {"headline": offline}}
    if server_qps is not None:
        scenarios["Server"] = {"headline": server_qps, "latency_bound_ms": bound}
    record = train(label, None, seed=seed, status=status)
    record.update(mode="infer", metrics={"scenarios": scenarios, "short": short, "energy_per_query_j": None})
    return record


def rows_of(result, metric, mode="train"):
    return [r for r in result.rows if r["metric"] == metric and r["mode"] == mode]


def one_row(result, metric, mode="train"):
    rows = rows_of(result, metric, mode)
    assert len(rows) == 1, result.rows
    return rows[0]


def test_known_medians_give_a_known_ratio_and_three_against_three_is_not_tested():
    a = [train("a", t, seed=i) for i, t in enumerate([10.0, 12.0, 11.0])]
    b = [train("b", t, seed=i, throughput=500.0) for i, t in enumerate([24.0, 20.0, 22.0])]
    result = compare_labels(a, b, "a", "b")
    ttq = one_row(result, "time_to_quality_s")
    assert (ttq["median_a"], ttq["median_b"], ttq["ratio"]) == (11.0, 22.0, 2.0)
    assert ttq["values_a"] == [10.0, 12.0, 11.0] and ttq["mean_b"] == 22.0
    assert (ttq["n_a"], ttq["n_b"], ttq["tested"], ttq["p_value"]) == (3, 3, False, None)
    assert ttq["verdict"] == "B slower, n < 5: not tested"
    assert ttq["worse_pct"] == pytest.approx(100.0)
    assert 20.0 / 12.0 <= ttq["ci_low"] <= 2.0 <= ttq["ci_high"] <= 24.0 / 10.0
    tput = one_row(result, "throughput_samples_per_s")  # higher is better: half the throughput is B slower
    assert tput["ratio"] == 0.5 and tput["direction"] == "B slower" and tput["worse_pct"] == pytest.approx(50.0)
    epochs = one_row(result, "epochs_to_quality")
    assert epochs["ratio"] == 1.0 and epochs["verdict"] == f"no change, {compare.NOT_TESTED}"
    assert rows_of(result, "energy_to_quality_j") == []  # no energy measured on either side: no row


def test_identical_distributions_are_not_significant():
    times = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    result = compare_labels([train("a", t, seed=i) for i, t in enumerate(times)],
                            [train("b", t, seed=i) for i, t in enumerate(reversed(times))])
    ttq = one_row(result, "time_to_quality_s")
    assert ttq["tested"] and ttq["p_value"] == pytest.approx(1.0) and ttq["significant"] is False
    assert "not significant (p = 1)" in ttq["verdict"]
    epochs = one_row(result, "epochs_to_quality")  # every run took 10 epochs: all ties, still a p-value
    assert epochs["tested"] and epochs["verdict"] == "no change, not significant (p = 1)"


def test_a_shifted_distribution_is_significant_in_the_right_direction():
    result = compare_labels([train("a", 10.0 + i, seed=i) for i in range(5)],
                            [train("b", 20.0 + i, seed=i) for i in range(5)])
    ttq = one_row(result, "time_to_quality_s")
    assert ttq["p_value"] == pytest.approx(2 / 252)  # exact test: 2 of the C(10,5) orderings are this extreme
    assert ttq["significant"] and ttq["verdict"] == "B slower, significant (p = 0.00794)"
    assert ttq["ratio"] == pytest.approx(22.0 / 12.0)
    assert 20.0 / 14.0 <= ttq["ci_low"] < ttq["ratio"] < ttq["ci_high"] <= 24.0 / 10.0
    flipped = one_row(compare_labels([train("b", 20.0 + i, seed=i) for i in range(5)],
                                     [train("a", 10.0 + i, seed=i) for i in range(5)]), "time_to_quality_s")
    assert flipped["verdict"].startswith("B faster, significant")


def test_the_bootstrap_interval_repeats_exactly():
    a = [train("a", t, seed=i) for i, t in enumerate([10.0, 13.0, 11.5, 12.2, 10.9])]
    b = [train("b", t, seed=i) for i, t in enumerate([9.0, 12.5, 10.0, 11.1, 9.7])]
    first, second = compare_labels(a, b), compare_labels(a, b)
    assert first.rows == second.rows and first.geomeans == second.geomeans
    others = [train(x, 5.0 + i, benchmark="DC-AI-C2", seed=i) for x in "ab" for i in range(3)]
    beside = compare_labels(others[:3] + a, others[3:] + b)  # another benchmark compared too: same interval
    c15 = [r for r in beside.rows if r["benchmark"] == "DC-AI-C15"]
    assert c15 == first.rows


def test_different_fingerprints_are_never_pooled():
    a = [train("a", 10.0 + i, seed=i) for i in range(3)] + [train("a", 1.0, seed=9, precision="bf16")]
    b = [train("b", 10.0 + i, seed=i) for i in range(3)]
    result = compare_labels(a, b, "a", "b")
    ttq = one_row(result, "time_to_quality_s")
    assert (ttq["n_a"], ttq["median_a"]) == (3, 11.0)  # the bf16 run is not among A's fp32 runs
    assert any("only in a (1 run)" in n for n in result.notes), result.notes

    none_shared = compare_labels([train("a", 10.0, max_epochs=30)], [train("b", 10.0, max_epochs=50)], "a", "b")
    assert none_shared.rows == [] and none_shared.geomeans == []
    assert len(none_shared.notes) == 1 and "share no configuration fingerprint" in none_shared.notes[0]
    assert "max_epochs (30 vs 50)" in none_shared.notes[0]


def test_the_fingerprint_leaves_out_seed_label_paths_threads_and_device():
    base = train("a", 10.0)
    same = train("b", 99.0, seed=7, device="cuda:1", data_dir="/elsewhere", determinism={"torch_threads": 2})
    assert fingerprint(base) == fingerprint(same)
    for other in (train("a", 10.0, world_size=2), train("a", 10.0, precision="bf16"),
                  train("a", 10.0, benchmark="DC-AI-C10"), train("a", 10.0, compile=True),
                  train("a", 10.0, scale_config={**SCALE_CONFIG, "batch_size": 32})):
        assert fingerprint(other) != fingerprint(base)


def test_only_successful_training_and_valid_full_length_inference_count():
    a = ([train("a", 10.0, seed=i) for i in range(2)] + [train("a", 50.0, status="target_missed"),
         train("a", 50.0, status="crashed"), infer("a", 2.0), infer("a", 9.0, short=True),
         infer("a", 9.0, status="invalid"), train("a", 1.0, resumed_from=3)])
    b = [train("b", 20.0, seed=i) for i in range(2)] + [infer("b", 3.0)]
    result = compare_labels(a, b, "a", "b")
    assert (result.counted_a, result.counted_b) == (3, 3)
    assert result.left_out_a == {"inference invalid": 1, "inference run shorter than its scale's minimum": 1,
                                 "training crashed": 1, "training resumed from a checkpoint": 1,
                                 "training target_missed": 1}
    assert one_row(result, "time_to_quality_s")["ratio"] == 2.0
    assert one_row(result, "single_stream_ms", "infer")["ratio"] == 1.5
    assert "left out 5 (" in compare.render_text(result)


def test_inference_metrics_use_the_headlines_and_server_bounds_never_mix():
    a = [infer("a", 2.0, server_qps=100.0, offline=400.0, seed=i) for i in range(2)]
    b = [infer("b", 1.0, server_qps=300.0, offline=800.0, seed=i) for i in range(2)]
    b.append(infer("b", 1.0, server_qps=999.0, bound=50, seed=3))
    result = compare_labels(a, b)
    latency = one_row(result, "single_stream_ms", "infer")
    assert latency["ratio"] == 0.5 and latency["direction"] == "B faster" and latency["n_b"] == 3
    assert one_row(result, "server_peak_qps@25ms", "infer")["ratio"] == 3.0
    at_50 = one_row(result, "server_peak_qps@50ms", "infer")  # only B ran at a 50 ms bound
    assert at_50["ratio"] is None and at_50["verdict"] == "A has no runs with this metric: not compared"
    offline = one_row(result, "offline_qps", "infer")
    assert offline["direction"] == "B faster" and offline["worse_pct"] == pytest.approx(-100.0)


def test_geometric_mean_over_benchmarks():
    a = [train("a", 10.0, benchmark=bench, seed=i) for bench in ("DC-AI-C10", "DC-AI-C15") for i in range(2)]
    b = ([train("b", 20.0, benchmark="DC-AI-C10", seed=i) for i in range(2)]
         + [train("b", 5.0, benchmark="DC-AI-C15", seed=i) for i in range(2)])
    geo = {g["metric"]: g for g in compare_labels(a, b).geomeans}
    assert geo["time_to_quality_s"]["ratio"] == pytest.approx(1.0)  # 2 and 1/2
    assert geo["time_to_quality_s"]["benchmarks"] == 2
    assert geo["time_to_quality_s"]["ci_low"] == pytest.approx(1.0)  # constant runs: every resample gives 1
    b[2:] = [train("b", 80.0, benchmark="DC-AI-C15", seed=i) for i in range(2)]
    assert {g["metric"]: g for g in compare_labels(a, b).geomeans}["time_to_quality_s"]["ratio"] == pytest.approx(4.0)


def test_text_fits_80_columns():
    a = [train("a", 10.0 + i, seed=i) for i in range(5)] + [infer("a", 2.0, server_qps=100.0, seed=i)
                                                            for i in range(5)]
    b = [train("b", 20.0 + i, seed=i) for i in range(5)] + [infer("b", 3.0, server_qps=90.0, seed=i)
                                                            for i in range(5)]
    result = compare_labels(a, b, "a", "b")
    result.sources = {"a": "sqlite:///x.sqlite", "b": "sqlite:///x.sqlite"}
    text = compare.render_text(result)
    assert "B slower, significant" in text and "geometric mean" in text
    assert [line for line in text.splitlines() if len(line) > 80] == []


# --- the command, on a store the test writes --------------------------------------------------------------------

def _store(tmp_path, name, records):
    url = f"sqlite:///{tmp_path / name}"
    store = ResultStore(url)
    for r in records:
        store.add(**r)
    return url


def _aibench(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_fail_if_slower_exits_1_on_a_significant_regression(tmp_path, capsys):
    url = _store(tmp_path, "r.sqlite", [train("base", 10.0 + 0.1 * i, seed=i) for i in range(5)]
                 + [train("new", 13.0 + 0.1 * i, seed=i) for i in range(5)])
    code, out, err = _aibench(capsys, "compare", "base", "new", "--db", url, "--fail-if-slower", "10")
    assert code == 1
    assert "regression: DC-AI-C15 train time to quality: B is 29.4% worse than A (p = 0.00794" in err  # 13.2 / 10.2
    assert _aibench(capsys, "compare", "base", "new", "--db", url, "--fail-if-slower", "40")[0] == 0  # 29% < 40%
    assert _aibench(capsys, "compare", "new", "base", "--db", url, "--fail-if-slower", "0")[0] == 0  # B is faster
    data = json.loads(_aibench(capsys, "compare", "base", "new", "--db", url, "--json", "--fail-if-slower", "10")[1])
    assert [r["metric"] for r in data["regressions"]] == ["time_to_quality_s"]


def test_fail_if_slower_passes_when_not_significant_or_not_tested(tmp_path, capsys):
    noisy_a = [9.0, 14.0, 10.0, 16.0, 11.0]
    noisy_b = [10.5, 15.0, 12.0, 17.0, 9.5]  # B's median 20% above A's, but the spread overlaps: p > 0.05
    url = _store(tmp_path, "r.sqlite", [train("a", t, seed=i) for i, t in enumerate(noisy_a)]
                 + [train("b", t, seed=i) for i, t in enumerate(noisy_b)]
                 + [train("c", 100.0, seed=i) for i in range(3)])
    code, out, err = _aibench(capsys, "compare", "a", "b", "--db", url, "--fail-if-slower", "5")
    assert code == 0 and "not significant" in out and "regression" not in err
    code, out, err = _aibench(capsys, "compare", "a", "c", "--db", url, "--fail-if-slower", "5")
    assert code == 0 and "n < 5: not tested" in out  # ten times slower, but 5 vs 3 cannot be tested
    assert "no metric had 5 runs on both sides" in err


def test_unknown_label_is_one_line_listing_the_labels(tmp_path, capsys):
    url = _store(tmp_path, "r.sqlite", [train("t1", 10.0), train("t2", 11.0)])
    code, out, err = _aibench(capsys, "compare", "t1", "nope", "--db", url)
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "unknown label 'nope'" in err and "t1, t2" in err
    code, _, err = _aibench(capsys, "compare", "t1", "t2", "--db", url, "--benchmark", "C10")
    assert code == 2 and "label 't1' has no DC-AI-C10 records" in err


def test_one_label_in_two_stores_and_the_output_formats(tmp_path, capsys):
    url_a = _store(tmp_path, "a.sqlite", [train("box", 10.0 + i, seed=i) for i in range(3)])
    url_b = _store(tmp_path, "b.sqlite", [train("box", 5.0 + i, seed=i) for i in range(3)])
    code, out, _ = _aibench(capsys, "compare", "box", "--db", url_a, "--db", url_b, "--json")
    data = json.loads(out)
    assert code == 0 and data["a"]["store"] == url_a and data["b"]["store"] == url_b
    assert [r["ratio"] for r in data["rows"] if r["metric"] == "time_to_quality_s"] == [6.0 / 11.0]
    code, out, err = _aibench(capsys, "compare", "box", "--db", url_a, "--db", url_b, "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["metric"] == "time_to_quality_s" and rows[0]["verdict"] == "B faster, n < 5: not tested"
    assert rows[-1]["benchmark"] == "geomean" and "3 runs compared" in err
    code, out, _ = _aibench(capsys, "compare", "box", "--db", url_a, "--db", url_b, "--markdown")
    assert "| DC-AI-C15 | train |" in out and "n < 5: not tested" in out
    code, out, _ = _aibench(capsys, "compare", "box", "--db", url_a, "--db", url_b)  # captured stdout: no TTY
    header, first = out.splitlines()[:2]
    assert header.split("\t") == list(compare.ROW_FIELDS) and first.split("\t")[0] == "DC-AI-C15"


@pytest.mark.parametrize("args, message", [
    (("compare", "only-one"), "needs two labels"),
    (("compare", "a", "b", "c"), "takes two labels"),
    (("compare", "a", "a"), "the same records"),
    (("compare", "a", "b", "--fail-if-slower", "-3"), "percentage of 0 or more"),
])
def test_bad_compare_arguments_are_one_line(tmp_path, capsys, args, message):
    url = _store(tmp_path, "r.sqlite", [train("a", 10.0), train("b", 11.0)])
    code, _, err = _aibench(capsys, *args, "--db", url)
    assert code == 2 and message in err and err.strip().count("\n") == 0
