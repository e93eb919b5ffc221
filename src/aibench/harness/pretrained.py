"""Pretrained starting points: `--pretrained CN=PATH` names a state-dict file for a benchmark whose reference
starts from ImageNet-trained weights. Nothing is downloaded: the user brings the file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aibench.errors import DataError, UserError


def parse_pretrained(items: Iterable[str]) -> dict[str, Path]:
    """`CN=PATH` options to {alias: path}; an unknown benchmark or a missing file is a one-line user error."""
    from aibench import registry

    out: dict[str, Path] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UserError(f"--pretrained {item!r}: expected BENCHMARK=PATH, e.g. C4=inception_v3.pth")
        alias = registry.card(name).alias
        if not Path(path).is_file():
            raise UserError(f"--pretrained {alias}={path}: no such file")
        out[alias] = Path(path)
    return out


def load_state_file(path: Path) -> dict[str, Any]:
    """A state dict from torchvision's format (name -> tensor), or this suite's checkpoint whose
    `{"model": {...}}` wrapping (and a training checkpoint's `{"state_dict": ...}`) is unwrapped."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which and why, not a traceback
        raise DataError(path, f"not a PyTorch state-dict file ({type(err).__name__}: {str(err)[:120]})") from None
    for key in ("model", "state_dict"):
        while isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(path, "expected a state dict (parameter name -> tensor), e.g. torchvision's weights file")
    return state


def load_matching(module: Any, state: dict[str, Any], path: Path | str, skip_prefixes: tuple[str, ...] = ()
                  ) -> list[str]:
    """Load the entries of `state` whose names and shapes match `module` (a classifier head of another size is
    skipped by prefix); returns the module's tensors left at their initial values (the skipped head among them).
    Too few matches outside the skipped prefixes means the wrong file: a clear error."""
    own = module.state_dict()
    usable = {k: v for k, v in state.items()
              if k in own and own[k].shape == v.shape and not k.startswith(skip_prefixes)}
    wanted = [k for k in own if not k.startswith(skip_prefixes) and not k.endswith("num_batches_tracked")]
    found = [k for k in wanted if k in usable]
    if len(found) < 0.9 * len(wanted):
        raise DataError(path, f"matches {len(found)} of the {len(wanted)} tensors the model needs: "
                              "not weights of this architecture")
    module.load_state_dict(usable, strict=False)
    return [k for k in own if k not in usable and not k.endswith("num_batches_tracked")]
