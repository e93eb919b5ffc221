"""The same seed on one thread gives the same run: identical curves (losses and qualities) and epochs."""

import json

import pytest

from aibench.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("alias", ["C10", "C15", "C16"])
def test_two_runs_with_the_same_seed_on_one_thread_are_identical(tmp_path, alias, capsys):
    out = tmp_path / "out"
    for _ in range(2):
        assert main(["run", alias, "--seed", "7", "--max-epochs", "2", "--threads", "1", "--out", str(out)]) in (0, 1)
    capsys.readouterr()
    assert main(["results", "--json", "--out", str(out)]) == 0
    first, second = json.loads(capsys.readouterr().out)
    assert first["status"] == second["status"] and first["status"] in ("success", "target_missed")
    assert first["quality"] == second["quality"] and first["metrics"]["epochs"] == second["metrics"]["epochs"]
    strip = [{k: v for k, v in p.items() if k != "time_s"} for p in first["curve"]]
    assert strip == [{k: v for k, v in p.items() if k != "time_s"} for p in second["curve"]]
    assert len(strip) >= 1 and all(p.get("train_loss") is not None for p in strip)
    assert first["config"]["determinism"]["repeatable"] is True
