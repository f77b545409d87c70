"""The models of one phase of a result document (see :mod:`results._schema` for its history)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import JsonValue

from results._base import Items, Members, Model, Scalar, Text

__all__ = [
    "CacheFigures",
    "ContainerFigures",
    "Db",
    "EndpointFigures",
    "Failure",
    "HitRatePoint",
    "HttpCheck",
    "MemorySample",
    "Phase",
    "RequestWindow",
    "SqlFigures",
    "Stage",
    "Timeline",
    "stage_at",
]


class Stage(Model):
    """A load stage; ``measured`` is False for warm-up (``None``: not recorded)."""

    name: str
    start_t: float
    end_t: float
    users: int | None = None
    measured: bool | None = None

    @property
    def is_warmup(self) -> bool:
        if self.measured is not None:
            return not self.measured
        return "warm" in self.name.lower()


class EndpointFigures(Model):
    """Exact figures of one endpoint over the measured window."""

    count: int | None = None
    failures: int | None = None
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    rps: float | None = None
    p95_ms_windows: Items[float | None] = []
    p99_ms_windows: Items[float | None] = []


class RequestWindow(Model):
    """One endpoint's figures in one timeline bucket starting at ``t``."""

    t: float
    endpoint: str
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    rps: float | None = None
    failures: int | None = None


class MemorySample(Model):
    t: float
    usage_bytes: float | None = None
    working_set_bytes: float | None = None
    rss_bytes: float | None = None


class HitRatePoint(Model):
    t: float
    cache: str
    hit_rate: float | None = None


class ConnectionsPoint(Model):
    t: float
    count: float | None = None


class UsersPoint(Model):
    t: float
    users: float | None = None


class Timeline(Model):
    """What happened second by second; every ``t`` is seconds from the phase's start."""

    requests: Items[RequestWindow] = []
    memory: Members[Items[MemorySample]] = {}
    cache_hit_rate: Items[HitRatePoint] = []
    db_connections: Items[ConnectionsPoint] = []
    users: Items[UsersPoint] = []


class ContainerFigures(Model):
    """One container over the whole phase (``name`` is its key in ``containers``)."""

    name: str = ""
    role: Text = ""
    cap_bytes: float | None = None
    peak_working_set_bytes: float | None = None
    peak_usage_bytes: float | None = None
    cgroup_peak_bytes: float | None = None
    oom_killed: bool = False
    oom_kill_t: float | None = None
    exit_code: int | None = None


class CacheFigures(Model):
    hits: float | None = None
    misses: float | None = None
    errors: float | None = None
    hit_rate: float | None = None


class SqlFigures(Model):
    """Statements per request of one route and cache outcome."""

    count: float | None = None
    mean: float | None = None
    max: float | None = None


class HttpCheck(Model):
    check: str
    passed: bool
    expected: Scalar = None
    actual: Scalar = None


class Db(Model):
    max_connections_in_use: float | None = None
    connections_per_replica: float | None = None
    settings: Members[Scalar] = {}
    probe_errors: Items[Scalar] = []


class Failure(Model):
    endpoint: Scalar = None
    error: Scalar = None
    occurrences: int | None = None


class Locust(Model):
    exit_code: int | None = None
    timed_out: bool | None = None


class Phase(Model):
    """One load run of the stack; every ``t`` is seconds from ``started_at``."""

    name: str
    profile: str | None = None
    regressions: Items[str] = []
    scenario: str | None = None
    users: int | None = None
    warmup_s: float | None = None
    measure_s: float | None = None
    started_at: float | None = None
    gated: bool | None = None
    error: str | None = None
    stages: Items[Stage] = []
    endpoints: Members[EndpointFigures] = {}
    timeline: Timeline = Timeline()
    containers: Members[ContainerFigures] = {}
    cache: Members[CacheFigures] = {}
    sql_per_request: Members[Members[SqlFigures]] = {}
    sql_probe: Members[SqlFigures] = {}
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
