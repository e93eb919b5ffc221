"""Training checkpoints a run can be resumed from: everything that decides what the next step does.

The state is found on the benchmark object itself, so no benchmark writes resume code: its modules, optimizers,
LR schedulers and gradient scaler (their state dicts), its random generators (torch, NumPy, Python: their states),
and its plain counters and flags (ints, floats, strings, booleans, None: a GAN's iteration count, a baseline);
plus the process's global random states, and the harness's own progress (epochs done, training time so far,
samples, the curve). A benchmark whose next step depends on something else (a module it creates mid-run) can
extend `Benchmark.extra_training_state()`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

SKIP = {"ctx", "config", "hp", "device"}  # the run's settings, the same on resume


def _kind(value: Any) -> str | None:
    if isinstance(value, nn.Module):
        return "module"
    if isinstance(value, (torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler)):
        return "state_dict"
    if type(value).__name__ == "GradScaler" and hasattr(value, "state_dict"):
        return "state_dict"
    if isinstance(value, torch.Generator):
        return "torch_generator"
    if isinstance(value, np.random.Generator):
        return "numpy_generator"
    if isinstance(value, random.Random):
        return "python_random"
    if value is None or isinstance(value, (bool, int, float, str)):
        return "value"
    return None


def capture(bench: Any) -> dict[str, Any]:
    """The benchmark's resumable state and the process's random states."""
    parts: dict[str, tuple[str, Any]] = {}
    for name, value in vars(bench).items():
        kind = None if name in SKIP or name.startswith("__") else _kind(value)
        if kind == "module" or kind == "state_dict":
            parts[name] = (kind, value.state_dict())
        elif kind == "torch_generator":
            parts[name] = (kind, value.get_state())
        elif kind == "numpy_generator":
            parts[name] = (kind, value.bit_generator.state)
        elif kind == "python_random":
            parts[name] = (kind, value.getstate())
        elif kind == "value":
            parts[name] = (kind, value)
    name, keys, pos, has_gauss, cached = np.random.get_state()
    # NumPy's global state as plain numbers and a tensor, so the checkpoint loads with weights_only=True
    rng = {"torch": torch.get_rng_state(), "python": random.getstate(),
           "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                     "has_gauss": int(has_gauss), "cached": float(cached)}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {"attributes": parts, "rng": rng, "extra": bench.extra_training_state()}


def restore(bench: Any, state: dict[str, Any]) -> None:
    """Put a captured state back into a benchmark initialized the same way (same scale, data and seed)."""
    for name, (kind, saved) in state["attributes"].items():
        current = getattr(bench, name, None)
        if kind == "value":
            setattr(bench, name, saved)
        elif current is None:
            continue  # created later in the run (the benchmark's extra state covers it, if it matters)
        elif kind in ("module", "state_dict"):
            current.load_state_dict(saved)
        elif kind == "torch_generator":
            current.set_state(saved)
        elif kind == "numpy_generator":
            current.bit_generator.state = saved
        elif kind == "python_random":
            current.setstate(saved)
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    saved = rng["numpy"]
    np.random.set_state((saved["name"], saved["keys"].numpy().astype(np.uint32), saved["pos"], saved["has_gauss"],
                         saved["cached"]))
    random.setstate(rng["python"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    bench.load_extra_training_state(state["extra"])


def save(path: Path, bench: Any, progress: dict[str, Any]) -> None:
    """Write the training checkpoint atomically (a temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save({"benchmark": capture(bench), "progress": progress}, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def load(path: Path) -> dict[str, Any]:
    """A training checkpoint written by `save`, loaded weights-only (tensors, numbers, strings: no code runs);
    a damaged or foreign file is one line naming it."""
    from aibench.errors import UserError

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UserError(f"{path}: not a training checkpoint this suite can resume from "
                        f"({type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''})") from None
