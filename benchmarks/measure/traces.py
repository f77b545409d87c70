"""Read the service's OTLP JSON span files and count the work under each request.

A span file holds one OTLP ``ExportTraceServiceRequest`` in JSON a line (the OpenTelemetry
file exporter's format, what ``TASTEMATCH_TRACES_DIR`` makes the service write). For each
server span (one request) this counts the database and Redis spans beneath it in its trace:
an N+1 shows as one database span per item.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.errors import InputError

if TYPE_CHECKING:
    from containers.stack import Stack

__all__ = [
    "RequestWork",
    "Span",
    "TraceFileError",
    "collect_traces",
    "probe_figures",
    "read_spans",
    "request_work",
    "waterfalls",
]

#: OTLP's ``SPAN_KIND_SERVER``.
_SERVER = 2


class TraceFileError(InputError):
    """A span file is not OTLP JSON lines; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Span:
    """The fields of one span this module needs."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """Wall time of the span in seconds."""
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def system(self) -> str | None:
        """``postgresql``, ``redis`` ... for a client span of a data store, else None."""
        value = self.attributes.get("db.system.name", self.attributes.get("db.system"))
        return str(value) if value is not None else None

    @property
    def is_call(self) -> bool:
        """A statement or command sent to a data store (not a connection being opened:
        SQLAlchemy's instrumentation also spans ``Engine.connect``)."""
        return self.system is not None and (
            "db.statement" in self.attributes or "db.query.text" in self.attributes
        )


@dataclass(frozen=True, slots=True)
class RequestWork:
    """One request: its route and how many database and Redis calls it made."""

    trace_id: str
    method: str
    route: str
    status: int | None
    duration_s: float
    db_spans: int
    redis_spans: int


def _value(wrapped: dict[str, Any]) -> Any:
    """The Python value of an OTLP ``AnyValue`` (``{"stringValue": "x"}`` and the like)."""
    for key, value in wrapped.items():
        if key == "intValue":
            return int(value)
        if key == "arrayValue":
            return [_value(item) for item in value.get("values", [])]
        return value
    return None


def _kind(raw: Any) -> int:
    if isinstance(raw, int):
        return raw
    names = {"SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3}
    return names.get(str(raw), 0)


def _spans_of_line(record: dict[str, Any]) -> Iterator[Span]:
    for resource in record.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for raw in scope.get("spans", []):
                yield Span(
                    trace_id=str(raw["traceId"]),
                    span_id=str(raw["spanId"]),
                    parent_id=str(raw.get("parentSpanId") or ""),
                    name=str(raw.get("name", "")),
                    kind=_kind(raw.get("kind", 0)),
                    start_ns=int(raw.get("startTimeUnixNano", 0)),
                    end_ns=int(raw.get("endTimeUnixNano", 0)),
                    attributes={
                        item["key"]: _value(item.get("value", {}))
                        for item in raw.get("attributes", [])
                    },
                )


def read_spans(paths: Iterable[Path]) -> list[Span]:
    """Every span in the OTLP JSON lines files ``paths``.

    A last line without its newline is being written (the file was copied from a running
    service): it is left out.
    """
    spans: list[Span] = []
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip() or not line.endswith("\n"):
                    continue
                try:
                    spans.extend(_spans_of_line(json.loads(line)))
                except (ValueError, KeyError, TypeError, AttributeError) as error:
                    raise TraceFileError(
                        f"{path}:{number}: not an OTLP JSON span record: {error}"
                    ) from None
    return spans


def request_work(spans: Iterable[Span]) -> list[RequestWork]:
    """One entry per server span, with the database and Redis spans beneath it."""
    children: dict[str, list[Span]] = {}
    servers: list[Span] = []
    for span in spans:
        children.setdefault(span.parent_id, []).append(span)
        if span.kind == _SERVER:
            servers.append(span)
    work: list[RequestWork] = []
    for server in servers:
        counts = {"db": 0, "redis": 0}
        stack = list(children.get(server.span_id, []))
        while stack:
            span = stack.pop()
            stack.extend(children.get(span.span_id, []))
            if span.trace_id != server.trace_id:
                continue
            if not span.is_call:
                continue
            counts["redis" if span.system == "redis" else "db"] += 1
        attributes = server.attributes
        status = attributes.get("http.response.status_code", attributes.get("http.status_code"))
        work.append(
            RequestWork(
                trace_id=server.trace_id,
                method=str(
                    server.attributes.get(
                        "http.request.method", server.attributes.get("http.method")
                    )
                ),
                route=str(server.attributes.get("http.route", server.name)),
                status=int(status) if status is not None else None,
                duration_s=server.duration_s,
                db_spans=counts["db"],
                redis_spans=counts["redis"],
            )
        )
    return work


def probe_figures(
    work: Iterable[RequestWork], traced: Mapping[str, str]
) -> dict[str, dict[str, float | None]]:
    """Per probe name: requests found in the spans, those missing, database and Redis spans.

    ``traced`` maps each probe request's trace id to the probe's name
    (``benchmarks.measure.work.sql_probe(traced=...)``).
    """
    by_trace = {item.trace_id: item for item in work}
    figures: dict[str, dict[str, float | None]] = {}
    for name in dict.fromkeys(traced.values()):
        ids = [trace_id for trace_id, probe in traced.items() if probe == name]
        found = [by_trace[trace_id] for trace_id in ids if trace_id in by_trace]
        db = [item.db_spans for item in found]
        redis = [item.redis_spans for item in found]
        figures[name] = {
            "count": len(found),
            "missing": len(ids) - len(found),
            "db_spans_max": max(db) if db else None,
            "db_spans_mean": round(sum(db) / len(db), 3) if db else None,
            "redis_spans_max": max(redis) if redis else None,
        }
    return figures


#: Spans kept per waterfall (an N+1 of the old code makes thousands).
MAX_WATERFALL_SPANS = 150


def _span_kind(span: Span) -> str:
    if span.kind == _SERVER:
        return "server"
    if not span.is_call:
        return "internal"
    return "redis" if span.system == "redis" else "db"


def _waterfall(server: Span, spans: list[Span]) -> dict[str, Any]:
    """One request's spans on its own clock (ms from its server span's start)."""
    depth = {server.span_id: 0}
    ordered = sorted(spans, key=lambda span: span.start_ns)
    rows: list[dict[str, Any]] = []
    for span in ordered:
        if span.span_id != server.span_id and span.parent_id not in depth:
            continue  # not beneath this request's server span
        depth.setdefault(span.span_id, depth.get(span.parent_id, -1) + 1)
        rows.append(
            {
                "name": span.name,
                "kind": _span_kind(span),
                "depth": depth[span.span_id],
                "start_ms": round((span.start_ns - server.start_ns) / 1e6, 3),
                "duration_ms": round(span.duration_s * 1000, 3),
            }
        )
    return {
        "trace_id": server.trace_id,
        "duration_ms": round(server.duration_s * 1000, 3),
        "span_count": len(rows),
        "spans": rows[:MAX_WATERFALL_SPANS],
    }


def waterfalls(spans: Iterable[Span], exclude: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Per endpoint (``METHOD route``): the typical (median duration) and the slowest traced
    request, as waterfalls; traces in ``exclude`` (the probes') are left out."""
    skipped = set(exclude)
    by_trace: dict[str, list[Span]] = {}
    servers: dict[str, list[Span]] = {}
    for span in spans:
        if span.trace_id in skipped:
            continue
        by_trace.setdefault(span.trace_id, []).append(span)
        if span.kind == _SERVER:
            attributes = span.attributes
            method = attributes.get("http.request.method", attributes.get("http.method"))
            route = attributes.get("http.route", span.name)
            servers.setdefault(f"{method} {route}", []).append(span)
    result: dict[str, dict[str, Any]] = {}
    for endpoint, found in sorted(servers.items()):
        found.sort(key=lambda span: span.duration_s)
        typical, slowest = found[(len(found) - 1) // 2], found[-1]
        result[endpoint] = {
            "traced": len(found),
            "typical": _waterfall(typical, by_trace[typical.trace_id]),
            "slowest": _waterfall(slowest, by_trace[slowest.trace_id]),
        }
    return result


def collect_traces(
    stack: Stack, traced: Mapping[str, str], dest: Path, wait_s: float = 3.0
) -> dict[str, Any]:
    """Copy the replicas' span files into ``dest``; the probe requests' span counts
    (``probe``) and the load's waterfalls per endpoint (``waterfalls``).

    Spans reach the files a moment after their request (the batch processor's delay):
    copy again until every traced probe request is there or ``wait_s`` passed.
    """
    deadline = time.monotonic() + wait_s
    while True:
        if dest.exists():
            shutil.rmtree(dest)
        spans = read_spans(stack.collect_traces(dest))
        figures = probe_figures(request_work(spans), traced)
        missing = sum(int(entry["missing"] or 0) for entry in figures.values())
        if not missing or time.monotonic() > deadline:
            return {"probe": figures, "waterfalls": waterfalls(spans, exclude=traced)}
        time.sleep(0.3)
