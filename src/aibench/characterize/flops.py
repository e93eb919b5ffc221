"""Parameters, FLOPs and MACs, counted by PyTorch's own FlopCounterMode on a benchmark's example batch.

FlopCounterMode's own table covers matmuls, convolutions and (CUDA) attention; ``flop_formulas`` adds the
recurrent layers, the transformer-encoder fast path, CPU attention and grid_sample, which it would count as zero.
FLOPs count a multiply-add as 2, so MACs (what THOP and the AIBench paper's Fig. 2 report) are FLOPs / 2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from aibench.characterize.flop_formulas import extra_flop_formulas


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
    """FLOPs of one call: matmuls and convolutions as FlopCounterMode counts them (2 per multiply-add), plus the
    RNN, encoder fast-path, CPU attention and grid_sample ops of ``flop_formulas``; elementwise ops count zero."""
    with FlopCounterMode(display=False, custom_mapping=extra_flop_formulas()) as counter:
        call()
    return int(counter.get_total_flops())


def characterize_compute(bench: Any) -> dict[str, Any]:
    """Params, inference FLOPs per sample and training (forward+backward) FLOPs per sample of a benchmark.

    Keys: ``params``; ``flops_inference_batch`` and ``flops_inference_per_sample`` (one no-grad forward of the
    example batch); ``flops_train_step`` and ``flops_train_per_sample`` (one forward+backward training step);
    ``macs_inference_per_sample`` and ``macs_train_per_sample``, the same counts in multiply-accumulates
    (FLOPs / 2, since a multiply-add counts as 2 FLOPs), the unit THOP and the paper's Fig. 2 use.
    """
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
    info["macs_inference_per_sample"] = info["flops_inference_per_sample"] / 2
    info["macs_train_per_sample"] = info["flops_train_per_sample"] / 2
    for module in bench.models().values():  # leave no gradients behind from the counted backward
        module.zero_grad(set_to_none=True)
    return info
