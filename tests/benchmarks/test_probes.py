"""HTTP probes against the stand-in API (which has no caching headers and no page cap)."""

from __future__ import annotations

from collections import Counter

import httpx
import psycopg
import pytest
import redis
from sqlalchemy.engine import make_url

from benchmarks.measure.probes import http_contract
from benchmarks.measure.work import (
    SQL_PROBES,
    PostgresWork,
    WorkCounters,
    sql_probe,
    work_probe,
)


def test_contract_reports_what_the_api_does(fake_service: str) -> None:
    with httpx.Client(timeout=5) as client:
        checks = {check["check"]: check for check in http_contract(client, fake_service, {})}
    assert checks["Cache-Control on /api/restaurants"]["actual"] == "(none)"
    assert checks["default page size of /api/restaurants"]["passed"] is True
    assert checks["page cap: /api/restaurants?limit=1000 rejected"]["actual"] == "HTTP 200"
    assert checks["page cap: /api/restaurants?limit=51 rejected"]["actual"] == "HTTP 200"
    assert checks["page cap: /api/recommendations?limit=51 rejected"]["expected"] == "HTTP 422"
    assert checks["page cap: /api/orders?limit=101 rejected"]["expected"] == "HTTP 422"
    assert [check["passed"] for check in checks.values()].count(False) == 8


def test_contract_names_an_unreachable_service() -> None:
    with httpx.Client(timeout=1) as client:
        checks = http_contract(client, "http://127.0.0.1:9", {})
    assert all(check["actual"].startswith("request failed: ConnectError") for check in checks)
    assert not any(check["passed"] for check in checks)


def test_sql_probe_measures_nothing_without_metrics(fake_service: str) -> None:
    with httpx.Client(timeout=5) as client:
        figures = sql_probe(client, [fake_service], [{}])
    assert set(figures) == {name for name, _, _ in SQL_PROBES}
    assert all(entry["max"] is None and entry["failed"] == 1 for entry in figures.values())


@pytest.mark.docker
def test_work_counters_read_the_commands_and_rows_sent_between_two_readings(
    postgres_url: str, redis_url: str
) -> None:
    libpq_url = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    with (
        WorkCounters(redis_url, libpq_url) as counters,
        redis.Redis.from_url(redis_url) as other,
        psycopg.connect(libpq_url, autocommit=True) as session,
    ):
        commands, postgres = counters.redis_commands(), counters.postgres_work()
        for key in ("a", "b", "c"):
            other.get(f"work-probe-test:{key}")
        other.mget(["work-probe-test:a", "work-probe-test:b"])
        rows = session.execute("SELECT g FROM generate_series(1, 5) AS g").fetchall()
        session.execute("SELECT count(*) FROM pg_class").fetchone()
        sent = counters.redis_commands() - commands
        done = counters.postgres_work()
    assert len(rows) == 5
    assert sent == {"get": 3, "mget": 1}  # the readings' own INFO is left out
    assert done.rows - postgres.rows == 6
    # Reading pg_class touches at least one 8 KiB page; page bytes come in whole blocks.
    touched = done.buffer_bytes - postgres.buffer_bytes
    assert touched >= 8192
    assert touched % 8192 == 0


def test_work_probe_measures_nothing_when_the_requests_fail() -> None:
    class NoCounters:
        def redis_commands(self) -> Counter[str]:
            return Counter()

        def postgres_work(self) -> PostgresWork:
            return PostgresWork(rows=0, buffer_bytes=0)

        def empty_cache(self) -> None:
            return None

    with httpx.Client(timeout=1) as client:
        figures = work_probe(client, ["http://127.0.0.1:9"], [{}], NoCounters())  # type: ignore[arg-type]
    assert set(figures) == {name for name, _, path in SQL_PROBES if isinstance(path, str)}
    assert all(entry["count"] == 0 and entry["failed"] == 1 for entry in figures.values())
    assert all(entry["redis_commands"]["max"] is None for entry in figures.values())
