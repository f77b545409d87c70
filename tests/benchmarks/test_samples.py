"""Exact figures from request samples: warm-up excluded, percentiles unrounded."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.measure.samples import (
    account_samples,
    clear_samples,
    endpoint_figures,
    failure_summary,
    percentile_ci95,
    read_samples,
    request_timeline,
)
from scenarios.protocol import SAMPLE_GLOB, done_path, sample_path

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


# -- the merge of a distributed run's files ----------------------------------------------------


def _worker_file(directory: Path, pid: int, starts: list[float], *, closed: bool = True) -> None:
    rows = [(T0 + t, "GET", "/api/recommendations", 10.0 + t, 0, "") for t in starts]
    _write(directory / f"samples-{pid}.csv", rows)
    if closed:
        (directory / f"samples-{pid}.done").write_text(json.dumps({"rows": len(rows)}))


def test_every_workers_rows_are_merged_once_and_add_up_to_locusts_count(tmp_path: Path) -> None:
    _worker_file(tmp_path, 101, [])  # the master: no requests, an empty file
    _worker_file(tmp_path, 102, [0.1, 0.3, 0.5])
    _worker_file(tmp_path, 103, [0.1, 0.2])  # same start as a row of 102: two requests
    (tmp_path / "counted.json").write_text(json.dumps({"requests": 5, "failures": 0}))

    samples = read_samples(tmp_path)
    accounting = account_samples(tmp_path)

    assert samples.t.tolist() == pytest.approx([T0 + t for t in (0.1, 0.1, 0.2, 0.3, 0.5)])
    assert (accounting.files, accounting.rows, accounting.counted_by_locust) == (3, 5, 5)
    assert accounting.complete
    assert accounting.problems() == []
    assert accounting.as_dict()["samples_merged"] == 5


def test_a_killed_writer_a_short_file_and_a_count_mismatch_are_named(tmp_path: Path) -> None:
    _worker_file(tmp_path, 201, [0.1, 0.2])
    _worker_file(tmp_path, 202, [0.3], closed=False)  # killed before it closed its file
    _worker_file(tmp_path, 203, [0.4, 0.5])
    (tmp_path / "samples-203.done").write_text(json.dumps({"rows": 3}))  # one row lost
    (tmp_path / "counted.json").write_text(json.dumps({"requests": 7, "failures": 0}))

    accounting = account_samples(tmp_path)

    assert not accounting.complete
    assert accounting.unfinished == ("samples-202.csv",)
    assert accounting.mismatched == ("samples-203.csv",)
    problems = accounting.problems()
    assert "never closed by their writer: samples-202.csv" in problems[0]
    assert "not holding what was written: samples-203.csv" in problems[1]
    assert problems[2] == "5 samples merged from 3 file(s), but Locust counted 7 requests"


def test_without_locusts_count_only_the_files_are_checked(tmp_path: Path) -> None:
    _worker_file(tmp_path, 301, [0.1])
    accounting = account_samples(tmp_path)
    assert accounting.counted_by_locust is None
    assert accounting.complete


def test_an_earlier_runs_files_are_cleared_and_nothing_else(tmp_path: Path) -> None:
    _worker_file(tmp_path, 401, [0.1])
    (tmp_path / "start.json").write_text("{}")
    (tmp_path / "counted.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("kept")

    clear_samples(tmp_path)

    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]
    assert len(read_samples(tmp_path)) == 0


def test_workers_on_other_hosts_with_the_same_pid_write_files_of_their_own(tmp_path: Path) -> None:
    # Pods each see their Locust as a small pid: the host name keeps their files apart.
    first, second = (
        sample_path(tmp_path, 7, host="locust-worker-0"),
        sample_path(tmp_path, 7, host="locust-worker-1"),
    )
    assert first != second
    assert sample_path(tmp_path, 7, host="odd/name here").name == "samples-odd_name_here-7.csv"
    assert done_path(first).name == "samples-locust-worker-0-7.done"
    assert first.match(SAMPLE_GLOB)


def test_open_model_rows_carry_their_scheduled_time_beside_closed_loop_rows(
    tmp_path: Path,
) -> None:
    with (tmp_path / "samples-1.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow((T0 + 1.0, "GET", "/x", 10.0, 0, ""))  # closed loop: six columns
        writer.writerow((T0 + 2.5, "GET", "/x", 10.0, 0, "", T0 + 2.0))  # due 0.5 s earlier
        handle.write(f"{T0 + 3},GET,/x,1")  # a row still being written: left out

    samples = read_samples(tmp_path)

    assert len(samples) == 2
    assert np.isnan(samples.scheduled[0])
    assert samples.scheduled[1] == T0 + 2.0
    assert samples.dispatch_lag_ms[1] == pytest.approx(500.0)
    assert samples.from_schedule_ms[1] == pytest.approx(510.0)
    assert len(samples.scheduled_between(T0, T0 + 10)) == 1
    assert len(samples.between(T0, T0 + 10)) == 2
