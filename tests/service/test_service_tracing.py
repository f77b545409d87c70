"""OpenTelemetry tracing: off by default, OTLP JSON files per process, N+1 visible in spans."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from benchmarks.measure.traces import RequestWork, read_spans, request_work
from service.seed import LOAD_TEST_PASSWORD, seed, user_email
from service.tracing import TracingConfigError, check_tracing, exporter_names

Login = Callable[[TestClient, str, str], dict[str, str]]
SQL_SUM = "tastematch_sql_statements_per_request_sum"
ORDERS = "/api/orders"


def test_tracing_is_off_unless_asked_for(tmp_path: Path) -> None:
    assert check_tracing(None, {}) is False
    assert check_tracing(None, {"OTEL_TRACES_EXPORTER": "none"}) is False
    assert check_tracing(tmp_path, {"OTEL_SDK_DISABLED": "true"}) is False
    assert check_tracing(tmp_path, {}) is True
    assert check_tracing(None, {"OTEL_TRACES_EXPORTER": "console"}) is True


def test_otlp_resolves_by_protocol() -> None:
    assert exporter_names({"OTEL_TRACES_EXPORTER": "otlp, console,otlp"}) == [
        "otlp_proto_http",
        "console",
    ]
    grpc = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    with pytest.raises(
        TracingConfigError, match=r"not installed \(OTLP over gRPC.*use http/protobuf"
    ):
        check_tracing(None, grpc)
    with pytest.raises(TracingConfigError, match="'smoke' is not an OTLP protocol"):
        exporter_names({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "smoke"})


def test_unknown_exporter_and_unwritable_folder_are_named(tmp_path: Path) -> None:
    with pytest.raises(
        TracingConfigError,
        match="names 'zipkin-ish', which is not installed; installed: otlp, console",
    ):
        check_tracing(None, {"OTEL_TRACES_EXPORTER": "zipkin-ish"})
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(TracingConfigError, match="TASTEMATCH_TRACES_DIR: cannot create"):
        check_tracing(blocker / "traces", {})


def test_service_refuses_to_start_with_one_line(jwt_secret: str) -> None:
    env = {
        **os.environ,
        "TASTEMATCH_JWT_SECRET": jwt_secret,
        "OTEL_TRACES_EXPORTER": "zipkin-ish",
    }
    done = subprocess.run(
        [sys.executable, "-m", "service", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(
        "invalid tracing setting: OTEL_TRACES_EXPORTER names 'zipkin-ish'"
    )
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def seeded(database_url: str) -> str:
    seed(database_url, restaurants=40, users=2, orders=80, seed=17)
    return database_url


def _orders_traced(
    app_factory: Any, folder: Path, login: Login, metric: Any, **overrides: Any
) -> tuple[RequestWork, float]:
    """Trace one ``GET /api/orders?limit=100``: its request's work, and the SQL counter's."""
    with app_factory(traces_dir=folder, **overrides) as client:
        headers = login(client, user_email(0), LOAD_TEST_PASSWORD)
        before = metric(SQL_SUM, route=ORDERS, cache="none")
        response = client.get(f"{ORDERS}?limit=100", headers=headers)
        assert response.status_code == 200, response.text
        statements = metric(SQL_SUM, route=ORDERS, cache="none") - before
    # The lifespan's end flushed the spans; one file per process.
    files = sorted(folder.glob("traces-*.jsonl"))
    assert len(files) == 1
    work = [w for w in request_work(read_spans(files)) if w.route == ORDERS]
    assert len(work) == 1, work
    return work[0], statements


@pytest.mark.docker
def test_spans_count_the_statements_and_show_r4s_n_plus_one(
    seeded: str, app_factory: Any, login: Login, metric: Any, tmp_path: Path
) -> None:
    optimised, statements = _orders_traced(app_factory, tmp_path / "optimised", login, metric)
    assert (optimised.method, optimised.status) == ("GET", 200)
    assert optimised.db_spans == statements  # the spans and the service's own counter agree
    assert 1 <= optimised.db_spans <= 3
    r4, statements = _orders_traced(app_factory, tmp_path / "r4", login, metric, regressions="R4")
    assert r4.db_spans == statements
    # One lazy load per restaurant the user ordered from.
    assert r4.db_spans >= optimised.db_spans + 5


@pytest.mark.docker
def test_redis_commands_are_spans_under_the_request(
    seeded: str, app_factory: Any, login: Login, tmp_path: Path
) -> None:
    with app_factory(traces_dir=tmp_path) as client:
        headers = login(client, user_email(1), LOAD_TEST_PASSWORD)
        for _ in range(2):  # a miss, then a hit
            response = client.get("/api/recommendations?limit=12", headers=headers)
            assert response.status_code == 200, response.text
    work = [
        w
        for w in request_work(read_spans(tmp_path.glob("traces-*.jsonl")))
        if w.route == "/api/recommendations"
    ]
    assert len(work) == 2
    miss, hit = sorted(work, key=lambda w: -w.db_spans)
    assert miss.db_spans >= 1
    assert hit.db_spans == 0
    assert hit.redis_spans >= 1
