"""The service's ``/metrics``: scraping every replica, and deltas over the measured window.

Counters and histograms are summed across replicas, so a figure describes the
whole service. A delta is taken between the first scrape at or after the window
start and the last scrape at or before its end (scrapes are ~1 Hz, so the
window's edges are exact to about a second).
"""

from __future__ import annotations

import itertools
import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.measure.polling import Poller

__all__ = ["MetricsPoller", "Snapshot", "cache_figures", "scrape", "sql_figures"]

CACHE_REQUESTS = "tastematch_cache_requests"
CACHE_HITS_BY_WRITER = "tastematch_cache_hits_by_writer"
SQL_STATEMENTS = "tastematch_sql_statements_per_request"
POOL_CAPACITY = "tastematch_db_pool_capacity"

Labels = tuple[tuple[str, str], ...]
SampleKey = tuple[str, Labels]


@dataclass(frozen=True)
class Snapshot:
    """Sample values summed over replicas at ``t`` (epoch); ``errors`` names failed scrapes."""

    t: float
    values: dict[SampleKey, float]
    errors: tuple[str, ...] = ()

    def get(self, name: str, **labels: str) -> float:
        return self.values.get((name, tuple(sorted(labels.items()))), 0.0)

    def select(self, name: str) -> dict[Labels, float]:
        """Every sample named ``name``, keyed by its sorted labels."""
        return {labels: value for (sample, labels), value in self.values.items() if sample == name}


def parse_exposition(text: str) -> dict[SampleKey, float]:
    """Samples of a Prometheus text exposition, keyed by name and sorted labels."""
    values: dict[SampleKey, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            values[key] = values.get(key, 0.0) + float(sample.value)
    return values


def scrape(client: httpx.Client, urls: Sequence[str]) -> Snapshot:
    """One scrape of every replica's ``/metrics``, summed; a replica that fails is named."""
    total: dict[SampleKey, float] = defaultdict(float)
    errors: list[str] = []
    for url in urls:
        try:
            response = client.get(f"{url}/metrics")
            response.raise_for_status()
        except httpx.HTTPError as error:
            errors.append(f"{url}: {type(error).__name__}: {error}")
            continue
        for key, value in parse_exposition(response.text).items():
            total[key] += value
    return Snapshot(time.time(), dict(total), tuple(errors))


def _delta(before: Snapshot, after: Snapshot, name: str) -> dict[Labels, float]:
    earlier = before.select(name)
    return {labels: now - earlier.get(labels, 0.0) for labels, now in after.select(name).items()}


def cache_figures(before: Snapshot, after: Snapshot) -> dict[str, dict[str, float | None]]:
    """Hits, misses, errors and hit rate per cache between two snapshots, and the share of
    hits served from entries another replica computed (``None`` without a hit signed by
    its writer)."""
    counts: dict[str, dict[str, float]] = defaultdict(
        lambda: {"hit": 0.0, "miss": 0.0, "error": 0.0}
    )
    for labels, value in _delta(before, after, f"{CACHE_REQUESTS}_total").items():
        label = dict(labels)
        counts[label.get("cache", "?")][label.get("outcome", "?")] = value
    writers: dict[str, dict[str, float]] = defaultdict(
        lambda: {"this-replica": 0.0, "another-replica": 0.0}
    )
    for labels, value in _delta(before, after, f"{CACHE_HITS_BY_WRITER}_total").items():
        label = dict(labels)
        writers[label.get("cache", "?")][label.get("writer", "?")] = value
    figures: dict[str, dict[str, float | None]] = {}
    for cache, outcome in sorted(counts.items()):
        lookups = outcome["hit"] + outcome["miss"] + outcome["error"]
        by_writer = writers[cache]
        signed = by_writer["this-replica"] + by_writer["another-replica"]
        figures[cache] = {
            "hits": outcome["hit"],
            "misses": outcome["miss"],
            "errors": outcome["error"],
            "hit_rate": round(outcome["hit"] / lookups, 4) if lookups else None,
            "cross_replica_hits": by_writer["another-replica"],
            "cross_replica_hit_share": (
                round(by_writer["another-replica"] / signed, 4) if signed else None
            ),
        }
    return figures


def pool_capacity_per_replica(snapshot: Snapshot, replicas: int) -> float | None:
    """Connections each replica's pools may open (``pool_size + max_overflow``, summed over
    its worker processes), from the service's own gauge; ``None`` unless every replica
    answered the scrape."""
    if snapshot.errors or not snapshot.select(POOL_CAPACITY):
        return None
    return snapshot.get(POOL_CAPACITY) / max(1, replicas)


def sql_figures(before: Snapshot, after: Snapshot) -> dict[str, dict[str, dict[str, float]]]:
    """Per route and cache outcome: requests, mean statements, and the largest bucket reached.

    ``max`` is the upper bound of the highest histogram bucket that received a
    request; the service's buckets are integers up to 6, so small counts are exact.
    """
    counts = _delta(before, after, f"{SQL_STATEMENTS}_count")
    sums = _delta(before, after, f"{SQL_STATEMENTS}_sum")
    buckets = _delta(before, after, f"{SQL_STATEMENTS}_bucket")
    figures: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for labels, count in counts.items():
        if count <= 0:
            continue
        label = dict(labels)
        route, cache = label.get("route", "?"), label.get("cache", "?")
        reached = [
            float(dict(bucket_labels)["le"])
            for bucket_labels, cumulative in buckets.items()
            if dict(bucket_labels).get("route") == route
            and dict(bucket_labels).get("cache") == cache
            and cumulative >= count
        ]
        upper = min(reached) if reached else math.inf
        figures[route][cache] = {
            "count": count,
            "mean": round(sums.get(labels, 0.0) / count, 3),
            # +Inf: more statements than the largest bucket (5000) — report the bound.
            "max": upper if math.isfinite(upper) else 5001.0,
        }
    return dict(figures)


class MetricsPoller(Poller):
    """Scrapes every replica at ``interval_s``, keeping every snapshot."""

    def __init__(self, urls: Sequence[str], interval_s: float = 1.0) -> None:
        super().__init__(interval_s, name="metrics-poller")
        self.urls = list(urls)
        self.snapshots: list[Snapshot] = []

    def resource(self) -> httpx.Client:
        return httpx.Client(timeout=2.0)

    def poll(self, resource: Any) -> bool:
        self.snapshots.append(scrape(resource, self.urls))
        return True

    def window(self, start: float, end: float) -> tuple[Snapshot, Snapshot] | None:
        """The snapshots bounding ``[start, end]`` (both without scrape errors), if any."""
        inside = [s for s in self.snapshots if start <= s.t <= end and not s.errors]
        return (inside[0], inside[-1]) if len(inside) >= 2 else None

    def hit_rate_timeline(self, started_at: float) -> list[dict[str, object]]:
        """Hit rate per cache between consecutive scrapes (``t`` from ``started_at``)."""
        timeline: list[dict[str, object]] = []
        usable = [s for s in self.snapshots if not s.errors]
        for before, after in itertools.pairwise(usable):
            for cache, figures in cache_figures(before, after).items():
                if figures["hit_rate"] is not None:
                    t = round(after.t - started_at, 3)
                    timeline.append({"t": t, "cache": cache, "hit_rate": figures["hit_rate"]})
        return timeline
