"""Reading a gate run's result document (``result.json``) for the report.

The document's schema, its format history and its checks live in :mod:`results`:
a bad document fails there with one message naming the file and the field
(raised here as :class:`DocumentError`) instead of a traceback half-way through
rendering. This module adds the report's views of a checked document: timelines
grouped per endpoint, container or cache, and facts shown as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import results
from results import (
    SUPPORTED_SCHEMA_VERSIONS,
    Allocation,
    CacheFigures,
    ContainerFigures,
    EndpointFigures,
    HttpCheck,
    MemorySample,
    Microbenchmark,
    RequestWindow,
    Scalar,
    SqlFigures,
    Stage,
    Verdict,
    result_path,
    stage_at,
)

__all__ = [
    "SUPPORTED_SCHEMA_VERSIONS",
    "Allocation",
    "CacheFigures",
    "ContainerFigures",
    "DocumentError",
    "EndpointFigures",
    "Environment",
    "HttpCheck",
    "MemorySample",
    "MemrayFigures",
    "Microbenchmark",
    "OptimizedVsBaseline",
    "Phase",
    "Point",
    "ReportError",
    "RequestWindow",
    "RunDocument",
    "SqlFigures",
    "Stage",
    "Verdict",
    "label",
    "load_document",
    "result_path",
]


class ReportError(Exception):
    """The one root error of the report: its message is meant for people."""


class DocumentError(ReportError):
    """A result document that cannot be read; the message names the file and the field."""


def label(value: object) -> str:
    """A scalar fact shown as text: ``null`` as an empty string, booleans as yes/no."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _labels(members: Mapping[str, Scalar]) -> dict[str, str]:
    return {name: label(members[name]) for name in sorted(members)}


@dataclass(frozen=True)
class Point:
    t: float
    value: float | None


@dataclass(frozen=True)
class Phase:
    """One load run of the stack as the report shows it; every ``t`` is seconds from its start."""

    name: str
    profile: str | None
    regressions: tuple[str, ...]
    scenario: str | None
    users: int | None
    warmup_s: float | None
    measure_s: float | None
    started_at: float | None
    gated: bool | None
    error: str | None
    stages: tuple[Stage, ...]
    endpoints: dict[str, EndpointFigures]
    requests: dict[str, tuple[RequestWindow, ...]]
    memory: dict[str, tuple[MemorySample, ...]]
    cache_hit_rate: dict[str, tuple[Point, ...]]
    db_connections: tuple[Point, ...]
    users_over_time: tuple[Point, ...]
    containers: dict[str, ContainerFigures]
    cache: dict[str, CacheFigures]
    sql_per_request: dict[str, dict[str, SqlFigures]]
    sql_probe: dict[str, SqlFigures]
    trace_probe: dict[str, results.TraceFigures]
    trace_waterfalls: dict[str, results.TraceWaterfalls]
    max_connections_in_use: float | None
    connections_per_replica: float | None
    db_settings: dict[str, str]
    http_contract: tuple[HttpCheck, ...]
    load_generator: dict[str, str]
    load_generator_saturated: bool | None
    failures: tuple[tuple[str, str, int], ...]
    problems: tuple[str, ...]
    #: The fault injected during the phase (``make faults``), as the document has it.
    fault: dict[str, Any] | None = None

    def stage_at(self, t: float) -> str | None:
        """The name of the stage running at ``t`` (the last one at its very end)."""
        return stage_at(self.stages, t)


_Row = TypeVar("_Row", bound=results.Model)


def _grouped(rows: Iterable[_Row], key: str) -> dict[str, tuple[_Row, ...]]:
    by_key: dict[str, list[_Row]] = {}
    for row in rows:
        by_key.setdefault(str(getattr(row, key)), []).append(row)
    return {name: tuple(by_key[name]) for name in sorted(by_key)}


def _problems(phase: results.Phase) -> tuple[str, ...]:
    """What went wrong around the measurement: probe and scrape errors, a stuck Locust."""
    problems = [f"Postgres probe: {label(error)}" for error in phase.db.probe_errors]
    problems += [f"/metrics scrape: {label(error)}" for error in phase.metrics_scrape_errors]
    if phase.locust.timed_out:
        problems.append("Locust outlived its load shape and was stopped")
    return tuple(problems)


