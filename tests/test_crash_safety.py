"""Records survive what ends a run: a kill -9 leaves a `crashed` record with its curve so far, an exception an
`error` record (traceback kept) whose MLPerf log says the same, and nothing half-written."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from aibench.cli import main
from aibench.results.mllog import read_events

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _aibench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aibench.cli", *args], capture_output=True, text=True, timeout=300)


def _curve_length(db, status="running") -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            rows = conn.execute("SELECT curve FROM runs WHERE status = ?", (status,)).fetchall()
    except sqlite3.OperationalError:  # the store is being created
        return 0
    return max((len(json.loads(r[0] or "[]")) for r in rows), default=0)


def _kill_c1_after_epoch(out, epochs: int) -> subprocess.Popen:
    """Start a tiny C1 run and SIGKILL it once its record holds `epochs` epochs (and their training checkpoint)."""
    proc = subprocess.Popen([sys.executable, "-m", "aibench.cli", "run", "C1", "--threads", "1", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db, deadline = out / "results.sqlite", time.monotonic() + 240
    try:
        while _curve_length(db) < epochs:
            assert proc.poll() is None, f"the run ended before epoch {epochs}"
            assert time.monotonic() < deadline, f"no epoch {epochs} within 4 minutes"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc


def test_a_run_killed_after_its_second_epoch_reads_as_crashed_with_its_curve(tmp_path):
    out = tmp_path / "out"
    proc = _kill_c1_after_epoch(out, 2)
    done = _aibench("results", "--json", "--out", str(out))
    assert done.returncode == 0, done.stderr
    (record,) = json.loads(done.stdout)
    assert record["status"] == "crashed" and record["mode"] == "train"
    assert len(record["curve"]) >= 2 and all("quality" in p for p in record["curve"][:2])
    assert record["pid"] == proc.pid
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints == ["C1-tiny-run1.train.pt"]  # no served checkpoint; the training one, to resume from


def test_an_exception_mid_training_is_an_error_record_and_the_log_agrees(tmp_path, monkeypatch, capsys):
    from aibench.benchmarks.c15_spatial_transformer.bench import SpatialTransformerBenchmark as Bench

    real_step, calls = Bench.train_step, {"n": 0}

    def failing(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("injected fault in step 3\nsecond line")
        return real_step(self, batch)

    monkeypatch.setattr(Bench, "train_step", failing)
    out = tmp_path / "out"
    assert main(["run", "C15", "--mode", "all", "--threads", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().out
    assert "C15: error: RuntimeError: injected fault in step 3" in err
    assert main(["results", "--json", "--out", str(out)]) == 0
    (record,) = json.loads(capsys.readouterr().out)  # no inference record: the model never trained
    assert record["status"] == "error" and record["message"] == "RuntimeError: injected fault in step 3"
    assert "Traceback" in record["traceback"] and "failing" in record["traceback"]
    stop = [e for e in read_events(record["log_path"]) if e["key"] == "run_stop"]
    assert len(stop) == 1 and stop[0]["metadata"]["aibench_status"] == "error"
    assert stop[0]["metadata"]["status"] == "aborted"  # MLPerf's word for a run that did not succeed
    assert not (out / "checkpoints").exists() or not list((out / "checkpoints").iterdir())


def test_bad_data_found_during_the_run_is_one_line_exit_2_and_stored_as_error(tmp_path, monkeypatch, capsys):
    from aibench.benchmarks.c15_spatial_transformer.bench import SpatialTransformerBenchmark as Bench
    from aibench.errors import DataError

    def broken(self):
        raise DataError(self.ctx.data_dir / "train-images-idx3-ubyte", "truncated: 100 of 7840 bytes")

    monkeypatch.setattr(Bench, "prepare_data", broken)
    out = tmp_path / "out"
    assert main(["run", "C15", "--threads", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "train-images-idx3-ubyte: truncated" in err[0] and "Traceback" not in err[0]
    assert main(["results", "--json", "--out", str(out)]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["status"] == "error" and "train-images-idx3-ubyte: truncated" in record["message"]


def test_checkpoints_are_kept_per_run_and_infer_serves_the_newest(tmp_path, capsys):
    out = str(tmp_path / "out")
    for _ in range(2):
        assert main(["run", "C15", "--max-epochs", "1", "--threads", "1", "--out", out]) in (0, 1)
    names = sorted(p.name for p in (tmp_path / "out" / "checkpoints").iterdir())
    assert names == ["C15-tiny-run1.pt", "C15-tiny-run2.pt"]
    assert main(["run", "C15", "--mode", "infer", "--threads", "1", "--infer-duration-ms", "50", "--out", out]) == 0
    capsys.readouterr()
    assert main(["results", "--json", "--mode", "infer", "--out", out]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert "C15-tiny-run2.pt of run #2" in record["metrics"]["model_state"]


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_a_corrupt_or_foreign_checkpoint_is_one_line_exit_2(tmp_path, damage):
    out = str(tmp_path / "out")
    assert main(["run", "C15", "--max-epochs", "1", "--threads", "1", "--out", out]) in (0, 1)
    (path,) = (tmp_path / "out" / "checkpoints").iterdir()
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    else:
        import torch

        torch.save({"model": {"other.weight": torch.zeros(3)}}, path)
    proc = _aibench("run", "C15", "--mode", "infer", "--threads", "1", "--out", out)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a usable C15 checkpoint" in lines[0] and str(path) in lines[0], proc.stderr


def test_a_full_disk_while_saving_the_checkpoint_is_one_line_exit_2_and_leaves_no_half_file(tmp_path, monkeypatch,
                                                                                             capsys):
    import errno

    import torch

    def full_disk(obj, path):
        with open(path, "wb") as f:
            f.write(b"partial")  # what a real full disk leaves: part of a file
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(torch, "save", full_disk)
    out = tmp_path / "out"
    assert main(["run", "C15", "--max-epochs", "1", "--threads", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "Traceback" not in err[0]
    assert not list((out / "checkpoints").iterdir())  # the temporary file is gone, no checkpoint under its name
    assert "error" in err[0]
    assert main(["results", "--json", "--out", str(out)]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["status"] == "error" and "No space left" in record["message"]
    assert record["log_path"].endswith(".mllog") and os.path.exists(record["log_path"])  # a whole log
    assert not list((out / "logs").glob("*.partial"))


def test_a_run_killed_after_its_third_epoch_resumes_from_there_to_success_marked_resumed(tmp_path):
    out = tmp_path / "out"
    _kill_c1_after_epoch(out, 3)
    done = subprocess.run([sys.executable, "-m", "aibench.cli", "run", "C1", "--resume", "--threads", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    old, new = json.loads(_aibench("results", "--json", "--out", str(out)).stdout)
    assert old["status"] == "crashed"  # it keeps its own ending
    assert new["status"] == "success" and new["config"]["resumed_from"] == old["id"]
    resumed_at = new["metrics"]["resumed_at_epoch"]
    assert resumed_at >= 3 and new["curve"][:resumed_at] == old["curve"][:resumed_at]  # it carried on from there
    assert [p["epoch"] for p in new["curve"]] == list(range(1, len(new["curve"]) + 1))
    assert new["metrics"]["time_to_quality_s"] >= new["curve"][resumed_at - 1]["time_s"]
    assert not (out / "checkpoints" / f"C1-tiny-run{new['id']}.train.pt").exists()  # finished: not resumable
    assert (out / "checkpoints" / f"C1-tiny-run{new['id']}.pt").exists()  # its served checkpoint


def test_resume_without_an_interrupted_run_is_one_line_exit_2(tmp_path):
    proc = _aibench("run", "C15", "--resume", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "no interrupted training run" in proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
