"""The full-size smoke run and pretrained starting points, on C15 (the smallest model) and fakes."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from aibench import registry
from aibench.cli import main
from aibench.errors import DataError, UserError
from aibench.harness.pretrained import load_matching, load_state_file, parse_pretrained
from aibench.harness.runner import RunOptions, check_pretrained, run_benchmark, synthesize
from aibench.results.store import ResultStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")

C15 = registry.card("C15")


@pytest.fixture(scope="module")
def full_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("c15") / "full"
    synthesize(C15, path, "full", seed=1)
    return path


def _smoke(full_dir: Path, tmp_path: Path, **extra) -> dict:
    opts = RunOptions(scale="full", data_dir=full_dir, out_dir=tmp_path, smoke=True, **extra)
    store = ResultStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    (record,) = run_benchmark(C15, opts, store)
    return record


def test_smoke_run_stores_a_smoke_record_with_the_real_model(full_dir, tmp_path):
    record = _smoke(full_dir, tmp_path)
    spec = registry.spec(C15)
    smoke = spec.scale("full").smoke
    assert record["status"] == "smoke" and record["mode"] == "smoke"
    assert record["params"] == spec.full_size.params
    assert record["characterization"]["flops_inference_per_sample"] > 0
    metrics = record["metrics"]["smoke"]
    assert metrics["steps"] == smoke.steps and metrics["batch_size"] == smoke.batch_size
    assert metrics["samples_trained"] == smoke.steps * smoke.batch_size
    assert metrics["eval_samples"] == smoke.eval_samples  # the evaluation honoured the limit
    assert set(record["metrics"]["scenarios"]) == {"SingleStream", "Offline"}
    assert record["metrics"]["smoke"]["accuracy_samples"] == smoke.queries
    assert record["config"]["smoke"] is True and record["metrics"]["warnings"] == []


def test_smoke_without_needed_pretrained_weights_warns_and_real_run_refuses(full_dir, tmp_path, monkeypatch):
    spec = registry.spec(C15)
    full = dataclasses.replace(spec.scales["full"], pretrained="ImageNet-trained weights (test)")
    monkeypatch.setattr(registry, "spec", lambda c: dataclasses.replace(spec, scales={**spec.scales, "full": full}))
    with pytest.raises(UserError, match="--pretrained C15=PATH"):
        check_pretrained(C15, RunOptions(scale="full"))
    check_pretrained(C15, RunOptions(scale="full", pretrained={"C15": Path("w.pt")}))
    record = _smoke(full_dir, tmp_path)
    assert record["status"] == "smoke"
    assert any("random initial weights" in w for w in record["metrics"]["warnings"])


def test_smoke_is_refused_at_tiny(capsys):
    assert main(["run", "C15", "--smoke"]) == 2
    assert "--scale small or --scale full" in capsys.readouterr().err


def test_parse_pretrained(tmp_path):
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    assert parse_pretrained([f"dc-ai-c9={weights}"]) == {"C9": weights}
    with pytest.raises(UserError, match="expected BENCHMARK=PATH"):
        parse_pretrained([str(weights)])
    with pytest.raises(UserError, match="no such file"):
        parse_pretrained([f"C9={tmp_path / 'missing.pth'}"])
    with pytest.raises(UserError, match="unknown benchmark"):
        parse_pretrained([f"C99={weights}"])


def test_load_state_file_unwraps_suite_checkpoints_and_rejects_other_files(tmp_path):
    net = torch.nn.Linear(3, 2)
    plain, wrapped, junk, foreign = (tmp_path / n for n in ("plain.pt", "wrapped.pt", "junk.pt", "foreign.pt"))
    torch.save(net.state_dict(), plain)
    torch.save({"model": net.state_dict()}, wrapped)
    junk.write_bytes(b"not a checkpoint")
    torch.save({"epoch": 3}, foreign)
    for path in (plain, wrapped):
        assert set(load_state_file(path)) == {"weight", "bias"}
    with pytest.raises(DataError, match="junk.pt: not a PyTorch state-dict file"):
        load_state_file(junk)
    with pytest.raises(DataError, match="expected a state dict"):
        load_state_file(foreign)


def test_load_matching_skips_the_head_and_rejects_another_architecture(tmp_path):
    source = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 10))
    target = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 3))
    missing = load_matching(target, source.state_dict(), "w.pt", skip_prefixes=("1.",))
    assert missing == ["1.weight", "1.bias"]
    assert torch.equal(target[0].weight, source[0].weight)
    with pytest.raises(DataError, match="not weights of this architecture"):
        load_matching(torch.nn.Linear(7, 7), source.state_dict(), "w.pt")


def test_list_json_shows_full_size_and_choices(capsys):
    assert main(["list", "--json"]) == 0
    rows = {r["alias"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["C15"]["full_params"] == registry.spec(C15).full_size.params
    assert rows["C15"]["full_flops_per_sample"] > 0
    assert {"choices", "pretrained", "full_size_source"} <= set(rows["C15"])
