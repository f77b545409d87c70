"""The models of one phase of a result document (see :mod:`results._schema` for its history)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import JsonValue

from results._base import FalseIfNull, Flag, Items, Members, Model, Number, Scalar, Text

__all__ = [
    "CacheFigures",
    "ContainerFigures",
    "Db",
    "EndpointFigures",
    "Failure",
    "Growth",
    "HitRatePoint",
    "HttpCheck",
    "MemorySample",
    "Phase",
    "RequestWindow",
    "SqlFigures",
    "Stage",
    "Timeline",
    "TraceFigures",
    "TraceWaterfalls",
    "Waterfall",
    "WaterfallSpan",
    "WorkFigures",
    "WorkSummary",
    "stage_at",
]


class Stage(Model):
    """A load stage; ``measured`` is False for warm-up (``None``: not recorded)."""

    name: str
    start_t: Number
    end_t: Number
    users: int | None = None
    measured: Flag | None = None

    @property
    def is_warmup(self) -> bool:
        if self.measured is not None:
            return not self.measured
        return "warm" in self.name.lower()


class EndpointFigures(Model):
    """Exact figures of one endpoint over the measured window."""

    count: int | None = None
    failures: int | None = None
    p50_ms: Number | None = None
    p95_ms: Number | None = None
    p99_ms: Number | None = None
    max_ms: Number | None = None
    rps: Number | None = None
    p95_ms_windows: Items[Number | None] = []
    p99_ms_windows: Items[Number | None] = []
    #: 95 % bootstrap confidence intervals of the percentiles (``[low, high]``).
    p95_ms_ci95: tuple[Number, Number] | None = None
    p99_ms_ci95: tuple[Number, Number] | None = None


class RequestWindow(Model):
    """One endpoint's figures in one timeline bucket starting at ``t``."""

    t: Number
    endpoint: str
    p50_ms: Number | None = None
    p95_ms: Number | None = None
    p99_ms: Number | None = None
    rps: Number | None = None
    failures: int | None = None


class MemorySample(Model):
    t: Number
    usage_bytes: Number | None = None
    working_set_bytes: Number | None = None
    rss_bytes: Number | None = None


class HitRatePoint(Model):
    t: Number
    cache: str
    hit_rate: Number | None = None


class ConnectionsPoint(Model):
    """Connections to Postgres at ``t``: every one, and those running a query."""

    t: Number
    count: Number | None = None
    active: Number | None = None


class UsersPoint(Model):
    t: Number
    users: Number | None = None


class Timeline(Model):
    """What happened second by second; every ``t`` is seconds from the phase's start."""

    requests: Items[RequestWindow] = []
    memory: Members[Items[MemorySample]] = {}
    cache_hit_rate: Items[HitRatePoint] = []
    db_connections: Items[ConnectionsPoint] = []
    users: Items[UsersPoint] = []


class Growth(Model):
    """A memory figure fitted against requests served after the warm-up (the leak test)."""

    bytes_per_10k_requests: Number
    ci95_low_bytes_per_10k_requests: Number
    ci95_high_bytes_per_10k_requests: Number
    bins: int
    requests: int
    first_bytes: Number | None = None
    last_bytes: Number | None = None


class ContainerFigures(Model):
    """One container over the whole phase (``name`` is its key in ``containers``)."""

    name: str = ""
    role: Text = ""
    cap_bytes: Number | None = None
    peak_working_set_bytes: Number | None = None
    peak_usage_bytes: Number | None = None
    cgroup_peak_bytes: Number | None = None
    oom_killed: FalseIfNull = False
    oom_kill_t: Number | None = None
    exit_code: int | None = None
    #: Service containers of a gated phase: working set against requests served.
    growth: Growth | None = None


class CacheFigures(Model):
    hits: Number | None = None
    misses: Number | None = None
    errors: Number | None = None
    hit_rate: Number | None = None
    #: Hits on entries another replica computed, and their share of the signed hits.
    cross_replica_hits: Number | None = None
    cross_replica_hit_share: Number | None = None


class SqlFigures(Model):
    """Statements per request of one route and cache outcome (or of one probe request)."""

    count: Number | None = None
    mean: Number | None = None
    max: Number | None = None
    #: ``sql_probe`` only: probe requests that failed.
    failed: int | None = None


