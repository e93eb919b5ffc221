import json
import subprocess
import sys

import pytest

from aibench.cli import main
from aibench import registry

SUBSET = [c.alias for c in registry.CARDS if c.in_subset and registry.implemented(c)]


def _aibench(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aibench.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def _one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]


def test_unknown_benchmark_is_one_line_with_a_suggestion():
    _one_line_error(_aibench("run", "image_clasification"), "did you mean C1")


def test_bad_option_value_is_one_line():
    _one_line_error(_aibench("run", "C1", "--scale", "huge"), "--scale", "huge")
    _one_line_error(_aibench("run", "C1", "--repeats", "-3"), "--repeats")


def test_missing_data_dir_is_one_line(tmp_path):
    _one_line_error(_aibench("run", "C1", "--data-dir", str(tmp_path / "nope")), "nope", "no such directory")


@pytest.mark.parametrize("alias", SUBSET)
def test_empty_or_partial_data_dir_is_one_line_and_keeps_results(tmp_path, alias):
    out = tmp_path / "results"
    from aibench.results.store import ResultStore

    ResultStore(f"sqlite:///{out / 'results.sqlite'}").add(
        benchmark="DC-AI-C1", name="x", mode="train", scale="tiny", status="success", quality=1.0, target=0.5,
        metric="m", seed=0, metrics={})
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = _aibench("run", alias, "--data-dir", str(empty), "--out", str(out))
    _one_line_error(proc, str(empty))
    rows = json.loads(_aibench("results", "--json", "--out", str(out)).stdout)
    assert len(rows) == 1  # nothing already stored was lost


@pytest.mark.parametrize("alias", SUBSET)
def test_data_synth_then_check(tmp_path, alias):
    assert main(["data", "synth", alias, "--dir", str(tmp_path / "d")]) == 0
    assert main(["data", "check", alias, "--dir", str(tmp_path / "d")]) == 0


def test_results_json_on_an_empty_store(tmp_path):
    proc = _aibench("results", "--json", "--out", str(tmp_path / "none"))
    assert proc.returncode == 0 and json.loads(proc.stdout) == []
    assert "no results yet" in proc.stderr and "aibench run" in proc.stderr


def test_commands_that_only_read_never_create_a_store_or_folders(tmp_path):
    out = tmp_path / "none"
    assert _aibench("results", "--out", str(out)).returncode == 0
    proc = _aibench("results", "--db", "sqlite:////proc/x.db")
    assert proc.returncode == 0 and proc.stderr.count("\n") == 1 and "no results yet" in proc.stderr
    proc = _aibench("report", "--out", str(out), "--html", str(tmp_path / "r.html"))
    assert proc.returncode == 2 and "no results yet" in proc.stderr and "Traceback" not in proc.stderr
    assert _aibench("list").returncode == 0
    assert list(tmp_path.iterdir()) == []  # no store, no out folder, no report


@pytest.mark.parametrize("args", [
    ("report", "--db", "sqlite:////proc/x.db"),
    ("run", "C15", "--db", "sqlite:////proc/x.db", "--max-epochs", "1"),
    ("results", "--db", "postgres://nohost.invalid/x"),
    ("run", "C15", "--out", "/proc/aib", "--max-epochs", "1"),
])
def test_an_unusable_store_or_out_folder_is_one_line_exit_2(tmp_path, args):
    _one_line_error(_aibench(*args, cwd=tmp_path))


def test_infer_needs_a_checkpoint_and_names_the_run_that_wrote_it(tmp_path, capsys):
    out = str(tmp_path / "out")
    _one_line_error(_aibench("run", "C15", "--mode", "infer", "--out", out), "no checkpoint", "--untrained")
    assert main(["run", "C15", "--mode", "train", "--max-epochs", "1", "--threads", "1", "--out", out]) in (0, 1)
    # Offline only: this test is about which checkpoint is served, not about meeting a latency bound under load
    assert main(["run", "C15", "--mode", "infer", "--threads", "1", "--infer-duration-ms", "100", "--scenarios",
                 "Offline", "--out", out]) == 0
    capsys.readouterr()
    assert main(["results", "--json", "--mode", "infer", "--out", out]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert "of run #1, status target_missed, 1 epochs" in record["metrics"]["model_state"]


def test_main_gives_back_the_callers_sigterm_handling():
    import signal

    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        assert main(["list"]) == 0
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_data_prepare_builds_the_artefacts_once_then_finds_them_cached(tmp_path, monkeypatch, capsys):
    data = tmp_path / "d"
    monkeypatch.chdir(tmp_path)  # the cache is the working directory's .aibench-cache
    assert main(["data", "synth", "C3", "C15", "--dir", str(data)]) == 0
    assert main(["data", "prepare", "C3", "C15", "--dir", str(data)]) == 0
    first = capsys.readouterr().out
    assert "C3: sentencepiece built in" in first and "C15: no artefacts" in first
    assert main(["data", "prepare", "C3", "--dir", str(data)]) == 0
    assert "C3: sentencepiece already cached" in capsys.readouterr().out
    assert list((tmp_path / ".aibench-cache" / "artefacts" / "C3").iterdir())
