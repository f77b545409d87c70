"""Quantities in budgets and in printed verdicts."""

from __future__ import annotations

import pytest

from benchmarks.judge.units import format_quantity, parse_quantity


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("300 MiB", "bytes", 300 * 1024**2),
        ("256MB", "bytes", 256 * 1024**2),
        ("8kB", "bytes", 8 * 1024),
        ("1 GiB", "bytes", 1024**3),
        ("512", "bytes", 512),
        ("150 ms", "ms", 150),
        ("0.4 s", "ms", 400),
        ("0.85", "ratio", 0.85),
        ("85%", "ratio", 0.85),
        ("20", "count", 20),
        (4, "count", 4),
    ],
)
def test_parse_quantity(text: str | int, unit: str, expected: float) -> None:
    assert parse_quantity(text, unit) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "unit", "message"),
    [
        ("300 furlongs", "bytes", "unknown size unit"),
        ("fast", "ms", "not a number"),
        ("3 MiB", "count", "takes no unit"),
        ("1", "parsecs", "unknown unit"),
    ],
)
def test_parse_quantity_rejects_with_a_reason(text: str, unit: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_quantity(text, unit)


def test_format_quantity() -> None:
    assert format_quantity(300 * 1024**2, "bytes") == "300.0 MiB"
    assert format_quantity(2048, "bytes") == "2.0 KiB"
    assert format_quantity(12.34, "ms") == "12.3 ms"
    assert format_quantity(0.9, "ratio") == "0.900"
    assert format_quantity(None, "count") == "n/a"
