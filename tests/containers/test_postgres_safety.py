"""The Postgres image keeps acknowledged writes through a crash and bounds the service
role's sessions: durability as PostgreSQL ships it, a statement timeout that cancels a
runaway query, an idle-in-transaction timeout; the seeder's own sessions are exempt."""

from __future__ import annotations

import time

import psycopg
import psycopg.errors
import pytest
from sqlalchemy.engine import make_url

from service.seed import SEED_UNLIMITED, _conninfo

pytestmark = pytest.mark.docker

DURABILITY = ("fsync", "synchronous_commit", "full_page_writes")


def _connect(postgres_url: str) -> psycopg.Connection[tuple[object, ...]]:
    # The service's role, exactly as the service logs in (no per-session options).
    url = make_url(postgres_url)
    return psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
        connect_timeout=5,
    )


def _show(connection: psycopg.Connection[tuple[object, ...]], name: str) -> str:
    row = connection.execute(f"SHOW {name}").fetchone()
    assert row is not None
    return str(row[0])


def test_durability_is_as_postgres_ships_it(postgres_url: str) -> None:
    with _connect(postgres_url) as connection:
        settings = {name: _show(connection, name) for name in DURABILITY}
    assert settings == dict.fromkeys(DURABILITY, "on")


def test_the_service_role_has_bounded_sessions(postgres_url: str) -> None:
    with _connect(postgres_url) as connection:
        assert _show(connection, "statement_timeout") == "15s"
        assert _show(connection, "idle_in_transaction_session_timeout") == "30s"


@pytest.mark.slow
def test_a_runaway_query_of_the_service_role_is_cancelled(postgres_url: str) -> None:
    started = time.monotonic()
    with (
        _connect(postgres_url) as connection,
        pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"),
    ):
        connection.execute("SELECT pg_sleep(60)")
    assert 14.0 <= time.monotonic() - started < 30.0


def test_the_seeders_sessions_are_not_bounded(postgres_url: str) -> None:
    with psycopg.connect(**_conninfo(postgres_url), autocommit=True) as connection:
        for name in SEED_UNLIMITED:
            assert _show(connection, name) == "0"
