"""Exact figures from request samples: warm-up excluded, percentiles unrounded."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from benchmarks.samples import (
    endpoint_figures,
    failure_summary,
    percentile_ci95,
    read_samples,
    request_timeline,
)

T0 = 1_800_000_000.0


def _write(path: Path, rows: list[tuple[float, str, str, float, int, str]]) -> None:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)


def test_figures_exclude_warmup_and_keep_full_precision(tmp_path: Path) -> None:
    warmup = [(T0 + 0.5, "GET", "/api/recommendations", 5000.0, 0, "")]
    measured = [
        (T0 + 10 + i * 0.01, "GET", "/api/recommendations", 10.0 + i * 0.125, 0, "")
        for i in range(1000)
    ]
    # Two processes' files are merged.
    _write(tmp_path / "samples-1.csv", warmup + measured[:500])
    _write(tmp_path / "samples-2.csv", measured[500:])
    samples = read_samples(tmp_path)
    assert len(samples) == 1001

    figures = endpoint_figures(samples, start=T0 + 10, end=T0 + 20)["GET /api/recommendations"]

    expected = np.percentile([10.0 + i * 0.125 for i in range(1000)], 95)
    assert figures["count"] == 1000
    assert figures["p95_ms"] == pytest.approx(expected, abs=1e-3)
    assert figures["p95_ms"] != round(float(expected), -1)  # not Locust's 2-digit bucket
    assert figures["max_ms"] == pytest.approx(10.0 + 999 * 0.125)
    assert figures["rps"] == pytest.approx(100.0)
    assert len(figures["p95_ms_windows"]) == 3  # type: ignore[arg-type]


def test_failures_grouped_and_timeline_per_second(tmp_path: Path) -> None:
    rows = [
        (T0 + 0.1, "GET", "/api/orders", 3.0, 1, "HTTP 500: boom"),
        (T0 + 0.2, "GET", "/api/orders", 4.0, 1, "HTTP 500: boom"),
        (T0 + 1.5, "GET", "/api/orders", 5.0, 0, ""),
        (T0 + 1.6, "POST", "/api/orders", 6.0, 1, "HTTP 422: bad"),
    ]
    _write(tmp_path / "samples-9.csv", rows)
    samples = read_samples(tmp_path)

    assert failure_summary(samples) == [
        {"endpoint": "GET /api/orders", "error": "HTTP 500: boom", "occurrences": 2},
        {"endpoint": "POST /api/orders", "error": "HTTP 422: bad", "occurrences": 1},
    ]
    timeline = request_timeline(samples, started_at=T0)
    assert [(row["t"], row["endpoint"], row["rps"], row["failures"]) for row in timeline] == [
        (0.0, "GET /api/orders", 2.0, 2),
        (1.0, "GET /api/orders", 1.0, 0),
        (1.0, "POST /api/orders", 1.0, 1),
    ]


def test_no_samples_gives_no_figures(tmp_path: Path) -> None:
    samples = read_samples(tmp_path)
    assert len(samples) == 0
    assert endpoint_figures(samples, start=T0, end=T0 + 1) == {}
    assert request_timeline(samples, started_at=T0) == []


def test_the_percentile_interval_covers_the_true_percentile_and_narrows_with_samples() -> None:
    rng = np.random.default_rng(7)
    true_p95 = float(np.percentile(rng.lognormal(2.5, 0.6, 2_000_000), 95))
    small = percentile_ci95(rng.lognormal(2.5, 0.6, 500), 95)
    large = percentile_ci95(rng.lognormal(2.5, 0.6, 20_000), 95)
    assert small is not None
    assert large is not None
    assert small[0] <= true_p95 <= small[1]
    assert large[0] <= true_p95 <= large[1]
    assert large[1] - large[0] < (small[1] - small[0]) / 3


def test_the_percentile_interval_is_repeatable_and_needs_enough_samples() -> None:
    values = np.random.default_rng(3).lognormal(2.5, 0.6, 1000)
    assert percentile_ci95(values, 99) == percentile_ci95(values, 99)
    assert percentile_ci95(values[:19], 95) is None
