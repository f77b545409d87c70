"""Quantities as written in budgets (``"300 MiB"``, ``"150 ms"``, ``"256MB"``) and as printed.

Size suffixes are binary whether or not they carry the ``i`` (``MB`` = ``MiB`` =
1024² bytes), as in pytest-memray and in Postgres settings.
"""

from __future__ import annotations

import re

__all__ = ["UNITS", "format_quantity", "parse_quantity"]

#: Units a budget or a measurement may carry.
UNITS = ("bytes", "ms", "ratio", "count")

_SIZE = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_TIME = {"ms": 1.0, "s": 1000.0, "us": 0.001}
_PATTERN = re.compile(
    r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*([a-z%]*)\s*$", re.IGNORECASE
)


def parse_quantity(value: str | float, unit: str) -> float:
    """``value`` in ``unit`` (one of :data:`UNITS`); ``ValueError`` naming what is wrong."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r} (known: {', '.join(UNITS)})")
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    match = _PATTERN.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a number with an optional unit")
    number, suffix = float(match.group(1)), match.group(2).lower()
    if unit == "bytes":
        prefix = suffix.removesuffix("b").removesuffix("i")
        if prefix not in _SIZE:
            raise ValueError(f"{value!r}: unknown size unit {suffix!r} (use B, KiB, MiB, GiB)")
        return number * _SIZE[prefix]
    if unit == "ms":
        if suffix not in ("", *_TIME):
            raise ValueError(f"{value!r}: unknown time unit {suffix!r} (use ms or s)")
        return number * _TIME.get(suffix, 1.0)
    if suffix not in ("", "%") or (suffix == "%" and unit != "ratio"):
        raise ValueError(f"{value!r}: a {unit} takes no unit suffix")
    return number / 100 if suffix == "%" else number


def format_quantity(value: float | None, unit: str) -> str:
    """``value`` for people: sizes as KiB/MiB/GiB, times in ms, ratios with 3 decimals."""
    if value is None:
        return "n/a"
    if unit == "bytes":
        size = float(value)
        for suffix in ("B", "KiB", "MiB", "GiB"):
            if abs(size) < 1024 or suffix == "GiB":
                return f"{size:.0f} {suffix}" if suffix == "B" else f"{size:.1f} {suffix}"
            size /= 1024
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "ratio":
        return f"{value:.3f}"
    return f"{value:g}"
