"""What people see in a terminal, a pipe or a log: fitted tables, TSV, CSV, JSON, progress, help and hints."""

import csv
import io
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from rich.console import Console

from aibench import registry
from aibench.analysis.variation import summarize_repeats
from aibench.cli import build_parser, main
from aibench.errors import UserError
from aibench.report.tables import (Column, TableSpec, benchmark_table, profile_table, results_table, show,
                                   smoke_table, variation_table)
from aibench.results.store import ResultStore

LONG_LABEL = "gpu-node-17.cluster.example.org-cuda-H200"


def _train(rid, bench="DC-AI-C10", status="success", label="vm-cpu", **metrics):
    return {"id": rid, "benchmark": bench, "mode": "train", "scale": "tiny", "status": status, "quality": 0.6933,
            "target": 0.65, "seed": rid, "label": label, "created_at": "2026-12-02T03:53:00", "message": None,
            "metrics": {"time_to_quality_s": 12.1, "epochs": 8, "throughput_samples_per_s": 38332.4,
                        "epochs_to_quality": 8, "utilization": {"mfu": 0.02}, "energy_j": None, **metrics},
            "config": {"resumed_from": 7} if status == "target_missed" else {}, "system": {"hostname": "vm"},
            "curve": [{"epoch": 1, "quality": 0.3}], "characterization": {}}


def _infer(rid, bench="DC-AI-C15"):
    scen = {"SingleStream": {"headline": 1.234, "valid": True, "latency_ms": {"50.00": 1.1}},
            "MultiStream": {"headline": 9.87, "valid": True}, "Server": {"headline": 812.5, "valid": True,
                                                                        "latency_bound_ms": 25},
            "Offline": {"headline": 4096.2, "valid": False, "invalid_reason": "min duration"}}
    return {"id": rid, "benchmark": bench, "mode": "infer", "scale": "tiny", "status": "invalid", "quality": 0.93,
            "target": 0.9, "seed": 0, "label": "vm-cpu", "created_at": "2026-12-02T03:58:00",
            "message": "LoadGen INVALID: Offline: min duration",
            "metrics": {"scenarios": scen, "short": True, "energy_per_sample_j": 0.0123}, "config": {},
            "system": {}, "curve": [], "characterization": {}}


def _profile(rid, bench="DC-AI-C17"):
    shares = {c: 0.1 for c in ("data_arrangement", "convolution", "gemm", "batch_norm", "elementwise", "relu",
                               "pooling", "memory_copy", "other")}
    return {"id": rid, "benchmark": bench, "mode": "profile", "scale": "tiny", "status": "completed",
            "label": LONG_LABEL, "metrics": {}, "config": {}, "system": {}, "curve": [],
            "characterization": {"params": {"total": 24_123_456}, "flops_train_per_sample": 1.23e9,
                                 "breakdown": {"category_share": {**shares, "recurrent": 0.05},
                                               "hotspots": [{"name": "aten::addmm", "share": 0.41}],
                                               "data_loading_share": None},
                                 "counters": {"status": "unavailable"}}}


def _smoke(rid):
    return {"id": rid, "benchmark": "DC-AI-C1", "mode": "smoke", "scale": "full", "status": "smoke",
            "label": "vm-cpu", "metrics": {"smoke": {"step_times_s": [1.5, 2.25], "losses": [6.9, 6.8],
                                                     "eval_samples": 16}, "warnings": ["x"]},
            "characterization": {"params": {"total": 25_557_032}, "flops_inference_per_sample": 4.1e9}}


def _all_tables(wide=False):
    rows = [_train(1), _train(12, status="target_missed", label="other-host-cpu"), _infer(123), _profile(1234)]
    summary = summarize_repeats([_train(i, status="success") for i in range(1, 4)])
    return [benchmark_table(registry.CARDS, wide=wide), results_table(rows, "stored aibench results", wide=wide),
            variation_table(summary, wide=wide), profile_table([_profile(1234), _profile(5, "DC-AI-C1")], wide=wide),
            smoke_table([_smoke(9)], "smoke runs", wide=wide)]


def _tty(width=80) -> Console:
    return Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None)


