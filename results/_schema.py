"""The result documents as typed models: one schema for every command that writes one.

A gate run writes ``result.json``; ``make oom`` writes the same shape with an
``oom`` block; ``make selftest`` writes ``selftest.json`` and ``make capacity``
``capacity.json``. Budgets are judged and reports rendered from these documents
alone, so this module is the one place their shape is written down. Readers check
a document against these models and name the first field that does not fit.

Format history (``schema_version``):

1. First version: ``environment``, ``phases`` (per load run: ``stages`` with
   ``measured``, exact per-endpoint figures of the measured window with
   ``p95_ms_windows``/``p99_ms_windows`` (the percentile in each third of the
   window, for the stability warning), ``timeline``, ``containers``, ``cache``,
   ``sql_per_request``, ``sql_probe`` (statement counts of single requests sent
   with no other traffic), ``db``, ``http_contract``, ``load_generator``,
   ``failures``, ``gated`` (held to the per-phase budgets), ``error`` (why it
   produced no figures, or ``null``), ``locust``, ``metrics_scrape_errors``),
   ``memray`` (with ``errors``), ``microbenchmarks`` and ``microbenchmarks_status``
   (``failed``, ``error``: whether every micro-benchmark ran, and why not),
   ``comparison`` (with ``endpoint``, ``errors``), ``verdicts``, ``passed``,
   ``duration_s``. A verdict's ``spread`` is relative: (max - min) / median of its
   sub-window figures. The OOM run adds ``oom``; the self-test document has
   ``kind: "selftest"``; the capacity document (``kind: "capacity"``) had no
   ``schema_version``. (The report of version 1 read ``microbenchmarks_error``,
   a key the gate never wrote: version-1 documents are read through
   ``microbenchmarks_status``.)
2. Every document carries ``kind`` (``gate``, ``oom``, ``selftest``, ``capacity``)
   and ``schema_version``. Each verdict carries ``metric`` (the budget's dotted
   path) and ``paths`` (every concrete path it matched, relative to the phase, or
   to the document for a run-wide budget), so a reader links a verdict to its
   containers and endpoints without parsing budget names.

Version-1 documents are still read: their ``kind`` is inferred (``oom`` when an
``oom`` block is present, else ``gate``) and their verdicts have no ``metric``
(``null``) and no ``paths`` (empty).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, JsonValue

__all__ = [
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "Allocation",
    "CacheFigures",
    "Comparison",
    "ContainerFigures",
    "Db",
    "EndpointFigures",
    "Environment",
    "Failure",
    "HttpCheck",
    "Kind",
    "MemorySample",
    "Memray",
    "Microbenchmark",
    "MicrobenchmarksStatus",
    "Model",
    "Phase",
    "RequestWindow",
    "RunDocument",
    "Scalar",
    "SqlFigures",
    "Stage",
    "Text",
    "Timeline",
    "Verdict",
    "stage_at",
    "unknown_keys",
]

SCHEMA_VERSION = 2
SUPPORTED_SCHEMA_VERSIONS = (1, 2)

Kind = Literal["gate", "oom", "selftest", "capacity"]
Scalar = str | int | float | bool | None

_T = TypeVar("_T")


def _empty_dict(value: object) -> object:
    return {} if value is None else value


def _empty_list(value: object) -> object:
    return [] if value is None else value


def _empty_text(value: object) -> object:
    return "" if value is None else value


#: An object or a list that may be absent or ``null`` in a document: it then reads as empty.
Members = Annotated[dict[str, _T], BeforeValidator(_empty_dict)]
Items = Annotated[list[_T], BeforeValidator(_empty_list)]
#: Text that may be absent or ``null``: it then reads as empty.
Text = Annotated[str, BeforeValidator(_empty_text)]


class Model(BaseModel):
    """Base of every document model: immutable, no NaN; unknown keys kept, not rejected."""

    model_config = ConfigDict(frozen=True, extra="allow", allow_inf_nan=False)


class Verdict(Model):
    """One budget judged on one phase (``phase`` is ``None`` for a run-wide budget)."""

    budget: str
    measured: float | None
    limit: float | None
    unit: str
    comparison: Literal["<=", ">="]
    passed: bool
    description: Text = ""
    phase: str | None = None
    explanation: Text = ""
    unstable: bool = False
    spread: float | None = None
    #: The budget's dotted metric path (``None`` in version-1 documents).
    metric: str | None = None
    #: Every concrete path the metric matched, relative to the phase (or the document).
    paths: tuple[str, ...] = ()

    @property
    def lower_is_better(self) -> bool:
        return self.comparison != ">="

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


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


class Allocation(Model):
    location: str
    bytes: float | None = None
    count: int | None = None


class Memray(Model):
    """The service's heap under load (peak, top sites at the peak) and one request's allocation."""

    peak_heap_bytes: float | None = None
    per_request_bytes: float | None = None
    total_allocations: int | None = None
    top_allocations: Items[Allocation] = []
    per_request_top_allocations: Items[Allocation] = []
    request: str | None = None
    flamegraph: str | None = None
    oom_killed: bool | None = None
    load: Members[Scalar] = {}
    errors: Items[Scalar] = []


class Microbenchmark(Model):
    name: str
    group: Text = ""
    description: Text = ""
    mean_s: float | None = None
    median_s: float | None = None
    stddev_s: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    rounds: int | None = None

    @property
    def spread(self) -> float | None:
        """Standard deviation over mean: pyperf warns at 10 % and more."""
        if self.stddev_s is None or not self.mean_s:
            return None
        return self.stddev_s / self.mean_s


class MicrobenchmarksStatus(Model):
    """Whether every micro-benchmark ran (``None``: not measured), and why not."""

    failed: bool | None = None
    error: str | None = None


class Comparison(Model):
    """Optimised over baseline p95 of one endpoint, both measured in the same run."""

    scenario: str | None = None
    endpoint: str | None = None
    users: int | None = None
    optimized_p95_ms: float | None = None
    baseline_p95_ms: float | None = None
    ratio: float | None = None
    errors: Members[Scalar] = {}


class Environment(Model):
    """Where and on what the run happened, and the command that runs it again."""

    commit: str | None = None
    dirty: bool | None = None
    branch: str | None = None
    machine: Members[Scalar] = {}
    images: Members[Scalar] = {}
    caps_bytes: Members[float | None] = {}
    dataset: Members[Scalar] = {}
    reproduce: str | None = None


class RunDocument(Model):
    """A gate run's ``result.json`` (``kind`` ``gate``), or an OOM run's (``oom``)."""

    schema_version: int
    kind: Literal["gate", "oom"] = "gate"
    run_id: str
    created_at: str | None = None
    environment: Environment
    phases: list[Phase]
    verdicts: list[Verdict]
    memray: Memray | None = None
    microbenchmarks: Items[Microbenchmark] = []
    microbenchmarks_status: MicrobenchmarksStatus | None = None
    comparison: Comparison | None = None
    passed: bool | None = None
    duration_s: float | None = None
    #: Where the OOM run's kill landed and how to run it again (``kind`` ``oom`` only).
    oom: Members[JsonValue] | None = None

    @property
    def microbenchmarks_error(self) -> str | None:
        """Why the micro-benchmarks did not all run (``None`` when they did)."""
        status = self.microbenchmarks_status
        return None if status is None else status.error

    def phase(self, name: str | None) -> Phase | None:
        return next((phase for phase in self.phases if phase.name == name), None)


def unknown_keys(model: Model, where: str = "") -> list[str]:
    """Every key of a checked document that its model does not declare, as a dotted path.

    Readers keep unknown keys (a newer writer may add some); a test of what the writer
    produces asserts there are none, so writer and schema cannot drift apart.
    """
    found = [_join(where, key) for key in model.model_extra or {}]
    for name in type(model).model_fields:
        found += _unknown_in(getattr(model, name), _join(where, name))
    return found


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _unknown_in(value: object, where: str) -> list[str]:
    if isinstance(value, Model):
        return unknown_keys(value, where)
    if isinstance(value, dict):
        return [k for key, item in value.items() for k in _unknown_in(item, _join(where, key))]
    if isinstance(value, list | tuple):
        return [k for i, item in enumerate(value) for k in _unknown_in(item, f"{where}[{i}]")]
    return []
