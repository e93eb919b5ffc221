"""Numbers as the report prints them: three significant digits, thousands separators, never an exponent for
numbers people read (a latency, a QPS, a time), a dash where there is nothing."""

from __future__ import annotations

import math
from typing import Any

DASH = "–"


def sig(value: Any, digits: int = 3) -> str:
    """`digits` significant digits: 0.926, 35.4, 1,470, 27,400; tiny magnitudes keep an exponent (1.23e-05)."""
    if value is None or isinstance(value, bool):
        return DASH
    x = float(value)
    if not math.isfinite(x):
        return DASH
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    if magnitude < -3:
        return f"{x:.{digits - 1}e}"
    rounded = round(x, digits - 1 - magnitude)
    if abs(rounded) >= 10 ** (digits - 1):  # no decimals left: an integer with separators
        return f"{rounded:,.0f}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:.{decimals}f}"


def count(value: Any) -> str:
    """An exact count (parameters, queries, runs) with thousands separators."""
    if value is None:
        return DASH
    if isinstance(value, float) and not value.is_integer():
        return sig(value)
    return f"{int(value):,}"


def percent(share: Any, digits: int = 3) -> str:
    """A fraction shown as a percentage at `digits` significant digits: 0.0767 -> 7.67%."""
    return DASH if share is None else f"{sig(100 * float(share), digits)}%"
