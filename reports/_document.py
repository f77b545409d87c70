"""Reading a gate run's result document (``result.json``) into typed, checked records.

The report renders from this document alone. Every field it reads is checked
here, so a bad document fails with one message naming the file and the field
(``DocumentError``) instead of a traceback half-way through rendering.

Fields that decide the verdict (``schema_version``, ``run_id``, ``verdicts`` and
each verdict's ``budget``, ``measured``, ``limit``, ``unit``, ``comparison``,
``passed``) are required; sections that are only displayed (timelines, memray,
micro-benchmarks, ...) may be missing or ``null`` and then show as "not recorded".

Format history (``schema_version``) as read here:

1. First version: ``environment``, ``phases`` (per load run: ``stages``, exact
   per-endpoint figures of the measured window with ``p95_ms_windows`` /
   ``p99_ms_windows``, ``timeline``, ``containers``, ``cache``,
   ``sql_per_request``, ``sql_probe``, ``db``, ``http_contract``,
   ``load_generator``, ``failures``, ``gated``, ``error``, ``locust``,
   ``metrics_scrape_errors``), ``memray`` (with ``errors``), ``microbenchmarks``
   (and ``microbenchmarks_error``), ``comparison`` (with ``endpoint``, ``errors``),
   ``verdicts``, ``passed``, ``duration_s``. A verdict's ``spread`` is relative:
   (max - min) / median of its sub-window figures. Stages carry ``measured``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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
    "load_document",
    "result_path",
]

SUPPORTED_SCHEMA_VERSIONS = (1,)


class ReportError(Exception):
    """The one root error of the report: its message is meant for people."""


class DocumentError(ReportError):
    """A result document that cannot be read; the message names the file and the field."""


@dataclass(frozen=True)
class Verdict:
    """One budget judged on one phase (``phase`` is ``None`` for a run-wide budget)."""

    budget: str
    description: str
    phase: str | None
    measured: float | None
    limit: float | None
    unit: str
    comparison: str
    passed: bool
    explanation: str
    unstable: bool
    spread: float | None

    @property
    def lower_is_better(self) -> bool:
        return self.comparison != ">="


@dataclass(frozen=True)
class Stage:
    """A load stage; ``measured`` is False for warm-up (``None``: not recorded)."""

    name: str
    start_t: float
    end_t: float
    users: int | None
    measured: bool | None

    @property
    def is_warmup(self) -> bool:
        if self.measured is not None:
            return not self.measured
        return "warm" in self.name.lower()


@dataclass(frozen=True)
class EndpointFigures:
    """Exact figures of one endpoint over the measured window."""

    count: int | None
    failures: int | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    rps: float | None


@dataclass(frozen=True)
class RequestWindow:
    """One endpoint's figures in one timeline bucket starting at ``t``."""

    t: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    rps: float | None
    failures: int | None


@dataclass(frozen=True)
class MemorySample:
    t: float
    usage_bytes: float | None
    working_set_bytes: float | None
    rss_bytes: float | None


@dataclass(frozen=True)
class Point:
    t: float
    value: float | None


@dataclass(frozen=True)
class ContainerFigures:
    name: str
    role: str
    cap_bytes: float | None
    peak_working_set_bytes: float | None
    peak_usage_bytes: float | None
    cgroup_peak_bytes: float | None
    oom_killed: bool
    oom_kill_t: float | None
    exit_code: int | None


@dataclass(frozen=True)
class CacheFigures:
    hits: float | None
    misses: float | None
    errors: float | None
    hit_rate: float | None


@dataclass(frozen=True)
class SqlFigures:
    """Statements per request of one route and cache outcome."""

    count: float | None
    mean: float | None
    max: float | None


@dataclass(frozen=True)
class HttpCheck:
    check: str
    expected: str
    actual: str
    passed: bool


