"""Data-parallel training on torch.distributed (gloo on this CPU): the harness splits batches, wraps the models
in DDP, evaluates on rank 0, and a launch by `aibench run --nproc` ends a dead rank's run as `error`."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from aibench import registry
from aibench.harness.distributed import World, shard_batch, world_from_env
from aibench.harness.launch import describe_failure, strip_nproc

HERE = Path(__file__).parent


def test_the_world_comes_from_torchrun_or_slurm_or_is_one_process():
    assert world_from_env({}) == World()
    torchrun = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}
    world = world_from_env(torchrun)
    assert (world.rank, world.world_size, world.local_rank, world.nodes, world.is_main) == (3, 8, 1, 4, False)
    slurm = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1", "SLURM_NTASKS_PER_NODE": "4(x2)",
             "MASTER_ADDR": "node1"}
    assert world_from_env(slurm) == World(5, 8, 1, 4)
    assert world_from_env(slurm).describe() == {"world_size": 8, "number_of_nodes": 2, "accelerators_per_node": 4}


def test_each_rank_gets_a_contiguous_part_of_every_tensor_and_list_in_a_batch():
    batch = (torch.arange(10), {"ids": list(range(10)), "phase": "teacher"}, torch.zeros(10, 3))
    parts = [shard_batch(batch, World(rank, 3)) for rank in range(3)]
    assert [p[0].tolist() for p in parts] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    assert [p[1]["ids"] for p in parts] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    assert all(p[1]["phase"] == "teacher" for p in parts) and [len(p[2]) for p in parts] == [3, 3, 4]
    assert shard_batch(batch, World()) is batch
    collated = [torch.arange(4), torch.arange(4) * 10]  # what a DataLoader yields for (image, label) samples
    assert [t.tolist() for t in shard_batch(collated, World(1, 2))] == [[2, 3], [20, 30]]


def test_launch_helpers():
    assert strip_nproc(["run", "C1", "--nproc", "2", "--threads", "1", "--nproc=4"]) == ["run", "C1", "--threads",
                                                                                        "1"]

    class Failure:
        exitcode = -9

    assert describe_failure({1: Failure()}, 2) == "rank 1 of 2 failed (killed by signal 9)"


def test_benchmarks_that_cannot_train_on_several_processes_say_so_in_one_line(tmp_path):
    from aibench.cli import main

    unsupported = [c.alias for c in registry.select(["all"])
                   if registry.benchmark_class(c).DATA_PARALLEL_UNSUPPORTED]
    assert "C1" not in unsupported and "C10" not in unsupported and "C15" not in unsupported
    proc = subprocess.run([sys.executable, "-m", "aibench.cli", "run", unsupported[0], "--nproc", "2",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "cannot train on 2 processes" in proc.stderr
    assert main(["run", "C15", "--mode", "all", "--nproc", "2", "--out", str(tmp_path)]) == 2


def test_one_ddp_step_over_two_ranks_equals_one_process_with_the_whole_batch(tmp_path):
    from aibench.harness.runner import synthesize

    data = tmp_path / "c10"
    synthesize(registry.card("C10"), data, "tiny", 1234)
    alone, ddp = tmp_path / "alone.pt", tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(HERE / "distributed" / "ddp_step.py"), str(data), str(alone)], check=True,
                   env=env, timeout=120)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                    str(HERE / "distributed" / "ddp_step.py"), str(data), str(ddp)], check=True, env=env,
                   timeout=180, capture_output=True)
    one, two = torch.load(alone, weights_only=True), torch.load(ddp, weights_only=True)
    assert one["after"].keys() == two["after"].keys()
    for key in one["after"]:
        torch.testing.assert_close(two["before"][key], one["before"][key])  # the same start on every rank
        torch.testing.assert_close(two["after"][key], one["after"][key], rtol=1e-5, atol=1e-6)
    moved = [k for k in one["after"] if not torch.equal(one["after"][k], one["before"][k])]
    assert len(moved) >= len(one["after"]) // 2  # the step did train the model


def _records(out: Path) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "aibench.cli", "results", "--json", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    return json.loads(proc.stdout)


def test_tiny_runs_on_two_processes_reach_their_targets_with_one_record_each(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "aibench.cli", "run", "C1", "C10", "C15", "--nproc", "2",
                           "--threads", "1", "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = _records(out)
    assert [r["benchmark"] for r in records] == ["DC-AI-C1", "DC-AI-C10", "DC-AI-C15"]
    for record in records:
        assert record["status"] == "success", record["message"]
        dist = record["config"]["distributed"]
        assert dist["world_size"] == 2 and dist["number_of_nodes"] == 1 and dist["backend"] == "gloo"
        assert dist["per_rank_batch_size"] * 2 >= dist["global_batch_size"]
        assert record["metrics"]["throughput_samples_per_s"] > 0


FAULT = """
import os
if os.environ.get("RANK") == "1":
    from aibench.benchmarks.c15_spatial_transformer.bench import SpatialTransformerBenchmark as B
    step, calls = B.train_step, [0]
    def dying(self, batch):
        calls[0] += 1
        if calls[0] == 5:
            os._exit(3)  # a rank that dies: no exception, no cleanup
        return step(self, batch)
    B.train_step = dying
"""


def test_a_rank_that_dies_ends_the_run_as_error_naming_it_without_hanging(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FAULT)
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = tmp_path / "out"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "aibench.cli", "run", "C15", "--nproc", "2", "--threads", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=300, env=env)
    assert time.monotonic() - start < 240
    assert proc.returncode == 1
    assert "rank 1 of 2 failed (exit code 3)" in proc.stderr.strip().splitlines()[-1]
    (record,) = _records(out)
    assert record["status"] == "error" and record["message"].startswith("rank 1 of 2 failed (exit code 3)")


def test_the_gpu_check_script_says_in_one_line_when_there_is_no_gpu(tmp_path):
    import shutil

    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has nvidia-smi: the script would run for real")
    proc = subprocess.run(["bash", str(HERE.parent / "scripts" / "gpu_check.sh"), str(tmp_path / "g")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no NVIDIA GPU" in proc.stderr
