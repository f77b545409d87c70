"""Exact request samples: reading Locust's per-process files and the figures drawn from them.

Percentiles are computed from every sample (numpy, linear interpolation), not
from Locust's rounded histogram. Failed requests count in the latency figures:
a request that timed out was slow for the diner who sent it.

A distributed run leaves one file per worker; :func:`read_samples` merges them
all and :func:`account_samples` checks the merge: each file against the row
count its writer left when it closed it (a killed worker's file has none), and
the total against the requests Locust's own statistics counted.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from scenarios.protocol import COUNTED_FILE, SAMPLE_COLUMNS, SAMPLE_GLOB, done_path, run_files

__all__ = [
    "SampleAccounting",
    "Samples",
    "account_samples",
    "clear_samples",
    "endpoint_figures",
    "failure_summary",
    "read_samples",
    "request_timeline",
]

#: Fields of one sample row; an open-model request adds a seventh, its due time.
_COLUMNS = len(SAMPLE_COLUMNS)
_SCHEDULED_COLUMNS = _COLUMNS + 1

#: Sub-windows of the measured window whose p95 spread flags an unstable figure.
STABILITY_WINDOWS = 3


@dataclass(frozen=True)
class Samples:
    """Parallel arrays, one entry per request; ``t`` in epoch seconds (request start).

    ``scheduled`` is when an open-model request was due (epoch seconds), NaN for a request
    of a closed loop (a six-column row): its latency as the arrival saw it is
    :attr:`from_schedule_ms`, the wait for a free user included."""

    t: npt.NDArray[np.float64]
    endpoint: npt.NDArray[np.str_]
    response_ms: npt.NDArray[np.float64]
    failed: npt.NDArray[np.bool_]
    error: npt.NDArray[np.str_]
    scheduled: npt.NDArray[np.float64] = field(
        default_factory=lambda: np.array([], dtype=np.float64)
    )

    def __post_init__(self) -> None:
        if len(self.scheduled) != len(self.t):  # built without schedules: closed-loop samples
            object.__setattr__(self, "scheduled", np.full(len(self.t), np.nan))

    @property
    def dispatch_lag_ms(self) -> npt.NDArray[np.float64]:
        """Milliseconds from each request's scheduled time to its sending (NaN: unscheduled)."""
        return (self.t - self.scheduled) * 1000.0

    @property
    def from_schedule_ms(self) -> npt.NDArray[np.float64]:
        """Milliseconds from each request's scheduled time to its answer (NaN: unscheduled)."""
        return self.dispatch_lag_ms + self.response_ms

    def __len__(self) -> int:
        return len(self.t)

    def between(self, start: float, end: float) -> Samples:
        """The samples of requests started in ``[start, end)``."""
        return self.where((self.t >= start) & (self.t < end))

    def scheduled_between(self, start: float, end: float) -> Samples:
        """The samples of open-model requests scheduled in ``[start, end)``."""
        return self.where((self.scheduled >= start) & (self.scheduled < end))

    def where(self, keep: npt.NDArray[np.bool_]) -> Samples:
        """The samples where ``keep`` is true."""
        return Samples(
            t=self.t[keep],
            endpoint=self.endpoint[keep],
            response_ms=self.response_ms[keep],
            failed=self.failed[keep],
            error=self.error[keep],
            scheduled=self.scheduled[keep],
        )


def _rows(path: Path) -> list[list[str]]:
    # A row still being written (the live progress line reads during the run) is cut short.
    with path.open(newline="") as handle:
        return [row for row in csv.reader(handle) if len(row) in (_COLUMNS, _SCHEDULED_COLUMNS)]


