"""Prometheus metrics and the per-request statistics they are fed from.

With more than one uvicorn worker, ``PROMETHEUS_MULTIPROC_DIR`` must be set before this
module is imported (``python -m service`` does it); ``render()`` then aggregates the
workers' files.
"""

from __future__ import annotations

import glob
import os
import resource
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = [
    "CONTENT_TYPE_LATEST",
    "RequestStats",
    "current_stats",
    "record_cache",
    "record_cache_writer",
    "render",
]

CacheName = Literal["recommendations", "restaurants"]
CacheOutcome = Literal["hit", "miss", "error"]

_MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

REQUEST_DURATION = Histogram(
    "tastematch_request_duration_seconds",
    "Time to answer one HTTP request, by route template",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.4, 0.5, 1, 2.5, 5, 10, 30),
)
CACHE_REQUESTS = Counter(
    "tastematch_cache_requests_total",
    "Cache look-ups by cache and outcome (an unreachable cache counts as error)",
    ["cache", "outcome"],
)
CACHE_HITS_BY_WRITER = Counter(
    "tastematch_cache_hits_by_writer_total",
    "Cache hits by who computed the entry: this replica or another one sharing the cache",
    ["cache", "writer"],
)
SQL_STATEMENTS = Histogram(
    "tastematch_sql_statements_per_request",
    "SQL statements executed while answering one request",
    ["route", "cache"],
    buckets=(0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 50, 100, 500, 1000, 5000),
)
POOL_CHECKED_OUT = Gauge(
    "tastematch_db_pool_checked_out",
    "Database connections checked out of the pool",
    multiprocess_mode="livesum",
)
POOL_CAPACITY = Gauge(
    "tastematch_db_pool_capacity",
    "Connections the pool may open (pool_size + max_overflow)",
    multiprocess_mode="livesum",
)
PASSWORD_QUEUE_REFUSALS = Counter(
    "tastematch_password_queue_refusals_total",
    "Logins and registrations refused (503) because the password hashing queue was full",
)
RESTAURANT_ROWS = Counter(
    "tastematch_restaurant_rows_loaded_total",
    "Restaurant ORM rows materialised (full rows, embedding included)",
)
PROCESS_RSS = Gauge(
    "tastematch_process_rss_bytes",
    "Resident set size of the service process(es)",
    multiprocess_mode="livesum",
)

_PAGE_SIZE = resource.getpagesize()


@dataclass(slots=True)
class RequestStats:
    """What one request did; filled in by the database hooks and the cache."""

    statements: int = 0
    cache: Literal["hit", "miss", "none"] = "none"


_current: ContextVar[RequestStats | None] = ContextVar("tastematch_request_stats", default=None)


def current_stats() -> RequestStats | None:
    """The statistics of the request being answered, or ``None`` outside a request."""
    return _current.get()


def begin_request() -> RequestStats:
    """Start counting for a new request (call from the ASGI middleware)."""
    stats = RequestStats()
    _current.set(stats)
    return stats


def suspend_counting() -> object:
    """Stop attributing statements to the current request; pass the token to ``resume``."""
    return _current.set(None)


def resume_counting(token: object) -> None:
    """Undo ``suspend_counting``."""
    _current.reset(token)  # type: ignore[arg-type]


def record_cache(cache: CacheName, outcome: CacheOutcome) -> None:
    """Count one cache look-up and remember the outcome for the request's SQL histogram."""
    CACHE_REQUESTS.labels(cache=cache, outcome=outcome).inc()
    stats = _current.get()
    # The recommendation outcome decides the request's label; a restaurant look-up made
    # while computing recommendations must not overwrite it.
    if stats is not None and (cache == "recommendations" or stats.cache == "none"):
        stats.cache = "hit" if outcome == "hit" else "miss"


def record_cache_writer(cache: CacheName, *, this_replica: bool) -> None:
    """Count one hit by the replica that wrote the entry (shared cache: often another)."""
    writer = "this-replica" if this_replica else "another-replica"
    CACHE_HITS_BY_WRITER.labels(cache=cache, writer=writer).inc()


def observe_request(
    route: str, method: str, status: int, seconds: float, stats: RequestStats
) -> None:
    """Record one finished request."""
    REQUEST_DURATION.labels(route=route, method=method, status=str(status)).observe(seconds)
    SQL_STATEMENTS.labels(route=route, cache=stats.cache).observe(stats.statements)
    _update_rss()


_last_rss_update = 0.0


def _update_rss() -> None:
    global _last_rss_update
    now = time.monotonic()
    if now - _last_rss_update < 0.5:
        return
    _last_rss_update = now
    try:
        with open("/proc/self/statm", "rb") as statm:
            PROCESS_RSS.set(int(statm.read().split()[1]) * _PAGE_SIZE)
    except OSError:  # not Linux: fall back to the peak, which is better than nothing
        PROCESS_RSS.set(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def forget_dead_workers() -> list[int]:
    """Drop the live gauges of worker processes that no longer exist (multiprocess mode).

    A worker killed by the OOM killer never says goodbye; without this its last pool and
    RSS figures would be added to the live workers' for ever. Returns the pids dropped.
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return []
    dead: set[int] = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        pid = int(path.rsplit("_", 1)[1].removesuffix(".db"))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            dead.add(pid)
        except PermissionError:  # alive, owned by someone else
            continue
    for pid in dead:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
    return sorted(dead)


def render() -> bytes:
    """The metrics exposition text for ``GET /metrics``."""
    _update_rss()
    if _MULTIPROCESS:
        forget_dead_workers()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)
