"""Parameters and FLOPs, counted by PyTorch's own FlopCounterMode on a benchmark's example batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(models: dict[str, nn.Module]) -> dict[str, int]:
    """Learnable parameters per model role and in total (shared modules counted once)."""
    counts: dict[str, int] = {}
    seen: set[int] = set()
    total = 0
    for role, module in models.items():
        role_count = 0
        for p in module.parameters():
            if p.requires_grad:
                role_count += p.numel()
                if id(p) not in seen:
                    seen.add(id(p))
                    total += p.numel()
        counts[role] = role_count
    counts["total"] = total
    return counts


def count_flops(call: Callable[[], Any]) -> int:
    """FLOPs of one call (matmuls and convolutions, as FlopCounterMode counts them)."""
    with FlopCounterMode(display=False) as counter:
        call()
    return int(counter.get_total_flops())


def characterize_compute(bench: Any) -> dict[str, Any]:
    """Params, inference FLOPs per sample and training (forward+backward) FLOPs per sample of a benchmark."""
    info: dict[str, Any] = {"params": count_parameters(bench.models())}
    bench.train_mode(False)
    with torch.no_grad():
        infer_call, n_infer = bench.forward_example()
        info["flops_inference_batch"] = count_flops(infer_call)
    info["flops_inference_per_sample"] = info["flops_inference_batch"] / max(1, n_infer)
    bench.train_mode(True)
    train_call = bench.training_example()
    info["flops_train_step"] = count_flops(train_call)
    info["flops_train_per_sample"] = info["flops_train_step"] / max(1, bench.example_samples())
    for module in bench.models().values():  # leave no gradients behind from the counted backward
        module.zero_grad(set_to_none=True)
    return info