def read_samples(directory: Path) -> Samples:
    """Every ``samples-*.csv`` row in ``directory`` (one file per Locust process), merged
    and sorted by start time."""
    rows: list[list[str]] = []
    for path in sorted(directory.glob(SAMPLE_GLOB)):
        rows.extend(_rows(path))
    rows.sort(key=lambda row: float(row[0]))
    return Samples(
        t=np.array([float(row[0]) for row in rows], dtype=np.float64),
        endpoint=np.array([f"{row[1]} {row[2]}" for row in rows], dtype=np.str_),
        response_ms=np.array([float(row[3]) for row in rows], dtype=np.float64),
        failed=np.array([row[4] == "1" for row in rows], dtype=np.bool_),
        error=np.array([row[5] for row in rows], dtype=np.str_),
        scheduled=np.array(
            [float(row[_COLUMNS]) if len(row) == _SCHEDULED_COLUMNS else np.nan for row in rows],
            dtype=np.float64,
        ),
    )


@dataclass(frozen=True)
class SampleAccounting:
    """Whether the merged samples are every request, once.

    ``unfinished``: files whose writer never closed them (killed: rows may be lost);
    ``mismatched``: files holding another number of rows than their writer wrote;
    ``counted_by_locust``: the requests Locust's statistics counted (the master's
    total over every worker), ``None`` when Locust did not get to write it.
    """

    files: int = 0
    rows: int = 0
    unfinished: tuple[str, ...] = ()
    mismatched: tuple[str, ...] = ()
    counted_by_locust: int | None = None

    @property
    def complete(self) -> bool:
        """Every file whole, and as many rows as Locust counted requests (when it said)."""
        counted = self.counted_by_locust
        return not self.unfinished and not self.mismatched and counted in (None, self.rows)

    def problems(self) -> list[str]:
        """Why the merge may not be every request once (empty when it is)."""
        found = []
        if self.unfinished:
            names = ", ".join(self.unfinished)
            found.append(f"sample file(s) never closed by their writer: {names}")
        if self.mismatched:
            names = ", ".join(self.mismatched)
            found.append(f"sample file(s) not holding what was written: {names}")
        if self.counted_by_locust is not None and self.counted_by_locust != self.rows:
            found.append(
                f"{self.rows} samples merged from {self.files} file(s), "
                f"but Locust counted {self.counted_by_locust} requests"
            )
        return found

    def as_dict(self) -> dict[str, object]:
        """The figures the result document keeps (under ``load_generator``)."""
        return {
            "sample_files": self.files,
            "samples_merged": self.rows,
            "requests_counted_by_locust": self.counted_by_locust,
            "samples_complete": self.complete,
        }


def account_samples(directory: Path) -> SampleAccounting:
    """Check the sample files of a finished run in ``directory`` (see :class:`SampleAccounting`)."""
    files = sorted(directory.glob(SAMPLE_GLOB))
    rows = 0
    unfinished: list[str] = []
    mismatched: list[str] = []
    for path in files:
        found = len(_rows(path))
        rows += found
        marker = done_path(path)
        if not marker.exists():
            unfinished.append(path.name)
        elif int(json.loads(marker.read_text())["rows"]) != found:
            mismatched.append(path.name)
    counted_path = directory / COUNTED_FILE
    counted = (
        int(json.loads(counted_path.read_text())["requests"]) if counted_path.exists() else None
    )
    return SampleAccounting(
        files=len(files),
        rows=rows,
        unfinished=tuple(unfinished),
        mismatched=tuple(mismatched),
        counted_by_locust=counted,
    )


def clear_samples(directory: Path) -> None:
    """Remove an earlier run's sample files from ``directory`` (they would be merged in)."""
    for path in run_files(directory):
        path.unlink()


#: Bootstrap resamples behind a percentile's confidence interval, and the fewest samples
#: for which one is computed.
BOOTSTRAP_RESAMPLES = 1000
_BOOTSTRAP_MIN_SAMPLES = 20
_BOOTSTRAP_BATCH = 100


