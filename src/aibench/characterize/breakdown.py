"""Runtime breakdown by kernel category and hotspot functions (the paper's §5.5.1-5.5.2, Fig. 5, Table 7).

A few training steps run under torch.profiler. On a GPU the device kernels' self time is attributed (the paper
used nvprof on CUDA kernels); on a CPU the ATen operators' self CPU time. Each kernel or operator is put in one of
the paper's eight categories — data arrangement, convolution, gemm, batch normalization, element-wise, relu,
pooling, memory copy — or `other`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

CATEGORIES = ("data_arrangement", "convolution", "gemm", "batch_norm", "elementwise", "relu", "pooling",
              "memory_copy", "other")

# Order matters: the first matching rule wins (convolution before gemm: cuDNN's implicit-gemm kernels are convs).
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (cat, re.compile(pattern)) for cat, pattern in (
        ("memory_copy", r"memcpy|memset|dtoh|htod|_to_copy|aten::to$|copy_device"),
        ("convolution", r"conv|winograd|implicit_gemm|im2col|col2im|fft_?r2c|cudnn::detail"),
        ("pooling", r"pool"),
        ("batch_norm", r"batch_?norm|bn_fw|bn_bw|layer_?norm|group_?norm|instance_?norm|native_norm"),
        ("relu", r"relu|threshold|clamp_min|hardtanh"),
        ("gemm", r"gemm|(^|::|_)(mm|addmm|bmm|baddbmm|addbmm|matmul|linear|_?mkl_linear)($|_|backward)|"
                 r"mmbackward|addmmbackward|bmmbackward|cublas|cutlass|sm\d+_xmma"),
        ("data_arrangement", r"transpose|permute|contiguous|cat$|cat_|stack|index|gather|scatter|embedding|"
                             r"copy_|clone|pad|unfold|flip|roll|narrow|slice|select|expand|repeat|view|"
                             r"reshape|split|chunk|where|masked|nonzero|sort|topk|stride|as_strided|unbind|"
                             r"splitk|grid_sampler|upsample|interpolate|empty|resize_|zero_|fill_"),
        ("elementwise", r"add|mul|sub|div|sigmoid|tanh|exp|log|softmax|pow|sqrt|neg|gelu|dropout|elementwise|"
                        r"vectorized|reduce|sum|mean|max|min|abs|sign|lerp|addcmul|addcdiv|foreach|norm|clamp|"
                        r"loss|nll|mse|bernoulli|rand|sqrt|erf|maximum|minimum|lt|gt|eq|ne|ge|le"),
    ))


def categorize(name: str) -> str:
    """The paper's kernel category of an operator or kernel name."""
    low = name.lower().removeprefix("autograd::engine::evaluate_function: ")
    for category, pattern in _RULES:
        if pattern.search(low):
            return category
    return "other"


@dataclass
class OpTime:
    name: str
    self_time_us: float
    calls: int


def _is_wrapper(name: str) -> bool:
    """Autograd bookkeeping entries whose self time is scheduling, not computation."""
    return name.startswith(("autograd::engine::evaluate_function", "torch::autograd::")) or name in ("detach",)


def summarize(ops: Iterable[OpTime], top: int = 15) -> dict[str, Any]:
    """Shares per category and the hotspot operators, from per-operator self times."""
    kept = [op for op in ops if op.self_time_us > 0 and not _is_wrapper(op.name)]
    total = sum(op.self_time_us for op in kept)
    shares = dict.fromkeys(CATEGORIES, 0.0)
    for op in kept:
        shares[categorize(op.name)] += op.self_time_us
    hot = sorted(kept, key=lambda op: op.self_time_us, reverse=True)[:top]
    return {
        "total_time_us": total,
        "category_share": {c: (t / total if total else 0.0) for c, t in shares.items()},
        "hotspots": [{"name": op.name, "category": categorize(op.name), "calls": op.calls,
                      "share": op.self_time_us / total if total else 0.0} for op in hot],
    }


def profile_training(bench: Any, steps: int = 3) -> dict[str, Any]:
    """Profile `steps` training steps of a set-up benchmark (after one unprofiled warm-up step)."""
    on_gpu = bench.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    batches = iter(bench.train_batches(0))
    bench.train_mode(True)
    bench.train_step(next(batches))
    with profile(activities=activities) as prof:
        for _ in range(steps):
            bench.train_step(next(batches))
        if on_gpu:
            torch.cuda.synchronize(bench.device)
    ops = [OpTime(e.key, (e.self_device_time_total if on_gpu else e.self_cpu_time_total), e.count)
           for e in prof.key_averages()]
    if on_gpu:  # keep only device kernels: host-side ATen entries have no device self time
        ops = [op for op in ops if op.self_time_us > 0]
    result = summarize(ops)
    result.update(steps=steps, timed_on="device kernels" if on_gpu else "CPU operators (self time)")
    return result
