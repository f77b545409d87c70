"""Fixtures of the service tests: a fresh database per module, apps pointed at it.

Postgres and Redis come from the root conftest's containers (`postgres_url`, `redis_url`).
To iterate against servers of your own instead, set both TASTEMATCH_TEST_DATABASE_URL
(a SQLAlchemy URL of a database on a server where the user may create databases) and
TASTEMATCH_TEST_REDIS_URL.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy.engine import make_url

from containers.replicas import LOAD_GENERATOR_RATE_LIMITS
from service.__main__ import server_options
from service.config import Settings
from service.main import create_app

JWT_SECRET = "test-secret-" + "x" * 40

AppFactory = Callable[..., AbstractContextManager[TestClient]]
MetricReader = Callable[..., float]


def libpq_url(url: str) -> str:
    """The libpq form (for psycopg.connect) of a SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> str:
    """SQLAlchemy URL of a Postgres server where databases may be created."""
    override = os.environ.get("TASTEMATCH_TEST_DATABASE_URL")
    return override or str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def redis_server(request: pytest.FixtureRequest) -> str:
    """URL of a Redis server."""
    override = os.environ.get("TASTEMATCH_TEST_REDIS_URL")
    return override or str(request.getfixturevalue("redis_url"))


def create_namespace(server_url: str, label: str) -> str:
    """Create an empty schema; return a URL whose connections use it (``search_path``).

    A schema rather than a database: the container's user owns its database but may not
    create new ones.
    """
    name = f"tm_{re.sub(r'[^a-z0-9]+', '_', label.lower())[-30:]}_{secrets.token_hex(3)}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    url = make_url(server_url).update_query_dict({"options": f"-csearch_path={name}"})
    return url.render_as_string(hide_password=False)


def drop_namespace(server_url: str, database_url: str) -> None:
    """Drop a schema made by ``create_namespace``, with everything in it."""
    name = make_url(database_url).query["options"]
    assert isinstance(name, str)
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name.split("=", 1)[1]}" CASCADE')


@pytest.fixture(scope="module")
def database_url(pg_server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database URL of an empty schema of this test module, dropped afterwards."""
    url = create_namespace(pg_server, request.module.__name__)
    yield url
    drop_namespace(pg_server, url)


SqlRunner = Callable[..., list[tuple[Any, ...]]]


def sql_runner(database_url: str) -> SqlRunner:
    """``run(query, params)``: rows of a query on ``database_url``, committed."""

    def run(query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(libpq_url(database_url)) as conn:
            cursor = conn.execute(query.encode(), params)
            return cursor.fetchall() if cursor.description else []

    return run


@pytest.fixture(scope="module")
def sql(database_url: str) -> SqlRunner:
    """``sql(query, params)``: rows of a query on this module's database, committed."""
    return sql_runner(database_url)


@pytest.fixture
def scratch_database(pg_server: str) -> Iterator[Callable[[str], tuple[str, SqlRunner]]]:
    """``scratch_database(label)`` → ``(url, sql)`` of another empty database, dropped after."""
    made: list[str] = []

    def make(label: str) -> tuple[str, SqlRunner]:
        made.append(create_namespace(pg_server, label))
        return made[-1], sql_runner(made[-1])

    yield make
    for url in made:
        drop_namespace(pg_server, url)


@pytest.fixture(scope="module")
def module_redis_url(redis_server: str, request: pytest.FixtureRequest) -> str:
    """A Redis database (1-15) for this module, emptied first (db 0 is the stack's)."""
    index = 1 + zlib.crc32(request.module.__name__.encode()) % 15
    url = urlsplit(redis_server)._replace(path=f"/{index}").geturl()
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


@pytest.fixture(scope="module")
def make_settings(database_url: str, module_redis_url: str) -> Callable[..., Settings]:
    """Settings for this module's database and Redis; keyword arguments override fields."""

    def build(**overrides: Any) -> Settings:
        fields: dict[str, Any] = {
            "database_url": database_url,
            "redis_url": module_redis_url,
            "jwt_secret": JWT_SECRET,
            "bcrypt_rounds": 4,
            "redis_timeout_s": 0.5,
            # Every test client is one address registering and logging in many accounts,
            # as the load generator is: the stack's limits, unless a test sets its own.
            **{
                name.removeprefix("TASTEMATCH_").lower(): value
                for name, value in LOAD_GENERATOR_RATE_LIMITS.items()
            },
        }
        fields.update(overrides)
        return Settings(**fields)

    return build


@pytest.fixture(scope="module")
def app_factory(make_settings: Callable[..., Settings]) -> AppFactory:
    """``with app_factory(regressions="R1") as client:`` — a started app (lifespan run)."""

    @contextmanager
    def started(**overrides: Any) -> Iterator[TestClient]:
        with TestClient(create_app(make_settings(**overrides))) as client:
            yield client

    return started


@contextmanager
def serving(app: FastAPI, settings: Settings) -> Iterator[str]:
    """Base URL of ``app`` served by uvicorn in a thread on 127.0.0.1, with the options
    ``python -m service`` gives uvicorn (the client address is the socket's)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = {**server_options(settings), "log_level": "warning"}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "service did not start"
        assert time.monotonic() < deadline, "service did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


Serve = Callable[[FastAPI, Settings], AbstractContextManager[str]]


@pytest.fixture(scope="session")
def serve() -> Serve:
    """``with serve(app, settings) as url:`` — ``app`` behind a real uvicorn (``serving``)."""
    return serving


@pytest.fixture(scope="session")
def jwt_secret() -> str:
    """The signing secret of every app the service tests start."""
    return JWT_SECRET


@pytest.fixture
def metric() -> MetricReader:
    """``metric(name, **labels)``: the current value of a sample of the process's metrics."""

    def read(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    return read


def bearer(token: str) -> dict[str, str]:
    """Authorization header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def login() -> Callable[[TestClient, str, str], dict[str, str]]:
    """``login(client, email, password)`` → the Authorization header of that user."""

    def do_login(client: TestClient, email: str, password: str) -> dict[str, str]:
        response = client.post("/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return bearer(response.json()["token"])

    return do_login
