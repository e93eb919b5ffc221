"""Stored records as CSV: one row per record, one column per field, nested dictionaries flattened to dotted names.

`metrics.throughput_samples_per_s` is a column of its own, so a spreadsheet or pandas reads the numbers directly.
Structures below FLATTEN_DEPTH (a LoadGen scenario's details, latency percentiles) and every list (the curve)
are one cell of JSON text: `json.loads` gives them back. Torch-free.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

FLATTEN_DEPTH = 3  # metrics.scenarios.SingleStream is a column (JSON text), not thirty
FIRST = ("id", "benchmark", "label", "mode", "scale", "status", "quality", "target", "seed")  # leftmost columns


def flatten(record: dict[str, Any], depth: int = FLATTEN_DEPTH) -> dict[str, Any]:
    """A record's fields as {dotted name: scalar or JSON text}."""
    out: dict[str, Any] = {}

    def walk(value: Any, name: str, level: int) -> None:
        if isinstance(value, dict) and value and level < depth:
            for key, inner in value.items():
                walk(inner, f"{name}.{key}" if name else str(key), level + 1)
        elif isinstance(value, (dict, list, tuple)):
            out[name] = json.dumps(value, default=str, separators=(",", ":"))
        else:
            out[name] = value

    walk(record, "", 0)
    return out


def records_csv(rows: list[dict[str, Any]]) -> str:
    """The records as CSV text (a header and one line per record; an absent field is an empty cell)."""
    flat = [flatten(r) for r in rows]
    columns: dict[str, None] = {name: None for name in FIRST if any(name in f for f in flat)}
    for f in flat:
        columns.update(dict.fromkeys(f))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), restval="", lineterminator="\n")
    writer.writeheader()
    for f in flat:
        writer.writerow({k: "" if v is None else v for k, v in f.items()})
    return buffer.getvalue()
