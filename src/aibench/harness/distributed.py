"""Data-parallel training on torch.distributed: who this process is, and what the harness does about it.

The engine is PyTorch's: processes are started by torchrun (`torch.distributed.run`; `aibench run --nproc N` calls
its launcher on one machine, and users start it themselves, or SLURM's srun, across machines), the gradients are
averaged by DistributedDataParallel, and the collectives are NCCL's on CUDA and gloo's on the CPU.

What the harness adds, for every benchmark that takes the default (`Benchmark.DATA_PARALLEL`):
- each global batch a benchmark yields is split along its first dimension, one contiguous part per rank; every rank
  reads and augments the same global batch from the same seed, so a run on N processes sees the samples a run on
  one process sees (the data loading is repeated on every rank, the compute is not);
- the learnable modules are wrapped in DDP for training and unwrapped for evaluation, characterization and saving;
- evaluation runs on rank 0 and its result is broadcast, so every rank takes the same stopping decision;
- each step's loss and sample count are summed over ranks (one small all-reduce), so a loss that is not finite on any
  rank stops every rank, and throughput counts every rank's samples.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

# how long a collective waits for a peer before the run ends as an error: long enough for rank 0's evaluation of a
# full validation set while the others wait (a rank that dies is caught at once by torchrun, not by this)
DEFAULT_TIMEOUT_S = float(os.environ.get("AIBENCH_DIST_TIMEOUT_S", 1800))


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def nodes(self) -> int:
        return max(1, self.world_size // max(1, self.local_world_size))

    def describe(self) -> dict[str, int]:
        """The facts a record and MLPerf's log carry about the run's processes."""
        return {"world_size": self.world_size, "number_of_nodes": self.nodes,
                "accelerators_per_node": self.local_world_size}


def world_from_env(env: dict[str, str] | None = None) -> World:
    """The world torchrun (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE) or SLURM's srun (SLURM_PROCID,
    SLURM_NTASKS, SLURM_LOCALID, SLURM_NTASKS_PER_NODE) describes; one process when neither does."""
    env = dict(os.environ if env is None else env)
    if "WORLD_SIZE" in env:
        size = int(env["WORLD_SIZE"])
        return World(int(env.get("RANK", 0)), size, int(env.get("LOCAL_RANK", 0)),
                     int(env.get("LOCAL_WORLD_SIZE", size)))
    if "SLURM_NTASKS" in env and "SLURM_PROCID" in env and "MASTER_ADDR" in env:
        size = int(env["SLURM_NTASKS"])
        per_node = int(env.get("SLURM_NTASKS_PER_NODE", str(size)).split("(")[0])
        return World(int(env["SLURM_PROCID"]), size, int(env.get("SLURM_LOCALID", 0)), per_node)
    return World()


def init_process_group(world: World, device: torch.device, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Join the process group (once): NCCL on CUDA, gloo on the CPU."""
    import torch.distributed as dist

    if not world.distributed or dist.is_initialized():
        return
    os.environ.setdefault("RANK", str(world.rank))  # srun sets SLURM_*; the default init reads these
    os.environ.setdefault("WORLD_SIZE", str(world.world_size))
    os.environ.setdefault("MASTER_PORT", "29500")
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, timeout=dt.timedelta(seconds=timeout_s))


def device_for(world: World, device: torch.device) -> torch.device:
    """One accelerator per process: rank's local index on CUDA; the CPU is shared."""
    if device.type == "cuda" and world.distributed:
        torch.cuda.set_device(world.local_rank)
        return torch.device("cuda", world.local_rank)
    return device


def shard_batch(batch: Any, world: World) -> Any:
    """This rank's contiguous part of a global batch: every tensor split along its first dimension. A tuple or
    list of tensors (or of further tuples, lists, dicts) is the batch's fields, as a DataLoader collates them, each
    split; a list of plain values (ids, strings) is one value per sample, split; other values (a phase name, a
    flag) pass unchanged. A batch that is a list of per-sample tensors (images of different sizes) is not this
    shape: such a benchmark splits its own batches (SHARDS_ITSELF)."""
    if not world.distributed:
        return batch
    if isinstance(batch, torch.Tensor) and batch.dim() > 0:
        return _part(batch, len(batch), world)
    if isinstance(batch, (list, tuple)) and batch and all(
            isinstance(item, (torch.Tensor, list, tuple, dict)) for item in batch):
        parts = [shard_batch(item, world) for item in batch]
        if isinstance(batch, list):
            return parts
        return type(batch)(*parts) if hasattr(batch, "_fields") else tuple(parts)
    if isinstance(batch, list):
        return _part(batch, len(batch), world)
    if isinstance(batch, dict):
        return {key: shard_batch(value, world) for key, value in batch.items()}
    return batch


def _part(items: Any, n: int, world: World) -> Any:
    start, stop = n * world.rank // world.world_size, n * (world.rank + 1) // world.world_size
    return items[start:stop]


class DataParallelModels:
    """The benchmark's learnable modules wrapped in DDP, found by identity among its attributes, so the
    benchmark's own train_step calls the wrappers without knowing; `raw()` puts the modules back for a while."""

    def __init__(self, bench: Any, world: World) -> None:
        from torch.nn.parallel import DistributedDataParallel as DDP

        self.bench = bench
        modules = [m for m in bench.models().values() if any(p.requires_grad for p in m.parameters())]
        self.slots: dict[str, tuple[nn.Module, nn.Module]] = {}
        for name, value in vars(bench).items():
            if isinstance(value, nn.Module) and any(value is m for m in modules):
                wrapped = DDP(value, device_ids=[world.local_rank] if _on_cuda(value) else None)
                self.slots[name] = (value, wrapped)
        missing = [m for m in modules if not any(m is raw for raw, _ in self.slots.values())]
        if missing:
            raise RuntimeError(f"{type(bench).__name__}: {len(missing)} learnable module(s) are not attributes of "
                               "the benchmark, so the harness cannot wrap them for data-parallel training")
        self._set(wrapped=True)

    def _set(self, wrapped: bool) -> None:
        for name, (raw, ddp) in self.slots.items():
            setattr(self.bench, name, ddp if wrapped else raw)

    @contextmanager
    def raw(self) -> Iterator[None]:
        self._set(wrapped=False)
        try:
            yield
        finally:
            self._set(wrapped=True)

    def unwrap(self) -> None:
        self._set(wrapped=False)


def _on_cuda(module: nn.Module) -> bool:
    return any(p.is_cuda for p in module.parameters())


def sum_over_ranks(values: list[float], world: World, device: torch.device) -> list[float]:
    """Element-wise sums of a few numbers over all ranks (one all-reduce)."""
    if not world.distributed:
        return values
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(tensor)
    return tensor.tolist()


def from_rank_zero(value: Any, world: World) -> Any:
    """Rank 0's value, on every rank."""
    if not world.distributed:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


@contextmanager
def alone() -> Iterator[None]:
    """Code that rank 0 runs by itself (evaluation): libraries that would join the other ranks when a process
    group exists (torchmetrics syncs its states in compute()) see none, instead of waiting for ranks that never come."""
    import torch.distributed as dist

    initialized = dist.is_initialized
    dist.is_initialized = lambda: False  # type: ignore[assignment]
    try:
        yield
    finally:
        dist.is_initialized = initialized  # type: ignore[assignment]


def barrier(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        dist.barrier()


def shutdown(world: World) -> None:
    import torch.distributed as dist

    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