@pytest.mark.parametrize("n", range(5))
def test_every_table_fits_80_columns_with_whole_cells(n):
    spec = _all_tables()[n]
    console = _tty()
    show(console, spec)
    text = console.file.getvalue()
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    assert "…" not in text, text
    ids = [row[0] for row in spec.cells()]  # the first column is always the id (C1, or a record number)
    for row_id in ids:  # each id whole, and each row on exactly one line (nothing folded onto a second)
        assert sum(line.split()[:1] == [row_id] for line in lines) == 1, (row_id, text)
    assert len(lines) < 30, text  # a line per row plus title, header, rule and notes


def test_a_wider_terminal_shows_more_columns_and_wide_shows_all():
    rows = [_train(1), _infer(2)]
    narrow, wider = _tty(80), _tty(200)
    show(narrow, results_table(rows, "t"))
    show(wider, results_table(rows, "t"))
    header = lambda c: next(l for l in c.file.getvalue().splitlines() if l.startswith("#"))  # noqa: E731
    assert len(header(wider).split()) > len(header(narrow).split())
    everything = _tty(80)
    show(everything, results_table(rows, "t", wide=True))
    text = everything.file.getvalue()
    assert "message" in text and "LoadGen INVALID: Offline: min duration" in text and "…" not in text


def test_a_label_shared_by_every_row_is_said_once_and_different_labels_get_a_column():
    one, two = _tty(80), _tty(80)
    show(one, results_table([_train(1), _train(2)], "t"))
    assert "label: vm-cpu" in one.file.getvalue()
    show(two, results_table([_train(1), _train(2, label="box-b")], "t"))
    text = two.file.getvalue()
    assert "label" in text.splitlines()[1] and "box-b" in text and "vm-cpu" in text


def test_labels_too_long_for_the_width_become_keys_explained_under_the_table():
    rows = [_train(1), _train(2, label=LONG_LABEL), _train(3)]
    fits = _tty(80)
    show(fits, results_table(rows, "t"))
    assert LONG_LABEL in fits.file.getvalue().splitlines()[4]  # whole, in its row, where it fits
    console = _tty(50)
    show(console, results_table(rows, "t"))
    lines = [line.rstrip() for line in console.file.getvalue().splitlines()]
    column = lines[1].split().index("label")
    assert [line.split()[column] for line in lines[3:6]] == ["L1", "L2", "L1"]
    assert "L1: vm-cpu" in lines and f"L2: {LONG_LABEL}" in lines


def test_columns_that_cannot_all_fit_are_dropped_by_priority_never_cut():
    spec = TableSpec("t", [Column("id", lambda r: r, 0), Column("big", lambda r: "x" * 70, 2),
                           Column("small", lambda r: "small-value", 1)], ["row-1"])
    console = _tty(40)
    show(console, spec)
    text = console.file.getvalue()
    assert "small-value" in text and "xxx" not in text and "…" not in text


def _store(tmp_path, rows):
    store = ResultStore(f"sqlite:///{tmp_path / 'results.sqlite'}")
    for r in rows:
        store.add(benchmark=r["benchmark"], name="x", mode=r["mode"], scale=r["scale"], status=r["status"],
                  quality=r.get("quality"), target=r.get("target"), metric="accuracy", seed=r.get("seed", 0),
                  metrics=r["metrics"], config=r.get("config") or {}, system=r.get("system") or {},
                  curve=r.get("curve") or [], characterization=r.get("characterization") or {},
                  label=r["label"], message=r.get("message"))
    return tmp_path


def test_results_piped_is_tab_separated_with_every_cell_whole(tmp_path, capsys):
    out = _store(tmp_path, [_train(1), _train(2, status="target_missed", label=LONG_LABEL), _infer(3)])
    assert main(["results", "--out", str(out)]) == 0  # capsys: stdout is not a terminal
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split("\t")
    assert header[:4] == ["#", "bench", "mode", "status"] and "label" in header and "message" in header
    rows = [line.split("\t") for line in lines[1:]]
    assert len(rows) == 3 and all(len(r) == len(header) for r in rows)
    assert [r[0] for r in rows] == ["1", "2", "3"] and [r[1] for r in rows] == ["C10", "C10", "C15"]
    assert rows[1][header.index("label")] == LONG_LABEL and "(resumed #7)" in rows[1][header.index("status")]
    assert "…" not in "\n".join(lines) and "─" not in "\n".join(lines)  # no rich boxes


