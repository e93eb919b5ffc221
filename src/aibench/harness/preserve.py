"""Measurements that must not change what they measure: characterization (FLOP counting runs a train-mode forward
and backward) would otherwise move BatchNorm statistics and random-number streams of the model that is then saved
and served."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


def _rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                              "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states:
        torch.cuda.set_rng_state_all(states["cuda"])


@contextmanager
def model_state_preserved(bench: Any) -> Iterator[None]:
    """Run the body, then put back every model's parameters and buffers, its train/eval modes, its gradients and
    the global random-number states exactly as they were."""
    models = bench.models()
    saved = {role: copy.deepcopy(m.state_dict()) for role, m in models.items()}
    modes = {role: [(sub, sub.training) for sub in m.modules()] for role, m in models.items()}
    grads = {role: [None if p.grad is None else p.grad.clone() for p in m.parameters()] for role, m in models.items()}
    rng = _rng_states()
    try:
        yield
    finally:
        for role, module in models.items():
            module.load_state_dict(saved[role])
            for sub, training in modes[role]:
                sub.training = training
            for p, g in zip(module.parameters(), grads[role]):
                p.grad = g
        _set_rng_states(rng)
