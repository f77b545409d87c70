"""Shared fixtures and command-line options of the TasteMatch Bench tests.

Options: `--profile` and `--replicas` shape the `stack` fixture; `--keep-stack` leaves
the containers running after the session and prints how to reach them.

Fixtures (session-scoped):
- `stack`: the full capped stack (Postgres, Redis, service replicas);
- `postgres_url`, `redis_url`: a Postgres and a Redis container, usable without the
  service image. They are the `stack`'s when the session already started it, otherwise
  a Postgres and a Redis container of their own.

Tests that need Docker carry the `docker` marker (tests using these fixtures get it
automatically). With no engine answering they fail, saying to run `make engine`.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import docker.errors
import pytest

import containers  # noqa: F401  (sets TC_HOST / Ryuk defaults before testcontainers loads)
from containers.replicas import PROFILES
from containers.stack import Stack

DOCKER_FIXTURES = frozenset({"stack", "postgres_url", "redis_url", "data_stack", "docker_client"})

_engine_problem: list[str] = []  # memoised: "" when the engine answers
_started_stacks: dict[str, Stack] = {}
_kept_stacks: list[str] = []  # descriptions of the stacks --keep-stack left running


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tastematch", "TasteMatch Bench stack")
    group.addoption(
        "--profile",
        choices=PROFILES,
        default="optimized",
        help="service profile of the `stack` fixture (default: optimized)",
    )
    group.addoption(
        "--replicas",
        type=int,
        default=1,
        help="service replicas of the `stack` fixture (default: 1)",
    )
    group.addoption(
        "--keep-stack",
        action="store_true",
        default=False,
        help="leave the session's containers running and print how to reach them",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if DOCKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)


def engine_problem() -> str:
    """Why no Docker engine can be used ("" when one answers); asked once per session."""
    if not _engine_problem:
        try:
            client = docker.from_env(timeout=10)
            client.ping()
            client.close()
            _engine_problem.append("")
        except docker.errors.DockerException as error:
            _engine_problem.append(str(error))
    return _engine_problem[0]


def require_engine() -> None:
    """Fail the current test (never skip it) when no Docker engine answers."""
    problem = engine_problem()
    if problem:
        # A failure, not a skip: a run without its container tests must not pass.
        pytest.fail(
            f"this test needs a Docker engine and none answers ({problem}); run `make engine`",
            pytrace=False,
        )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("docker") is not None:
        require_engine()


def _finish(request: pytest.FixtureRequest, stack: Stack) -> None:
    if request.config.getoption("--keep-stack"):
        _kept_stacks.append(stack.describe())
        return
    stack.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Printed here, not at fixture teardown: output there is captured and dropped.
    if _kept_stacks:
        terminalreporter.section("--keep-stack: left running")
        for description in _kept_stacks:
            terminalreporter.write_line(description)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    """A docker-py client of the engine the tests use."""
    require_engine()
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The full stack (Postgres, Redis, `--replicas` services of `--profile`), each capped."""
    replicas = int(request.config.getoption("--replicas"))
    if replicas < 1:
        raise pytest.UsageError(f"--replicas must be 1 or more, not {replicas}")
    require_engine()
    started = Stack(profile=request.config.getoption("--profile"), replicas=replicas).start()
    _started_stacks["stack"] = started
    try:
        yield started
    finally:
        _started_stacks.pop("stack", None)
        _finish(request, started)


@pytest.fixture(scope="session")
def data_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """Postgres and Redis: the running `stack`'s, or a pair started for this session."""
    running = _started_stacks.get("stack")
    if running is not None:
        yield running
        return
    require_engine()
    started = Stack(replicas=0).start()
    try:
        yield started
    finally:
        _finish(request, started)


@pytest.fixture(scope="session")
def postgres_url(data_stack: Stack) -> str:
    """SQLAlchemy URL (`postgresql+psycopg://...@127.0.0.1:<port>/tastematch`)."""
    return data_stack.postgres_url


@pytest.fixture(scope="session")
def redis_url(data_stack: Stack) -> str:
    """`redis://:<password>@127.0.0.1:<port>/0`"""
    return data_stack.redis_url