def test_results_csv_flattens_metrics_for_csv_and_pandas(tmp_path, capsys):
    out = _store(tmp_path, [_train(1), _infer(2)])
    assert main(["results", "--csv", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 2 and rows[0]["benchmark"] == "DC-AI-C10" and rows[0]["label"] == "vm-cpu"
    assert float(rows[0]["metrics.throughput_samples_per_s"]) == pytest.approx(38332.4)
    assert float(rows[0]["metrics.utilization.mfu"]) == pytest.approx(0.02)
    assert rows[0]["metrics.energy_j"] == "" and rows[1]["metrics.throughput_samples_per_s"] == ""
    assert json.loads(rows[0]["curve"]) == [{"epoch": 1, "quality": 0.3}]  # a list: one cell of JSON
    single = json.loads(rows[1]["metrics.scenarios.SingleStream"])  # below the flattening depth: JSON
    assert single["headline"] == pytest.approx(1.234)
    pandas = pytest.importorskip("pandas")
    frame = pandas.read_csv(io.StringIO(text))
    assert frame["metrics.throughput_samples_per_s"].iloc[0] == pytest.approx(38332.4)
    assert list(frame["id"]) == [1, 2]


def test_profile_json_is_the_stored_records_and_nothing_else(tmp_path, monkeypatch, capsys):
    from aibench.harness import runner

    fake = _profile(1)
    monkeypatch.setattr(runner, "run_profile", lambda card, opts, store, steps: {**fake, "benchmark": card.id})
    assert main(["profile", "C17", "--json", "--threads", "1", "--out", str(tmp_path)]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["benchmark"] == "DC-AI-C17" and record["characterization"]["params"]["total"] == 24_123_456
    assert main(["profile", "C17", "--threads", "1", "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()  # piped: the profile table as TSV (after a busy-host warning)
    assert lines[-2].split("\t")[0] == "bench" and lines[-1].split("\t")[0] == "C17"
    assert all(line.startswith("warning: ") for line in lines[:-2])


def test_run_json_and_plain_progress_lines_off_a_terminal(tmp_path, capsys):
    """One tiny run (C10, two epochs): stdout is exactly the JSON records; stderr one line per epoch."""
    code = main(["run", "C10", "--max-epochs", "2", "--threads", "1", "--json", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    (record,) = json.loads(captured.out)
    assert code in (0, 1) and record["benchmark"] == "DC-AI-C10" and record["mode"] == "train"
    epochs = [line for line in captured.err.splitlines() if line.startswith("C10 epoch ")]
    assert [line.split()[2] for line in epochs] == ["1/2", "2/2"], captured.err
    target = registry.spec(registry.card("C10")).scale("tiny").target
    assert all("hr_at_10 " in line and f"(target {target:.4g})" in line and " s" in line for line in epochs)
    assert "≤" in epochs[0] and "left" in epochs[0]  # time left after the first epoch of two


class _Out:
    def __init__(self, loss):
        self.loss = loss


class _Quality:
    value = 0.62


def test_batch_totals_are_known_from_the_loader_or_counted_in_the_first_epoch():
    from aibench.harness.progress import TrainProgress, batch_count

    assert batch_count([1, 2, 3]) == 3 and batch_count(iter([1])) is None
    console = _tty(120)
    with TrainProgress("C1", 3, console, target=0.8, metric="top1") as p:
        p.epoch(0, "train", total=None)  # a generator: not known yet
        assert p.progress.tasks[-1].total is None
        for _ in range(5):
            p.step(_Out(0.5))
        p.eval(_Quality())
        p.epoch(1, "train", total=None)
        assert p.progress.tasks[-1].total == 5  # counted in the first epoch
        p.step(_Out(0.4))
        assert p.progress.tasks[-1].fields["count"] == "1/5"
        assert p.progress.tasks[-1].fields["quality"] == "top1 0.62 (target 0.8)"
        assert "left" in p.progress.tasks[-1].fields["left"]
        p.epoch(2, "train", total=7)  # a loader that says
        assert p.progress.tasks[-1].total == 7
    assert "/?" not in console.file.getvalue()


def test_inference_says_one_line_per_scenario():
    from aibench.harness.infer import ScenarioResult
    from aibench.harness.progress import InferProgress

    console = Console(file=io.StringIO(), width=80, force_terminal=False)
    p = InferProgress("C15", console)
    p.start(["SingleStream", "Offline"])
    p.scenario("SingleStream", ScenarioResult("SingleStream", qps=800.0, headline=1.234, valid=True, duration_s=2.5))
    p.scenario("Offline", ScenarioResult("Offline", qps=None, skipped="not run by default"))
    p.accuracy("accuracy", 0.93)
    lines = console.file.getvalue().splitlines()
    assert lines == ["C15 infer: calibrating, then SingleStream, Offline and an accuracy pass",
                     "C15 infer SingleStream: p90 1.234 ms VALID 2.5 s",
                     "C15 infer Offline: skipped (not run by default)",
                     "C15 infer accuracy pass: accuracy 0.93"]


def test_the_profilers_own_log_lines_are_silenced_and_real_ones_kept():
    code = textwrap.dedent("""
        import os, sys, torch
        from torch.profiler import ProfilerActivity, profile
        from aibench.characterize.quiet import quiet_profiler
        def session():
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                torch.ones(8) @ torch.ones(8)
            prof.events()
        with quiet_profiler():
            session()
            os.write(2, b"a real message on fd 2\\n")
        os.write(2, b"MARK\\n")
        session()  # the control: unsilenced, the same session prints the lines
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0, proc.stderr
    quiet, loud = proc.stderr.split("MARK\n")
    assert "profiler_start" in loud  # the noise exists here, so its absence above means something
    assert "profiler_start" not in quiet and "profiler_stop" not in quiet and "gpuGetDeviceCount" not in quiet
    assert "a real message on fd 2" in quiet


def test_profiler_noise_pattern_is_narrow():
    from aibench.characterize.quiet import profiler_noise

    assert profiler_noise("USDT:2026-12-02 03:49:10 31988:31988 SyncActivityProfilerHandler.cpp:39] profiler_start")
    assert profiler_noise("ERROR:2026-12-02 03:49:10 31988:31988 DeviceProperties.cpp:56] gpuGetDeviceCount "
                          "failed with code 35")
    assert not profiler_noise("ERROR:2026-12-02 03:49:10 1:1 CuptiActivityApi.cpp:9] CUPTI_ERROR_NOT_INITIALIZED")
    assert not profiler_noise("RuntimeError: profiler_start")


@pytest.mark.parametrize("selector, suggested", [
    ("imagenet", ["C1", "C12"]),  # a data set two benchmarks share: both named
    ("ImageNet", ["C1", "C12"]),
    ("resnet-50", ["C1", "C8", "C9"]),  # an algorithm, whole or as a word of a longer name
    ("transformer", ["C3", "C13", "C15"]),
    ("lfw", ["C7"]),  # a word of "VGGFace2, LFW"
    ("imagenett", ["C1", "C12"]),  # a typo of a data set
    ("image_clasification", ["C1"]),  # a typo of a name
])
def test_did_you_mean_names_every_benchmark_a_data_set_or_algorithm_belongs_to(selector, suggested):
    with pytest.raises(UserError) as err:
        registry.card(selector)
    named = [alias for alias in (c.alias for c in registry.CARDS) if f" {alias} (" in str(err.value)]
    assert named == suggested, str(err.value)


def test_a_data_set_name_only_suggests_even_when_one_benchmark_uses_it():
    with pytest.raises(UserError, match=r"did you mean C15 \(spatial_transformer, data set MNIST\)"):
        registry.select(["mnist"])
    with pytest.raises(UserError, match="unknown benchmark 'xyzzy' \\(see"):
        registry.card("xyzzy")


def _cold(*args, env=None):
    return subprocess.run([sys.executable, "-m", "aibench", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})})


def test_version_bare_command_and_run_imagenet():
    version = _cold("--version")
    assert version.returncode == 0 and version.stdout.startswith("aibench ") and "torch " in version.stdout
    bare = _cold()
    assert bare.returncode == 2 and bare.stdout.startswith("usage: aibench")
    assert bare.stderr.strip().count("\n") == 0 and "aibench list" in bare.stderr
    wrong = _cold("run", "imagenet")
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "C1 (" in wrong.stderr
    assert "C12 (" in wrong.stderr and "Traceback" not in wrong.stderr


def _help(parser, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option, so a default is never split
    return parser.format_help()


def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                yield from ((f"{name} {n}", s) for n, s in _subparsers(sub))


def test_every_help_shows_its_defaults_and_run_report_explain_themselves(monkeypatch):
    helps = {}
    for name, sub in _subparsers(build_parser()):
        text = helps[name] = _help(sub, monkeypatch)
        for action in sub._actions:
            if action.help and action.default is not None and action.default is not False \
                    and action.default != "==SUPPRESS==":
                assert f"(default: {action.default})" in text or "default" in action.help, (name, action.dest)
    run = helps["run"]
    for line in ("train   train to", "infer   serve", "all     train, then serve", "tiny    ", "small   ",
                 "full    "):
        assert line in run, line
    assert "(default: tiny)" in run and "(default: train)" in run and "(default: 0)" in run
    assert "HTML" in helps["report"] and "(default: aibench-results/report.html)" in helps["report"]
    assert "--wide" in helps["results"] and "--csv" in helps["results"] and "--json" in helps["profile"]


def test_busy_host_warning_needs_a_clear_margin_and_current_work():
    from aibench.characterize.system import busy_host_warning

    assert busy_host_warning(0.9, 2, 2) is None  # the load our own earlier commands leave behind
    assert busy_host_warning(1.0, 2, 2) is None
    assert busy_host_warning(1.5, 2, 2) is not None  # a real second job on a 2-core box
    assert busy_host_warning(3.0, 2, 2, runnable=0) is None  # a lagging average; nothing runs now
    assert busy_host_warning(3.0, 2, 2, runnable=2) is not None
    assert "--threads" not in busy_host_warning(5.0, 2, 1)  # one thread already: only "wait"


def test_a_column_with_nothing_in_it_is_left_out_at_a_terminal_but_kept_in_tsv():
    console = _tty(200)
    spec = results_table([_train(1), _train(2)], "t")
    show(console, spec)
    assert "SS p90 ms" not in console.file.getvalue() and "TTQ s" in console.file.getvalue()
    assert "SS p90 ms" in spec.tsv().splitlines()[0]


def test_profile_refuses_a_precision_this_device_cannot_run_in_one_line(tmp_path, capsys):
    assert main(["profile", "C10", "--precision", "fp16", "--device", "cpu", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aibench: error: --precision fp16 is refused on the cpu device") and "Traceback" not in err
    assert not (tmp_path / "results.sqlite").exists()  # refused before any work


def test_profile_records_the_precision_it_ran_at(tmp_path, monkeypatch):
    from aibench.harness import runner

    seen = {}
    monkeypatch.setattr(runner, "run_profile", lambda card, opts, store, steps: seen.update(
        precision=opts.precision, channels_last=opts.channels_last) or {**_profile(1), "benchmark": card.id})
    assert main(["profile", "C10", "--precision", "bf16", "--channels-last", "--threads", "1", "--json",
                 "--out", str(tmp_path)]) == 0
    assert seen == {"precision": "bf16", "channels_last": True}


def test_live_progress_at_80_columns_wraps_instead_of_cutting_numbers():
    """A two-phase benchmark with a long metric name (C16's) is longer than 80 columns: every number stays whole."""
    from aibench.harness.progress import TrainProgress

    console = _tty(80)
    with TrainProgress("C16", 50, console, target=0.37, metric="precision_at_10", budget_s=170) as p:
        p.epoch(30, "student-hybrid", total=170)
        for _ in range(170):
            p.step(_Out(0.48434))
        p.eval(type("Q", (), {"value": 0.37183})())
        console.print(p.progress.get_renderable())
    text = console.file.getvalue()
    assert "…" not in text, text
    flat = " ".join(text.split())
    assert "student-hybrid epoch 31/50" in flat and "loss 0.4843" in flat and "0.3718 (target 0.37)" in flat, flat
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # the live display's cursor moves
    assert all(len(line) <= 80 for line in plain.replace("\r", "\n").splitlines()), plain
