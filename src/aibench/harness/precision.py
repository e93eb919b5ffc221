"""Numerical precision and compute options of a run: `--precision fp32|bf16|fp16`, `--channels-last`, `--compile`.

The harness owns them, not the benchmarks:

* `--precision bf16|fp16` runs every training step, evaluation and inference call under `torch.autocast` to that
  dtype (`compute_context(bench)`); the backward pass runs outside it, as PyTorch recommends. fp16 also needs gradient
  scaling, which the Benchmark base class provides through `backward(loss)` and `step(optimizer)` (a GradScaler that
  is a no-op at fp32 and bf16). A benchmark whose own `train_step` does not use those helpers is refused fp16 in one
  line unless it opts in (`SCALES_GRADIENTS = True`). fp16 is refused on the CPU, bf16 on a CUDA device without
  bfloat16 support.
* `--channels-last` converts the models that hold 4-D convolutions to `torch.channels_last` (their inputs are left
  as they are: a channels-last weight makes the convolution run channels-last); a benchmark without any is recorded
  as "not applied".
* `--compile` compiles each model in place with `torch.compile` (state-dict keys unchanged, static shapes); a
  compiler failure, which happens at a model's first call, ends the run as `error` with its one-line reason.

What was requested goes into the record's `config`; what was actually applied into `metrics["compute"]`; the MLPerf
log's lowest_numerical_precision keys say the autocast dtype (see `aibench.results.mllog.lowest_precision`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from aibench.errors import UserError

PRECISIONS = ("fp32", "bf16", "fp16")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
TRAINING_MODES = ("train", "all")
CONV_4D = (nn.Conv2d, nn.ConvTranspose2d)


def compute_options(opts: Any) -> dict[str, Any]:
    """The three requested options of a RunOptions, as RunContext fields and the record's config entries."""
    return {"precision": opts.precision, "channels_last": opts.channels_last, "compile": opts.compile}


@contextlib.contextmanager
def autocast_to(precision: str, device_type: str) -> Iterator[None]:
    """torch.autocast to bf16 or fp16 on this device type; nothing at fp32."""
    dtype = AUTOCAST_DTYPES.get(precision)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device_type, dtype=dtype):
        yield


@contextlib.contextmanager
def compute_context(bench: Any) -> Iterator[None]:
    """Around a benchmark's train_step, evaluate and infer calls: the run's autocast; and under `--compile` a
    compiler failure (raised at a model's first call with a new shape) turned into one line naming the option."""
    try:
        with autocast_to(getattr(bench.ctx, "precision", "fp32"), bench.device.type):
            yield
    except Exception as err:
        if not (getattr(bench.ctx, "compile", False) and _from_compiler(err)):
            raise
        raise CompileFailed(f"--compile: torch.compile failed on {bench.SPEC.card.alias}'s models "
                            f"({_cause(err)}); run it without --compile") from err


class CompileFailed(RuntimeError):
    pass


def _from_compiler(err: BaseException) -> bool:
    return type(err).__module__.startswith(("torch._dynamo", "torch._inductor"))


def _cause(err: BaseException) -> str:
    """The compiler's own reason in one line (BackendCompilerFailed's first line only names the backend)."""
    inner = getattr(err, "inner_exception", None) or err
    lines = [line.strip() for line in str(inner).splitlines() if line.strip()]
    return f"{type(inner).__name__}: {lines[0]}"[:300] if lines else type(inner).__name__


def train_step(bench: Any, batch: Any) -> Any:
    """One optimizer step of the benchmark at the run's precision."""
    with compute_context(bench):
        return bench.train_step(batch)


def make_grad_scaler(ctx: Any) -> torch.amp.GradScaler:
    """A GradScaler for fp16 runs; a disabled one (every method a pass-through) otherwise."""
    return torch.amp.GradScaler(ctx.device.type, enabled=getattr(ctx, "precision", "fp32") == "fp16")