def percentile_ci95(
    values: npt.NDArray[np.float64], q: float, *, seed: int = 0
) -> list[float] | None:
    """``[low, high]``: the 95 % bootstrap (percentile method) confidence interval of the
    ``q``-th percentile of ``values``; ``None`` below 20 values. Seeded: the same samples
    give the same interval."""
    if len(values) < _BOOTSTRAP_MIN_SAMPLES:
        return None
    rng = np.random.default_rng(seed)
    estimates: list[npt.NDArray[np.float64]] = []
    for _ in range(BOOTSTRAP_RESAMPLES // _BOOTSTRAP_BATCH):  # bounded memory per batch
        picks = rng.integers(0, len(values), size=(_BOOTSTRAP_BATCH, len(values)))
        estimates.append(np.percentile(values[picks], q, axis=1))
    low, high = np.percentile(np.concatenate(estimates), [2.5, 97.5])
    return [round(float(low), 3), round(float(high), 3)]


def _percentiles(values: npt.NDArray[np.float64]) -> dict[str, float | None]:
    if len(values) == 0:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50_ms": round(float(p50), 3),
        "p95_ms": round(float(p95), 3),
        "p99_ms": round(float(p99), 3),
        "max_ms": round(float(values.max()), 3),
    }


def endpoint_figures(samples: Samples, *, start: float, end: float) -> dict[str, dict[str, object]]:
    """Per endpoint over ``[start, end)``: count, failures, exact percentiles, rps.

    ``p95_ms_ci95`` / ``p99_ms_ci95`` are the percentiles' 95 % bootstrap confidence
    intervals: how far the same load could have moved them. ``p95_ms_windows`` /
    ``p99_ms_windows`` hold the percentile of each of :data:`STABILITY_WINDOWS` equal
    sub-windows, for the report's charts.
    """
    window = samples.between(start, end)
    duration = end - start
    edges = np.linspace(start, end, STABILITY_WINDOWS + 1)
    figures: dict[str, dict[str, object]] = {}
    for endpoint in sorted(set(window.endpoint.tolist())):
        mask = window.endpoint == endpoint
        times, values = window.t[mask], window.response_ms[mask]
        windows = [values[(times >= lo) & (times < hi)] for lo, hi in itertools.pairwise(edges)]
        figures[endpoint] = {
            "count": int(mask.sum()),
            "failures": int(window.failed[mask].sum()),
            **_percentiles(values),
            "rps": round(int(mask.sum()) / duration, 3) if duration > 0 else None,
            "p95_ms_windows": [_percentiles(part)["p95_ms"] for part in windows],
            "p99_ms_windows": [_percentiles(part)["p99_ms"] for part in windows],
            "p95_ms_ci95": percentile_ci95(values, 95),
            "p99_ms_ci95": percentile_ci95(values, 99),
        }
    return figures


def request_timeline(
    samples: Samples, *, started_at: float, bucket_s: float = 1.0
) -> list[dict[str, object]]:
    """Per endpoint and ``bucket_s`` bucket (``t`` = bucket start, seconds from ``started_at``)."""
    if len(samples) == 0:
        return []
    buckets = np.floor((samples.t - started_at) / bucket_s).astype(np.int64)
    rows: list[dict[str, object]] = []
    for bucket in np.unique(buckets).tolist():
        in_bucket = buckets == bucket
        for endpoint in sorted(set(samples.endpoint[in_bucket].tolist())):
            mask = in_bucket & (samples.endpoint == endpoint)
            figures = _percentiles(samples.response_ms[mask])
            rows.append(
                {
                    "t": round(bucket * bucket_s, 3),
                    "endpoint": endpoint,
                    "p50_ms": figures["p50_ms"],
                    "p95_ms": figures["p95_ms"],
                    "p99_ms": figures["p99_ms"],
                    "rps": round(int(mask.sum()) / bucket_s, 3),
                    "failures": int(samples.failed[mask].sum()),
                }
            )
    return rows


def failure_summary(samples: Samples) -> list[dict[str, object]]:
    """Failed requests grouped by endpoint and error, most frequent first."""
    counts = Counter(
        zip(
            samples.endpoint[samples.failed].tolist(),
            samples.error[samples.failed].tolist(),
            strict=True,
        )
    )
    return [
        {"endpoint": endpoint, "error": error, "occurrences": occurrences}
        for (endpoint, error), occurrences in counts.most_common()
    ]