class TraceFigures(Model):
    """Database and Redis spans beneath one probe's server spans."""

    count: int | None = None
    missing: int | None = None
    db_spans_max: Number | None = None
    db_spans_mean: Number | None = None
    redis_spans_max: Number | None = None


class WaterfallSpan(Model):
    """One span of a request's waterfall, on the request's clock."""

    name: str
    kind: str
    depth: int = 0
    start_ms: Number
    duration_ms: Number


class Waterfall(Model):
    """One traced request: its spans in start order (at most 150 kept)."""

    trace_id: str
    duration_ms: Number
    span_count: int
    spans: Items[WaterfallSpan] = []


class TraceWaterfalls(Model):
    """The traced requests of one endpoint: how many, the median one and the slowest."""

    traced: int
    typical: Waterfall
    slowest: Waterfall


class WorkSummary(Model):
    median: Number | None = None
    max: Number | None = None


class WorkFigures(Model):
    """What one probe request made Redis and Postgres do (``work_probe``)."""

    count: int | None = None
    failed: int | None = None
    redis_commands: WorkSummary = WorkSummary()
    pg_rows: WorkSummary = WorkSummary()
    pg_buffer_bytes: WorkSummary = WorkSummary()
    redis_by_command: Members[int] = {}


class HttpCheck(Model):
    check: str
    passed: Flag
    expected: Scalar = None
    actual: Scalar = None


class Db(Model):
    max_connections_in_use: Number | None = None
    connections_per_replica: Number | None = None
    #: Connections each replica's pools may open, from its ``tastematch_db_pool_capacity``.
    pool_capacity_per_replica: Number | None = None
    settings: Members[Scalar] = {}
    probe_errors: Items[Scalar] = []


class Failure(Model):
    endpoint: Scalar = None
    error: Scalar = None
    occurrences: int | None = None


class Locust(Model):
    exit_code: int | None = None
    timed_out: Flag | None = None


class Phase(Model):
    """One load run of the stack; every ``t`` is seconds from ``started_at``."""

    name: str
    profile: str | None = None
    regressions: Items[str] = []
    scenario: str | None = None
    users: int | None = None
    #: Service replicas that served the load (``None``: not recorded, one).
    replicas: int | None = None
    warmup_s: Number | None = None
    measure_s: Number | None = None
    started_at: Number | None = None
    gated: Flag | None = None
    error: str | None = None
    stages: Items[Stage] = []
    endpoints: Members[EndpointFigures] = {}
    timeline: Timeline = Timeline()
    containers: Members[ContainerFigures] = {}
    cache: Members[CacheFigures] = {}
    sql_per_request: Members[Members[SqlFigures]] = {}
    sql_probe: Members[SqlFigures] = {}
    work_probe: Members[WorkFigures] = {}
    #: Spans of the statement probe's requests on a traced stack (``benchmarks.measure.traces``).
    trace_probe: Members[TraceFigures] = {}
    #: Per endpoint, the typical and the slowest traced request of the load.
    trace_waterfalls: Members[TraceWaterfalls] = {}
    #: The fault injected during this phase (``make faults``; ``benchmarks.measure.recovery``).
    fault: Members[JsonValue] | None = None
    db: Db = Db()
    http_contract: Items[HttpCheck] = []
    load_generator: Members[JsonValue] = {}
    failures: Items[Failure] = []
    locust: Locust = Locust()
    metrics_scrape_errors: Items[Scalar] = []

    def model_post_init(self, context: Any, /) -> None:
        # A container is named by its key; its role defaults to the name's prefix.
        named = {
            key: figures.model_copy(update={"name": key, "role": figures.role or key.split("-")[0]})
            for key, figures in self.containers.items()
        }
        object.__setattr__(self, "containers", named)

    def stage_at(self, t: float) -> str | None:
        """The name of the stage running at ``t`` (the last one at its very end)."""
        return stage_at(self.stages, t)


def stage_at(stages: Sequence[Stage], t: float) -> str | None:
    """The name of the stage running at ``t`` (the last one at its very end)."""
    for stage in stages:
        if stage.start_t <= t < stage.end_t:
            return stage.name
    if stages and math.isclose(t, stages[-1].end_t):
        return stages[-1].name
    return None
