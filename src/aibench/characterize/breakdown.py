"""Runtime breakdown by kernel category and hotspot functions (the paper's §5.5.1-5.5.2, Fig. 5, Table 7).

A few training steps run under torch.profiler. On a GPU the device kernels' time is attributed (the paper used
nvprof on CUDA kernels); on a CPU the ATen operators' self CPU time. Each kernel is put in one of the paper's eight
categories — data arrangement, convolution, gemm, batch normalization, element-wise, relu, pooling, memory copy —
from explicit tables (`kernel_table`): a CUDA kernel by the ATen operator that launched it (the profiler's
correlation link), an unlinked kernel, or one launched by a composite operator (an RNN, fused attention), by its own
name. What neither table knows is `other` and counted in `unmapped_share`; recurrent, attention and communication
kernels that cannot be split further keep their own names. Time that is not a kernel — data loading (everything
under a DataLoader iteration: decoding, transforms, collate), Python/optimizer bookkeeping, autograd bookkeeping —
is reported apart as shares of host time, not as a category. Hotspots are, as in the paper, the functions that
cover 80% of the kernel time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

from aibench.characterize.kernel_table import COMPOSITE, EXTRA_CATEGORIES, aten_category, kernel_category
from aibench.characterize.quiet import quiet_profiler
from aibench.harness.precision import train_step

CATEGORIES = ("data_arrangement", "convolution", "gemm", "batch_norm", "elementwise", "relu", "pooling",
              "memory_copy", "other")
ALL_CATEGORIES = CATEGORIES + EXTRA_CATEGORIES
HOTSPOT_COVERAGE = 0.8  # "the hotspot functions that occupy more than 80% of runtime in total" (§5.5.1)

_DATA_LOADING = re.compile(r"DataLoader|collate|decode_(jpeg|png|image)|image::decode|read_file|pil_loader",
                           re.IGNORECASE)
_PYTHON = re.compile(r"^Optimizer\.|^ProfilerStep#|^nn\.Module:|^<built-in|^[\w.]+\.py\(\d+\)|^## |^[\w.]+#[\w.]+$")
_AUTOGRAD = re.compile(r"^autograd::|^torch::autograd::|^[A-Z]\w*Backward\d*$|^detach_?$")


def overhead_kind(name: str) -> str | None:
    """`data_loading`, `python_overhead`, `autograd_overhead` for a non-kernel profiler event, else None."""
    if _DATA_LOADING.search(name):
        return "data_loading"
    if _AUTOGRAD.search(name):
        return "autograd_overhead"
    if _PYTHON.search(name):
        return "python_overhead"
    return None


def lookup(name: str, launched_by: str = "") -> tuple[str, bool]:
    """(category, mapped) of an operator or device kernel; `launched_by` is the ATen op a kernel is linked to."""
    op_cat = aten_category(launched_by) if launched_by else None
    if name.startswith("aten::"):
        cat = aten_category(name)
    else:
        cat = kernel_category(name)
        # a copy kernel stays a copy; any other kernel of a plain (not composite) op takes that op's category
        if cat != "memory_copy" and op_cat is not None and op_cat not in COMPOSITE and op_cat != "other":
            cat = op_cat
        elif cat is None:
            cat = op_cat
    return (cat, True) if cat is not None else ("other", False)


def categorize(name: str, launched_by: str = "") -> str:
    """The kernel category of an ATen operator or a device kernel (one of ALL_CATEGORIES)."""
    return lookup(name, launched_by)[0]


@dataclass
class OpTime:
    name: str
    self_time_us: float
    calls: int = 1
    launched_by: str = ""  # a device kernel's launching ATen operator (profiler correlation), "" if none
    scope: str = ""  # the enclosing non-kernel annotation (a DataLoader iteration, Optimizer.step), "" if none


def _bucket(op: OpTime) -> str:
    """`kernel`, or the overhead kind that the op or its enclosing scope belongs to."""
    if op.scope and overhead_kind(op.scope) == "data_loading":
        return "data_loading"
    return overhead_kind(op.name) or "kernel"


def summarize(ops: Iterable[OpTime], host: Iterable[OpTime] | None = None,
              coverage: float = HOTSPOT_COVERAGE) -> dict[str, Any]:
    """Category shares of the kernel time, overhead shares of the host time and the hotspots covering `coverage`.

    `ops` are the timed kernels (CPU: every profiler event with its self time); `host` the host-side events when
    the kernels ran elsewhere (GPU), else the same list.
    """
    ops = [op for op in ops if op.self_time_us > 0]
    host_ops = ops if host is None else [op for op in host if op.self_time_us > 0]
    host_total = sum(op.self_time_us for op in host_ops)
    apart = dict.fromkeys(("data_loading", "python_overhead", "autograd_overhead"), 0.0)
    for op in host_ops:
        b = _bucket(op)
        if b != "kernel":
            apart[b] += op.self_time_us
    kernels: dict[tuple[str, str], list[float]] = {}
    shares = dict.fromkeys(ALL_CATEGORIES, 0.0)
    unmapped: dict[str, float] = {}
    for op in ops:
        if _bucket(op) != "kernel":
            continue
        cat, mapped = lookup(op.name, op.launched_by)
        shares[cat] += op.self_time_us
        if not mapped:
            unmapped[op.name] = unmapped.get(op.name, 0.0) + op.self_time_us
        acc = kernels.setdefault((op.name, cat), [0.0, 0])
        acc[0] += op.self_time_us
        acc[1] += op.calls
    total = sum(shares.values())
    hotspots, covered = [], 0.0
    for (name, cat), (t, calls) in sorted(kernels.items(), key=lambda kv: kv[1][0], reverse=True):
        if total and covered >= coverage:
            break
        covered += t / total
        hotspots.append({"name": name, "category": cat, "calls": calls, "share": t / total})
    return {
        "total_time_us": total,  # kernel (operator) time that the category shares divide
        "host_time_us": host_total,
        "category_share": {c: (t / total if total else 0.0) for c, t in shares.items()},
        "unmapped_share": sum(unmapped.values()) / total if total else 0.0,
        "unmapped": sorted(unmapped, key=unmapped.__getitem__, reverse=True)[:10],
        **{f"{k}_share": (t / host_total if host_total else 0.0) for k, t in apart.items()},
        "hotspot_coverage": covered,
        "hotspots": hotspots,
    }


def _scope(event: Any, memo: dict[int, str]) -> str:
    """The name of the outermost enclosing data-loading, else innermost Python annotation, of a CPU event."""
    key = id(event)
    if key not in memo:
        found, parent = "", getattr(event, "cpu_parent", None)
        while parent is not None:
            kind = overhead_kind(parent.name)
            if kind == "data_loading":
                found = parent.name
            elif kind == "python_overhead" and not found:
                found = parent.name
            parent = getattr(parent, "cpu_parent", None)
        memo[key] = found
    return memo[key]


def ops_from_events(events: Iterable[Any], on_gpu: bool) -> tuple[list[OpTime], list[OpTime]]:
    """(kernels, host events) from torch.profiler FunctionEvents.

    CPU: each event's self CPU time, with its enclosing scope. GPU: each device kernel with its launching ATen
    op — the `kernels` the profiler linked to a CPU op by correlation id — and kernels no op claims by name.
    """
    events = list(events)
    memo: dict[int, str] = {}
    cpu = [e for e in events if str(getattr(e, "device_type", "CPU")).endswith("CPU")]
    host = [OpTime(e.name, float(e.self_cpu_time_total), 1, "", _scope(e, memo)) for e in cpu]
    if not on_gpu:
        return host, host
    kernels, linked_ids = [], set()
    for e in cpu:
        for k in getattr(e, "kernels", ()) or ():
            linked_ids.add(e.id)
            scope = e.name if overhead_kind(e.name) == "data_loading" else _scope(e, memo)
            kernels.append(OpTime(k.name, float(k.duration), 1, e.name, scope))
    cpu_ids = {id(e) for e in cpu}
    for e in events:
        if id(e) in cpu_ids or getattr(e, "linked_correlation_id", 0) in linked_ids:
            continue
        kernels.append(OpTime(e.name, float(e.time_range.elapsed_us()), 1))
    return kernels, host


def profile_training(bench: Any, steps: int = 3) -> dict[str, Any]:
    """Profile `steps` training steps of a set-up benchmark (after one unprofiled warm-up step), at the run's
    precision (`--precision`: the steps run under its autocast, as a training run's do)."""
    on_gpu = bench.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    batches = iter(bench.train_batches(0))
    bench.train_mode(True)
    train_step(bench, next(batches))
    with quiet_profiler():  # the profiler's own C++ log lines, not aibench's: kept off the user's terminal
        with profile(activities=activities) as prof:
            for _ in range(steps):
                train_step(bench, next(batches))
            if on_gpu:
                torch.cuda.synchronize(bench.device)
        events = prof.events()
    kernels, host = ops_from_events(events, on_gpu)
    result = summarize(kernels, host=None if not on_gpu else host)
    result.update(steps=steps, timed_on="device kernels" if on_gpu else "CPU operators (self time)")
    return result