def _phase(phase: results.Phase) -> Phase:
    timeline = phase.timeline
    requests = _grouped(timeline.requests, "endpoint")
    saturated = phase.load_generator.get("saturated")
    return Phase(
        name=phase.name,
        profile=phase.profile,
        regressions=tuple(phase.regressions),
        scenario=phase.scenario,
        users=phase.users,
        warmup_s=phase.warmup_s,
        measure_s=phase.measure_s,
        started_at=phase.started_at,
        gated=phase.gated,
        error=phase.error,
        stages=tuple(phase.stages),
        endpoints={name: phase.endpoints[name] for name in sorted(phase.endpoints)},
        requests={name: tuple(sorted(rows, key=lambda r: r.t)) for name, rows in requests.items()},
        memory={name: tuple(timeline.memory[name]) for name in sorted(timeline.memory)},
        cache_hit_rate={
            name: tuple(Point(p.t, p.hit_rate) for p in points)
            for name, points in _grouped(timeline.cache_hit_rate, "cache").items()
        },
        db_connections=tuple(Point(p.t, p.count) for p in timeline.db_connections),
        users_over_time=tuple(Point(p.t, p.users) for p in timeline.users),
        containers={name: phase.containers[name] for name in sorted(phase.containers)},
        cache={name: phase.cache[name] for name in sorted(phase.cache)},
        sql_per_request={
            route: {
                o: phase.sql_per_request[route][o] for o in sorted(phase.sql_per_request[route])
            }
            for route in sorted(phase.sql_per_request)
        },
        sql_probe={name: phase.sql_probe[name] for name in sorted(phase.sql_probe)},
        trace_probe={name: phase.trace_probe[name] for name in sorted(phase.trace_probe)},
        trace_waterfalls={
            name: phase.trace_waterfalls[name] for name in sorted(phase.trace_waterfalls)
        },
        max_connections_in_use=phase.db.max_connections_in_use,
        connections_per_replica=phase.db.connections_per_replica,
        db_settings=_labels(phase.db.settings),
        http_contract=tuple(phase.http_contract),
        load_generator={
            name: label(value)
            for name, value in sorted(phase.load_generator.items())
            if not isinstance(value, list | dict)
        },
        load_generator_saturated=saturated if isinstance(saturated, bool) else None,
        failures=tuple(
            (label(f.endpoint), label(f.error), f.occurrences or 0) for f in phase.failures
        ),
        problems=_problems(phase),
        fault=dict(phase.fault) if phase.fault else None,
    )


@dataclass(frozen=True)
class MemrayFigures:
    """The service's heap under load (peak, top sites at the peak) and one request's allocation."""

    peak_heap_bytes: float | None
    per_request_bytes: float | None
    total_allocations: int | None
    top_allocations: tuple[Allocation, ...]
    per_request_top_allocations: tuple[Allocation, ...]
    request: str | None
    flamegraph: str | None
    oom_killed: bool | None
    load: dict[str, str]
    errors: tuple[str, ...]


@dataclass(frozen=True)
class OptimizedVsBaseline:
    scenario: str | None
    endpoint: str | None
    users: int | None
    optimized_p95_ms: float | None
    baseline_p95_ms: float | None
    ratio: float | None
    errors: dict[str, str]


@dataclass(frozen=True)
class Environment:
    commit: str | None
    dirty: bool | None
    branch: str | None
    machine: dict[str, str]
    images: dict[str, str]
    caps_bytes: dict[str, float | None]
    dataset: dict[str, str]
    reproduce: str | None