@dataclass(frozen=True)
class Phase:
    """One load run of the stack; every ``t`` is seconds from ``started_at``."""

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
    max_connections_in_use: float | None
    connections_per_replica: float | None
    db_settings: dict[str, str]
    http_contract: tuple[HttpCheck, ...]
    load_generator: dict[str, str]
    load_generator_saturated: bool | None
    failures: tuple[tuple[str, str, int], ...]
    problems: tuple[str, ...]

    def stage_at(self, t: float) -> str | None:
        """The name of the stage running at ``t`` (the last one at its very end)."""
        for stage in self.stages:
            if stage.start_t <= t < stage.end_t:
                return stage.name
        if self.stages and math.isclose(t, self.stages[-1].end_t):
            return self.stages[-1].name
        return None


@dataclass(frozen=True)
class Allocation:
    location: str
    bytes: float | None
    count: int | None


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
class Microbenchmark:
    name: str
    group: str
    description: str
    mean_s: float | None
    median_s: float | None
    stddev_s: float | None
    min_s: float | None
    max_s: float | None
    rounds: int | None

    @property
    def spread(self) -> float | None:
        """Standard deviation over mean: pyperf warns at 10 % and more."""
        if self.stddev_s is None or not self.mean_s:
            return None
        return self.stddev_s / self.mean_s


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
    failed: tuple[Verdict, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "failed", tuple(v for v in self.verdicts if not v.passed))

    @property
    def passed(self) -> bool:
        """True only when the gate said so, verdicts exist and every one of them holds."""
        return self.document_passed is not False and bool(self.verdicts) and not self.failed

    def phase(self, name: str | None) -> Phase | None:
        return next((phase for phase in self.phases if phase.name == name), None)


def result_path(path: Path) -> Path:
    """``path`` itself, or the ``result.json`` inside it when it is a run folder."""
    return path / "result.json" if path.is_dir() else path