def scales_gradients(cls: type) -> bool:
    """Whether a benchmark's training step scales its fp16 gradients: the base class's train_step does, through
    backward()/step(); an override does only when it says so (SCALES_GRADIENTS = True)."""
    from aibench.benchmarks.base import Benchmark

    return cls.train_step is Benchmark.train_step or bool(getattr(cls, "SCALES_GRADIENTS", False))


def check_compute(card: Any, opts: Any, device: torch.device, cls: type | None = None) -> None:
    """Refuse, in one line before any work, options this device or benchmark (`cls`, default: the card's) cannot
    honour."""
    if opts.precision not in PRECISIONS:
        raise UserError(f"--precision {opts.precision}: expected one of {', '.join(PRECISIONS)}")
    trains = opts.mode in TRAINING_MODES or opts.smoke
    if opts.precision == "fp16":
        if device.type != "cuda":
            raise UserError(f"--precision fp16 is refused on the {device.type} device: fp16 autocast with gradient "
                            "scaling is supported on CUDA devices only; use --precision bf16 or fp32")
        if trains and not scales_gradients(cls or _benchmark_class(card)):
            raise UserError(f"--precision fp16 is refused for {card.alias}: its own train_step does not scale "
                            "gradients (fp16 training needs it); use --precision bf16 or fp32 for it")
    if opts.precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError(f"--precision bf16 is refused on {torch.cuda.get_device_name(device)}: it has no bfloat16 "
                        "support; use --precision fp16 or fp32")
    if opts.compile:
        import torch._dynamo

        if not torch._dynamo.is_dynamo_supported():
            raise UserError("--compile: torch.compile is not supported with this Python and PyTorch")
        if device.type == "cpu" and not _cpp_compiler():
            raise UserError("--compile: torch.compile's CPU backend needs a C++ compiler (g++ or clang++, or $CXX) "
                            "and none was found")


def _benchmark_class(card: Any) -> type:
    from aibench import registry

    return registry.benchmark_class(card)


def _cpp_compiler() -> str | None:
    names = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
    return next((path for name in names if name and (path := shutil.which(name))), None)


def has_conv_4d(model: nn.Module) -> bool:
    return any(isinstance(m, CONV_4D) for m in model.modules())


def apply_compute_options(bench: Any) -> dict[str, Any]:
    """Convert and compile the built models as the run asks (once; later calls return what was done).

    Called after the models exist (after initialize, or after the set-up and checkpoint of `--mode infer`); the
    parameters stay the same objects, so optimizers built in initialize keep working."""
    ctx = bench.ctx
    if ctx.compute_applied:
        return ctx.compute_applied
    precision = getattr(ctx, "precision", "fp32")
    applied: dict[str, Any] = {
        "precision": precision,
        "autocast": str(AUTOCAST_DTYPES[precision]).removeprefix("torch.") if precision in AUTOCAST_DTYPES else None,
        "grad_scaling": precision == "fp16",
    }
    models = bench.models()
    if ctx.channels_last:
        converted = [role for role, model in models.items() if has_conv_4d(model)]
        for role in converted:
            models[role].to(memory_format=torch.channels_last)
        applied["channels_last"] = ({"applied_to": converted} if converted else
                                    {"applied_to": [], "not_applied": "no 4-D convolution in the models"})
        if not converted:
            bench.warn("--channels-last did not apply: no 4-D convolution in the models")
    else:
        applied["channels_last"] = None
    if ctx.compile:
        for model in models.values():
            # in place: the module, its parameters and its state-dict keys stay the same. Static shapes: each batch
            # shape (an epoch's last, smaller batch, the evaluation batch) compiles once; automatic dynamic shapes
            # fail on some models (C15's affine_grid in backward)
            model.compile(dynamic=False)
        applied["compile"] = {"backend": "inductor", "dynamic": False, "compiled": list(models)}
    else:
        applied["compile"] = None
    ctx.compute_applied.update(applied)
    return ctx.compute_applied


def check_cards(cards: list[Any], opts: Any) -> None:
    """check_compute for every selected benchmark, before any of them starts (the CLI's early refusal)."""
    from aibench.harness.runner import pick_device

    device = pick_device(opts.device)
    for card in cards:
        check_compute(card, opts, device)