@dataclass(frozen=True)
class RunDocument:
    """A checked result document; ``source`` is the file it was read from."""

    source: Path
    schema_version: int
    run_id: str
    created_at: str | None
    document_passed: bool | None
    environment: Environment
    phases: tuple[Phase, ...]
    memray: MemrayFigures | None
    microbenchmarks: tuple[Microbenchmark, ...]
    microbenchmarks_error: str | None
    comparison: OptimizedVsBaseline | None
    verdicts: tuple[Verdict, ...]
    duration_s: float | None
    #: A run with ``--base REF``: base against head, round by round.
    versus_base: results.VersusBase | None = None
    #: Each injected fault's figures (a ``make faults`` run; empty otherwise).
    faults: tuple[dict[str, Any], ...] = ()
    #: The faults a ``make faults`` run with ``--only`` left out.
    faults_not_run: tuple[str, ...] = ()
    #: The gated phase beside the same load through PgBouncer (``None``: not run).
    pgbouncer: results.PgBouncerComparison | None = None
    failed: tuple[Verdict, ...] = field(init=False)
    #: Budgets neither passed nor failed: what they judge was left out of the run.
    not_run: tuple[Verdict, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "failed", tuple(v for v in self.verdicts if v.failed))
        object.__setattr__(self, "not_run", tuple(v for v in self.verdicts if v.not_run))

    @property
    def judged(self) -> int:
        """How many verdicts were judged (passed or failed)."""
        return len(self.verdicts) - len(self.not_run)

    @property
    def passed(self) -> bool:
        """True only when the gate said so, verdicts were judged and every one of them
        holds (and, against a base revision, every relative limit too)."""
        versus_ok = self.versus_base is None or self.versus_base.passed is not False
        return (
            self.document_passed is not False and self.judged > 0 and not self.failed and versus_ok
        )

    def phase(self, name: str | None) -> Phase | None:
        return next((phase for phase in self.phases if phase.name == name), None)


def _memray(memray: results.Memray | None) -> MemrayFigures | None:
    if memray is None:
        return None
    return MemrayFigures(
        peak_heap_bytes=memray.peak_heap_bytes,
        per_request_bytes=memray.per_request_bytes,
        total_allocations=memray.total_allocations,
        top_allocations=tuple(memray.top_allocations),
        per_request_top_allocations=tuple(memray.per_request_top_allocations),
        request=memray.request,
        flamegraph=memray.flamegraph,
        oom_killed=memray.oom_killed,
        load=_labels(memray.load),
        errors=tuple(label(error) for error in memray.errors),
    )


def _comparison(comparison: results.Comparison | None) -> OptimizedVsBaseline | None:
    if comparison is None:
        return None
    return OptimizedVsBaseline(
        scenario=comparison.scenario,
        endpoint=comparison.endpoint,
        users=comparison.users,
        optimized_p95_ms=comparison.optimized_p95_ms,
        baseline_p95_ms=comparison.baseline_p95_ms,
        ratio=comparison.ratio,
        errors=_labels(comparison.errors),
    )


def _environment(environment: results.Environment) -> Environment:
    return Environment(
        commit=environment.commit,
        dirty=environment.dirty,
        branch=environment.branch,
        machine=_labels(environment.machine),
        images=_labels(environment.images),
        caps_bytes={name: environment.caps_bytes[name] for name in sorted(environment.caps_bytes)},
        dataset=_labels(environment.dataset),
        reproduce=environment.reproduce,
    )


def run_document(document: results.RunDocument, source: Path) -> RunDocument:
    """The report's view of a checked gate (or OOM) document."""
    return RunDocument(
        source=source,
        schema_version=document.schema_version,
        run_id=document.run_id,
        created_at=document.created_at,
        document_passed=document.passed,
        environment=_environment(document.environment),
        phases=tuple(_phase(phase) for phase in document.phases),
        memray=_memray(document.memray),
        microbenchmarks=tuple(document.microbenchmarks),
        microbenchmarks_error=document.microbenchmarks_error,
        comparison=_comparison(document.comparison),
        verdicts=tuple(document.verdicts),
        duration_s=document.duration_s,
        versus_base=document.versus_base,
        faults=tuple(dict(entry) for entry in document.faults or ()),
        faults_not_run=tuple(document.faults_not_run),
        pgbouncer=document.pgbouncer,
    )


def load_document(path: Path) -> RunDocument:
    """Read and check ``path`` (a ``result.json`` or a run folder holding one)."""
    try:
        document = results.load_run(path, reader="this report")
    except results.ResultError as error:
        raise DocumentError(str(error)) from None
    return run_document(document, result_path(path))