class _Field:
    """A value at a dotted location of the document, with typed accessors that name it."""

    def __init__(self, value: object, where: str, source: Path, *, present: bool = True) -> None:
        self.value = value
        self.where = where
        self.source = source
        self.present = present

    def error(self, problem: str) -> DocumentError:
        return DocumentError(f"{self.source}: field '{self.where}' {problem}")

    def _wrong(self, expected: str) -> DocumentError:
        if not self.present:
            return self.error("is missing")
        shown = json.dumps(self.value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return self.error(f"must be {expected}, got {shown}")

    def get(self, key: str) -> _Field:
        """The member ``key`` of this object (an absent member reads as missing)."""
        where = f"{self.where}.{key}" if self.where else key
        if self.value is None:
            return _Field(None, where, self.source, present=False)
        if not isinstance(self.value, Mapping):
            raise self._wrong("an object")
        return _Field(self.value.get(key), where, self.source, present=key in self.value)

    @property
    def is_null(self) -> bool:
        return self.value is None

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise self._wrong("a string")
        return self.value

    def opt_text(self) -> str | None:
        return None if self.value is None else self.text()

    def label(self) -> str:
        """Any scalar shown as text (settings, machine facts); ``null`` as an empty string."""
        if self.value is None:
            return ""
        if isinstance(self.value, bool):
            return "yes" if self.value else "no"
        if isinstance(self.value, str | int | float):
            return str(self.value)
        raise self._wrong("a string or a number")

    def number(self) -> float:
        value = self.value
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self._wrong("a number")
        return float(value)

    def opt_number(self) -> float | None:
        return None if self.value is None else self.number()

    def opt_integer(self) -> int | None:
        if self.value is None:
            return None
        number = self.number()
        if not number.is_integer():
            raise self._wrong("a whole number")
        return int(number)

    def flag(self) -> bool:
        if not isinstance(self.value, bool):
            raise self._wrong("true or false")
        return self.value

    def opt_flag(self) -> bool | None:
        return None if self.value is None else self.flag()

    def items(self) -> list[_Field]:
        """The elements of a list (``null`` or missing reads as empty)."""
        if self.value is None:
            return []
        if not isinstance(self.value, list):
            raise self._wrong("a list")
        return [
            _Field(item, f"{self.where}[{i}]", self.source) for i, item in enumerate(self.value)
        ]

    def members(self) -> list[tuple[str, _Field]]:
        """The members of an object in key order (``null`` or missing reads as empty)."""
        if self.value is None:
            return []
        if not isinstance(self.value, Mapping):
            raise self._wrong("an object")
        return [(str(key), self.get(str(key))) for key in sorted(self.value)]

    def require(self) -> _Field:
        if not self.present:
            raise self.error("is missing")
        return self


def _verdict(node: _Field) -> Verdict:
    comparison = node.get("comparison").require().text()
    if comparison not in ("<=", ">="):
        raise node.get("comparison").error(f"must be '<=' or '>=', got {comparison!r}")
    return Verdict(
        budget=node.get("budget").require().text(),
        description=node.get("description").opt_text() or "",
        phase=node.get("phase").opt_text(),
        measured=node.get("measured").require().opt_number(),
        limit=node.get("limit").require().opt_number(),
        unit=node.get("unit").require().text(),
        comparison=comparison,
        passed=node.get("passed").require().flag(),
        explanation=node.get("explanation").opt_text() or "",
        unstable=node.get("unstable").opt_flag() or False,
        spread=node.get("spread").opt_number(),
    )


def _stage(node: _Field) -> Stage:
    return Stage(
        name=node.get("name").text(),
        start_t=node.get("start_t").number(),
        end_t=node.get("end_t").number(),
        users=node.get("users").opt_integer(),
        measured=node.get("measured").opt_flag(),
    )


def _endpoint(node: _Field) -> EndpointFigures:
    return EndpointFigures(
        count=node.get("count").opt_integer(),
        failures=node.get("failures").opt_integer(),
        p50_ms=node.get("p50_ms").opt_number(),
        p95_ms=node.get("p95_ms").opt_number(),
        p99_ms=node.get("p99_ms").opt_number(),
        max_ms=node.get("max_ms").opt_number(),
        rps=node.get("rps").opt_number(),
    )


def _requests(node: _Field) -> dict[str, tuple[RequestWindow, ...]]:
    by_endpoint: dict[str, list[RequestWindow]] = {}
    for row in node.items():
        by_endpoint.setdefault(row.get("endpoint").text(), []).append(
            RequestWindow(
                t=row.get("t").number(),
                p50_ms=row.get("p50_ms").opt_number(),
                p95_ms=row.get("p95_ms").opt_number(),
                p99_ms=row.get("p99_ms").opt_number(),
                rps=row.get("rps").opt_number(),
                failures=row.get("failures").opt_integer(),
            )
        )
    return {
        name: tuple(sorted(rows, key=lambda r: r.t)) for name, rows in sorted(by_endpoint.items())
    }


def _memory(node: _Field) -> dict[str, tuple[MemorySample, ...]]:
    return {
        name: tuple(
            MemorySample(
                t=sample.get("t").number(),
                usage_bytes=sample.get("usage_bytes").opt_number(),
                working_set_bytes=sample.get("working_set_bytes").opt_number(),
                rss_bytes=sample.get("rss_bytes").opt_number(),
            )
            for sample in samples.items()
        )
        for name, samples in node.members()
    }


def _points(node: _Field, value_key: str) -> tuple[Point, ...]:
    return tuple(
        Point(t=row.get("t").number(), value=row.get(value_key).opt_number())
        for row in node.items()
    )


def _series(node: _Field, series_key: str, value_key: str) -> dict[str, tuple[Point, ...]]:
    by_series: dict[str, list[Point]] = {}
    for row in node.items():
        by_series.setdefault(row.get(series_key).text(), []).append(
            Point(t=row.get("t").number(), value=row.get(value_key).opt_number())
        )
    return {name: tuple(points) for name, points in sorted(by_series.items())}


def _container(name: str, node: _Field) -> ContainerFigures:
    return ContainerFigures(
        name=name,
        role=node.get("role").opt_text() or name.split("-")[0],
        cap_bytes=node.get("cap_bytes").opt_number(),
        peak_working_set_bytes=node.get("peak_working_set_bytes").opt_number(),
        peak_usage_bytes=node.get("peak_usage_bytes").opt_number(),
        cgroup_peak_bytes=node.get("cgroup_peak_bytes").opt_number(),
        oom_killed=node.get("oom_killed").opt_flag() or False,
        oom_kill_t=node.get("oom_kill_t").opt_number(),
        exit_code=node.get("exit_code").opt_integer(),
    )


def _sql(node: _Field) -> SqlFigures:
    return SqlFigures(
        count=node.get("count").opt_number(),
        mean=node.get("mean").opt_number(),
        max=node.get("max").opt_number(),
    )


def _phase(node: _Field) -> Phase:
    timeline = node.get("timeline")
    db = node.get("db")
    generator = node.get("load_generator")
    return Phase(
        name=node.get("name").require().text(),
        profile=node.get("profile").opt_text(),
        regressions=tuple(item.text() for item in node.get("regressions").items()),
        scenario=node.get("scenario").opt_text(),
        users=node.get("users").opt_integer(),
        warmup_s=node.get("warmup_s").opt_number(),
        measure_s=node.get("measure_s").opt_number(),
        started_at=node.get("started_at").opt_number(),
        gated=node.get("gated").opt_flag(),
        error=node.get("error").opt_text(),
        stages=tuple(_stage(item) for item in node.get("stages").items()),
        endpoints={name: _endpoint(item) for name, item in node.get("endpoints").members()},
        requests=_requests(timeline.get("requests")),
        memory=_memory(timeline.get("memory")),
        cache_hit_rate=_series(timeline.get("cache_hit_rate"), "cache", "hit_rate"),
        db_connections=_points(timeline.get("db_connections"), "count"),
        users_over_time=_points(timeline.get("users"), "users"),
        containers={
            name: _container(name, item) for name, item in node.get("containers").members()
        },
        cache={
            name: CacheFigures(
                hits=item.get("hits").opt_number(),
                misses=item.get("misses").opt_number(),
                errors=item.get("errors").opt_number(),
                hit_rate=item.get("hit_rate").opt_number(),
            )
            for name, item in node.get("cache").members()
        },
        sql_per_request={
            route: {outcome: _sql(figures) for outcome, figures in outcomes.members()}
            for route, outcomes in node.get("sql_per_request").members()
        },
        sql_probe={name: _sql(item) for name, item in node.get("sql_probe").members()},
        max_connections_in_use=db.get("max_connections_in_use").opt_number(),
        connections_per_replica=db.get("connections_per_replica").opt_number(),
        db_settings={name: item.label() for name, item in db.get("settings").members()},
        http_contract=tuple(
            HttpCheck(
                check=item.get("check").text(),
                expected=item.get("expected").label(),
                actual=item.get("actual").label(),
                passed=item.get("passed").flag(),
            )
            for item in node.get("http_contract").items()
        ),
        load_generator={
            name: item.label()
            for name, item in generator.members()
            if not isinstance(item.value, list | dict)
        },
        load_generator_saturated=generator.get("saturated").opt_flag(),
        failures=tuple(
            (
                item.get("endpoint").label(),
                item.get("error").label(),
                item.get("occurrences").opt_integer() or 0,
            )
            for item in node.get("failures").items()
        ),
        problems=_phase_problems(node),
    )


def _phase_problems(node: _Field) -> tuple[str, ...]:
    """What went wrong around the measurement: probe and scrape errors, a stuck Locust."""
    problems = [
        f"Postgres probe: {item.label()}" for item in node.get("db").get("probe_errors").items()
    ]
    problems += [
        f"/metrics scrape: {item.label()}" for item in node.get("metrics_scrape_errors").items()
    ]
    locust = node.get("locust")
    if locust.get("timed_out").opt_flag():
        problems.append("Locust outlived its load shape and was stopped")
    return tuple(problems)


def _allocations(node: _Field) -> tuple[Allocation, ...]:
    return tuple(
        Allocation(
            location=item.get("location").text(),
            bytes=item.get("bytes").opt_number(),
            count=item.get("count").opt_integer(),
        )
        for item in node.items()
    )


def _memray(node: _Field) -> MemrayFigures | None:
    if node.is_null:
        return None
    return MemrayFigures(
        peak_heap_bytes=node.get("peak_heap_bytes").opt_number(),
        per_request_bytes=node.get("per_request_bytes").opt_number(),
        total_allocations=node.get("total_allocations").opt_integer(),
        top_allocations=_allocations(node.get("top_allocations")),
        per_request_top_allocations=_allocations(node.get("per_request_top_allocations")),
        request=node.get("request").opt_text(),
        flamegraph=node.get("flamegraph").opt_text(),
        oom_killed=node.get("oom_killed").opt_flag(),
        load={name: item.label() for name, item in node.get("load").members()},
        errors=tuple(item.label() for item in node.get("errors").items()),
    )


def _microbenchmark(node: _Field) -> Microbenchmark:
    return Microbenchmark(
        name=node.get("name").text(),
        group=node.get("group").opt_text() or "",
        description=node.get("description").opt_text() or "",
        mean_s=node.get("mean_s").opt_number(),
        median_s=node.get("median_s").opt_number(),
        stddev_s=node.get("stddev_s").opt_number(),
        min_s=node.get("min_s").opt_number(),
        max_s=node.get("max_s").opt_number(),
        rounds=node.get("rounds").opt_integer(),
    )


def _comparison(node: _Field) -> OptimizedVsBaseline | None:
    if node.is_null:
        return None
    return OptimizedVsBaseline(
        scenario=node.get("scenario").opt_text(),
        endpoint=node.get("endpoint").opt_text(),
        users=node.get("users").opt_integer(),
        optimized_p95_ms=node.get("optimized_p95_ms").opt_number(),
        baseline_p95_ms=node.get("baseline_p95_ms").opt_number(),
        ratio=node.get("ratio").opt_number(),
        errors={name: item.label() for name, item in node.get("errors").members()},
    )


def _environment(node: _Field) -> Environment:
    return Environment(
        commit=node.get("commit").opt_text(),
        dirty=node.get("dirty").opt_flag(),
        branch=node.get("branch").opt_text(),
        machine={name: item.label() for name, item in node.get("machine").members()},
        images={name: item.label() for name, item in node.get("images").members()},
        caps_bytes={name: item.opt_number() for name, item in node.get("caps_bytes").members()},
        dataset={name: item.label() for name, item in node.get("dataset").members()},
        reproduce=node.get("reproduce").opt_text(),
    )


def parse_document(data: object, source: Path) -> RunDocument:
    """Check a decoded result document; :class:`DocumentError` names the first bad field."""
    root = _Field(data, "", source)
    if not isinstance(data, Mapping):
        raise DocumentError(
            f"{source}: expected a JSON object at the top, got {type(data).__name__}"
        )
    version_field = root.get("schema_version").require()
    version = version_field.value
    if isinstance(version, bool) or version not in SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        raise version_field.error(
            f"is {json.dumps(version)}: this report reads schema_version {supported} only"
        )
    return RunDocument(
        source=source,
        schema_version=int(version_field.number()),
        run_id=root.get("run_id").require().text(),
        created_at=root.get("created_at").opt_text(),
        document_passed=root.get("passed").opt_flag(),
        environment=_environment(root.get("environment").require()),
        phases=tuple(_phase(item) for item in root.get("phases").require().items()),
        memray=_memray(root.get("memray")),
        microbenchmarks=tuple(_microbenchmark(i) for i in root.get("microbenchmarks").items()),
        microbenchmarks_error=root.get("microbenchmarks_error").opt_text(),
        comparison=_comparison(root.get("comparison")),
        verdicts=tuple(_verdict(item) for item in root.get("verdicts").require().items()),
        duration_s=root.get("duration_s").opt_number(),
    )


def load_document(path: Path) -> RunDocument:
    """Read and check ``path`` (a ``result.json`` or a run folder holding one)."""
    file = result_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "" if path.exists() else "; `make bench` writes one under reports/out/"
        raise DocumentError(
            f"{file}: no such file (expected a run folder or a result.json{hint})"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise DocumentError(f"{file}: cannot read ({error})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise DocumentError(f"{file}: not valid JSON ({error})") from None
    return parse_document(data, file)
