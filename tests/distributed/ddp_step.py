"""One C10 training step, run under torchrun with 2 processes or alone; saves the parameters after it.

Usage: python ddp_step.py DATA_DIR OUT.pt   (alone: the whole global batch in one process)
       torchrun --nproc-per-node 2 ddp_step.py DATA_DIR OUT.pt   (the batch split over the ranks, DDP)
"""

import sys
from pathlib import Path

import torch

from aibench import registry
from aibench.benchmarks.base import RunContext
from aibench.harness.distributed import DataParallelModels, init_process_group, shard_batch, shutdown, world_from_env

data_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
torch.set_num_threads(1)
world = world_from_env()
init_process_group(world, torch.device("cpu"))
card = registry.card("C10")
torch.manual_seed(0)
bench = registry.benchmark_class(card)(RunContext("tiny", registry.spec(card).scale("tiny"), data_dir,
                                                  torch.device("cpu"), 0, world=world))
bench.setup()
before = {k: v.detach().clone() for k, v in bench.model.state_dict().items()}
parallel = DataParallelModels(bench, world) if world.distributed else None
batch = next(iter(bench.train_batches(0)))
bench.train_step(shard_batch(batch, world))
if parallel:
    parallel.unwrap()
if world.is_main:
    torch.save({"before": before, "after": {k: v.detach().clone() for k, v in bench.model.state_dict().items()}},
               out)
shutdown(world)
