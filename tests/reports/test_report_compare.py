"""The noise rule of head-vs-base deltas: a change counts only past the metric's
threshold and the runs' own spread, in the metric's direction."""

from __future__ import annotations

import pytest

from reports import NoiseRule
from reports._compare import (
    ALLOCATED_MEMORY,
    BENCHMARK_TIME,
    COUNT,
    HIT_RATE,
    LATENCY,
    THROUGHPUT,
    compare_values,
)


@pytest.mark.parametrize(
    ("head", "base", "rule", "spread", "status"),
    [
        (109.0, 100.0, LATENCY, 0.0, "noise"),  # 9 % < 10 % threshold
        (112.0, 100.0, LATENCY, 0.0, "worse"),
        (88.0, 100.0, LATENCY, 0.0, "better"),
        (112.0, 100.0, LATENCY, 0.15, "noise"),  # inside the runs' own 15 % spread
        (112.0, 100.0, THROUGHPUT, 0.0, "better"),  # more requests per second is better
        (101.5 * 2**20, 100 * 2**20, ALLOCATED_MEMORY, 0.0, "worse"),  # memray: 1 % is tight
        (100.5 * 2**20, 100 * 2**20, ALLOCATED_MEMORY, 0.0, "noise"),
        (0.86, 0.87, HIT_RATE, 0.0, "noise"),
        (0.84, 0.87, HIT_RATE, 0.0, "worse"),
        (1.0, 0.0, COUNT, 0.0, "worse"),  # one more OOM kill or query always counts
        (4.0, 4.0, COUNT, 0.0, "noise"),
        (1.04e-3, 1.0e-3, BENCHMARK_TIME, 0.0, "noise"),
    ],
)
def test_status(head: float, base: float, rule: NoiseRule, spread: float, status: str) -> None:
    assert compare_values(head, base, rule, unit="ms", spread=spread).status == status


def test_missing_values() -> None:
    assert compare_values(None, 1.0, LATENCY, unit="ms").status == "unmeasured"
    assert compare_values(1.0, None, LATENCY, unit="ms").status == "not in base"


def test_describe_says_amount_share_and_meaning() -> None:
    assert compare_values(112.0, 100.0, LATENCY, unit="ms").describe() == "+12.0 ms (+12%), worse"
    assert (
        compare_values(101.0, 100.0, LATENCY, unit="ms").describe()
        == "+1.0 ms (+1.0%), within noise"
    )
    assert compare_values(3 * 2**20, 2**20, COUNT, unit="bytes").describe() == (
        "+2.0 MiB (+200%), worse"
    )
