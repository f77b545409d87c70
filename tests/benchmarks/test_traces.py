"""Span files to per-request work: parsing OTLP JSON lines, the probe figures, the stack's env."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.measure.traces import (
    TraceFileError,
    probe_figures,
    read_spans,
    request_work,
    waterfalls,
)
from containers.replicas import TRACES_DIR
from containers.stack import Stack


def _attributes(**values: Any) -> list[dict[str, Any]]:
    def wrap(value: Any) -> dict[str, Any]:
        return {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value}

    return [{"key": key.replace("_", "."), "value": wrap(value)} for key, value in values.items()]


def _span(trace: str, span: str, parent: str, kind: int, **attributes: Any) -> dict[str, Any]:
    return {
        "traceId": trace,
        "spanId": span,
        "parentSpanId": parent,
        "name": "x",
        "kind": kind,
        "startTimeUnixNano": "1000000000",
        "endTimeUnixNano": "1250000000",
        "attributes": _attributes(**attributes),
    }


def _line(*spans: dict[str, Any]) -> str:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]}) + "\n"


def test_database_and_redis_spans_are_counted_under_their_server_span(tmp_path: Path) -> None:
    file = tmp_path / "traces-a-1.jsonl"
    server = _span("t1", "s1", "", 2, http_route="/api/orders")
    server["attributes"] += [
        {"key": "http.request.method", "value": {"stringValue": "GET"}},
        {"key": "http.response.status_code", "value": {"intValue": "200"}},
    ]
    file.write_text(
        # Spans of one request may arrive in several export batches, children first.
        _line(_span("t1", "d1", "s1", 3, db_system="postgresql", db_statement="SELECT 1"))
        + "\n"
        + _line(
            server,
            _span("t1", "d2", "s1", 3, db_system_name="postgresql", db_query_text="SELECT 2"),
            _span("t1", "c1", "s1", 3, db_system="postgresql"),  # a connection: not a call
            _span("t1", "r1", "s1", 3, db_system="redis", db_statement="MGET ? ?"),
            _span("t2", "s2", "", 2, http_route="/health"),
        )
    )
    work = {item.trace_id: item for item in request_work(read_spans([file]))}
    orders = work["t1"]
    assert (orders.method, orders.route, orders.status) == ("GET", "/api/orders", 200)
    assert (orders.db_spans, orders.redis_spans) == (2, 1)
    assert orders.duration_s == pytest.approx(0.25)
    assert (work["t2"].db_spans, work["t2"].redis_spans) == (0, 0)


def test_a_line_that_is_not_otlp_json_is_named(tmp_path: Path) -> None:
    file = tmp_path / "traces-a-1.jsonl"
    file.write_text(_line(_span("t", "s", "", 2)) + "not json\n")
    partial = tmp_path / "traces-b-1.jsonl"
    partial.write_text(_line(_span("t", "s", "", 2)) + '{"resourceSpans": [{"scopeSp')
    assert len(read_spans([partial])) == 1  # the last line is still being written
    with pytest.raises(TraceFileError, match=r"traces-a-1.jsonl:2: not an OTLP JSON span record"):
        read_spans([file])


def test_probe_figures_count_what_the_spans_hold_and_what_is_missing(tmp_path: Path) -> None:
    file = tmp_path / "t.jsonl"
    file.write_text(
        _line(
            _span("a", "s", "", 2),
            _span("a", "d1", "s", 3, db_system="postgresql", db_statement="SELECT 1"),
            _span("a", "d2", "s", 3, db_system="postgresql", db_statement="SELECT 2"),
            _span("b", "s2", "", 2),
        )
    )
    traced = {"a": "GET /api/orders", "b": "GET /api/orders", "c": "GET /api/orders", "d": "x"}
    figures = probe_figures(request_work(read_spans([file])), traced)
    assert figures["GET /api/orders"] == {
        "count": 2,
        "missing": 1,
        "db_spans_max": 2,
        "db_spans_mean": 1.0,
        "redis_spans_max": 0,
    }
    assert figures["x"]["missing"] == 1
    assert figures["x"]["db_spans_max"] is None


def test_a_traced_stack_samples_only_requests_that_ask_and_restarts_add_settings() -> None:
    plain = Stack(replicas=1).service_environment()
    assert not any(key.startswith(("OTEL_", "TASTEMATCH_TRACES")) for key in plain)
    stack = Stack(replicas=1, tracing=True, service_env={"OTEL_BSP_SCHEDULE_DELAY": "100"})
    traced = stack.service_environment()
    assert traced["TASTEMATCH_TRACES_DIR"] == TRACES_DIR
    assert traced["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert traced["OTEL_TRACES_SAMPLER_ARG"] == "0.02"
    assert traced["OTEL_BSP_SCHEDULE_DELAY"] == "100"  # the stack's service_env wins
    stack.restart_env = {"OTEL_TRACES_SAMPLER": "always_on"}  # restart_services(service_env=)
    assert stack.service_environment()["OTEL_TRACES_SAMPLER"] == "always_on"


def test_waterfalls_pick_the_median_and_the_slowest_request_and_leave_out_probes(
    tmp_path: Path,
) -> None:
    def request(trace: str, duration_ms: int, statements: int) -> list[dict[str, Any]]:
        server = _span(trace, f"{trace}s", "", 2, http_route="/api/orders")
        server["attributes"].append({"key": "http.method", "value": {"stringValue": "GET"}})
        server["endTimeUnixNano"] = str(1_000_000_000 + duration_ms * 1_000_000)
        return [server] + [
            _span(trace, f"{trace}d{i}", f"{trace}s", 3, db_system="postgresql", db_statement="S")
            for i in range(statements)
        ]

    file = tmp_path / "t.jsonl"
    file.write_text(
        _line(
            *request("fast", 2, 1),
            *request("mid", 5, 2),
            *request("slow", 40, 9),
            *request("probe", 900, 1),
        )
    )
    found = waterfalls(read_spans([file]), exclude={"probe"})
    orders = found["GET /api/orders"]
    assert orders["traced"] == 3
    assert orders["typical"]["trace_id"] == "mid"
    assert orders["slowest"]["trace_id"] == "slow"
    assert orders["slowest"]["duration_ms"] == 40.0
    assert orders["slowest"]["span_count"] == 10
    kinds = [(span["kind"], span["depth"]) for span in orders["slowest"]["spans"]]
    assert kinds == [("server", 0)] + [("db", 1)] * 9
