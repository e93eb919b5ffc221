"""Reader and writer of binvox voxel files (Patrick Min's format, used by ShapeNet's `model.binvox`).

A binvox file is an ASCII header followed by run-length encoded binary data:

    #binvox 1
    dim 32 32 32
    translate -0.5 -0.5 -0.5
    scale 1.0
    data
    <(value, count) byte pairs>

Each pair says `count` (1..255) consecutive voxels have `value` (0 or 1). The voxels run in the binvox
order: y fastest, then z, then x (flat index = x * dz * dy + z * dy + y), so the decoded flat array reshapes
to [x, z, y]. We return occupancy indexed [x, y, z] (y is up in ShapeNet). `translate` and `scale` place the
grid in the model's coordinates: voxel (i, j, k) spans translate + scale * ([i, j, k] + [0, 1]) / dim.
binvox writes cubic grids only, so a grid whose dims differ is rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aibench.datasets.files import read_bytes
from aibench.errors import DataError

MAGIC = b"#binvox 1"
_MAX_RUN = 255


@dataclass
class VoxelGrid:
    """An occupancy grid indexed [x, y, z] and where it sits in the model's coordinates."""

    occupancy: np.ndarray  # bool, shape (d, d, d)
    translate: tuple[float, float, float] = (0.0, 0.0, 0.0)
    scale: float = 1.0
    extra: dict[str, str] = field(default_factory=dict)  # header lines we do not interpret

    @property
    def dim(self) -> int:
        return int(self.occupancy.shape[0])


def read_binvox(path: Path) -> VoxelGrid:
    """Read a binvox file; any deviation from the format is a DataError naming the file."""
    return parse_binvox(read_bytes(path, "a binvox voxel file"), path)


def parse_binvox(raw: bytes, path: Path | str = "<bytes>") -> VoxelGrid:
    """Decode the bytes of a binvox file (`path` only names it in errors)."""
    header, body = _split_header(raw, path)
    dim, translate, scale, extra = _parse_header(header, path)
    flat = _decode_runs(body, dim ** 3, path)
    # binvox order is x outermost, then z, then y: reshape to [x, z, y] and swap to [x, y, z]
    occupancy = flat.reshape(dim, dim, dim).transpose(0, 2, 1).copy()
    return VoxelGrid(occupancy=occupancy, translate=translate, scale=scale, extra=extra)


def write_binvox(path: Path, grid: VoxelGrid) -> None:
    """Write `grid` in binvox format (run-length encoded, binvox voxel order)."""
    occ = np.asarray(grid.occupancy, dtype=bool)
    if occ.ndim != 3 or len(set(occ.shape)) != 1:
        raise ValueError(f"binvox grids are cubic; got shape {occ.shape}")
    tx, ty, tz = grid.translate
    header = (f"#binvox 1\ndim {occ.shape[0]} {occ.shape[0]} {occ.shape[0]}\n"
              f"translate {tx:g} {ty:g} {tz:g}\nscale {grid.scale:g}\ndata\n").encode("ascii")
    Path(path).write_bytes(header + _encode_runs(occ.transpose(0, 2, 1).reshape(-1)))


def _split_header(raw: bytes, path: Path | str) -> tuple[list[str], bytes]:
    if not raw.startswith(MAGIC):
        raise DataError(path, f"not a binvox file: expected it to start with {MAGIC.decode()!r}")
    lines: list[str] = []
    pos = 0
    while True:
        end = raw.find(b"\n", pos)
        if end < 0:
            raise DataError(path, "binvox header has no 'data' line")
        try:
            line = raw[pos:end].decode("ascii").strip()
        except UnicodeDecodeError:
            raise DataError(path, "binvox header is not ASCII text before the 'data' line") from None
        pos = end + 1
        if line == "data":
            return lines[1:], raw[pos:]
        lines.append(line)


def _parse_header(lines: list[str], path: Path | str) -> tuple[int, tuple[float, float, float], float, dict]:
    fields: dict[str, list[str]] = {}
    for line in lines:
        if line:
            key, *values = line.split()
            fields[key] = values
    for key in ("dim", "translate", "scale"):
        if key not in fields:
            raise DataError(path, f"binvox header lacks its '{key}' line")
    try:
        dims = [int(v) for v in fields["dim"]]
        translate = tuple(float(v) for v in fields["translate"])
        scale = float(fields["scale"][0])
    except (ValueError, IndexError):
        raise DataError(path, "binvox header has a non-numeric dim, translate or scale") from None
    if len(dims) != 3 or len(translate) != 3:
        raise DataError(path, "binvox header needs three dims and three translate values")
    if not all(math.isfinite(v) for v in (*translate, scale)):
        raise DataError(path, f"binvox header's translate {translate} or scale {scale} is not finite")
    if len(set(dims)) != 1 or dims[0] <= 0:
        raise DataError(path, f"binvox dims {dims}: expected a positive cubic grid")
    extra = {k: " ".join(v) for k, v in fields.items() if k not in ("dim", "translate", "scale")}
    return dims[0], translate, scale, extra  # type: ignore[return-value]


def _decode_runs(body: bytes, expected: int, path: Path | str) -> np.ndarray:
    if len(body) % 2:
        raise DataError(path, "binvox data has an odd number of bytes: expected (value, count) pairs")
    pairs = np.frombuffer(body, dtype=np.uint8).reshape(-1, 2)
    values, counts = pairs[:, 0], pairs[:, 1].astype(np.int64)
    if np.any(values > 1):
        raise DataError(path, "binvox data has a run value other than 0 or 1")
    if np.any(counts == 0):
        raise DataError(path, "binvox data has a run of length 0")
    if int(counts.sum()) != expected:
        raise DataError(path, f"binvox data encodes {int(counts.sum())} voxels; the header's dims need {expected}")
    return np.repeat(values.astype(bool), counts)


def _encode_runs(flat: np.ndarray) -> bytes:
    """Run-length encode a flat bool array as (value, count<=255) byte pairs."""
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [flat.size])))
    out = bytearray()
    for start, length in zip(starts.tolist(), lengths.tolist()):
        value = int(flat[start])
        while length > 0:
            run = min(length, _MAX_RUN)
            out += bytes((value, run))
            length -= run
    return bytes(out)
