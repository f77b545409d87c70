"""One Testcontainers class per container of the stack, each with an explicit wait strategy.

Every container is memory-capped (`mem_limit` = `memswap_limit`, so the cap is hard: no
swap to spill into), publishes its port on 127.0.0.1 only, and attaches the tail of its
logs to any start-up failure.
"""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, cast

import docker.errors
import psycopg
import redis
from testcontainers.core.container import DockerContainer
from testcontainers.core.network import Network
from testcontainers.core.waiting_utils import WaitStrategy, WaitStrategyTarget

GIB = 1024**3
POSTGRES_PORT = 5432
REDIS_PORT = 6379
SERVICE_PORT = 8000
PGBOUNCER_PORT = 6432
#: Most Postgres connections PgBouncer opens (its `default_pool_size` and
#: `max_db_connections`): the fix plan's pool of 4 per replica times its 2 replicas, well
#: under the tuned `max_connections = 20`, which leaves room for the gate's probes.
PGBOUNCER_POOL_SIZE = 8
POSTGRES_DB = POSTGRES_USER = POSTGRES_PASSWORD = "tastematch"
LOG_TAIL_LINES = 40


class ContainerStartupError(RuntimeError):
    """A container exited or did not become ready in time; the message carries its logs."""


def logs_tail(container: Any, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a docker-py container's logs (stdout and stderr)."""
    try:
        raw = container.logs(tail=lines)
    except Exception as error:  # the logs are a diagnostic: never hide the original failure
        return f"(logs unavailable: {error})"
    return bytes(raw).decode(errors="replace").rstrip() or "(no output)"


class ReadinessCheck(WaitStrategy):
    """Poll `probe` until it returns True; retry only the given transient errors.

    Fails fast when the container exits, and otherwise after `timeout_s`.
    """

    def __init__(
        self,
        what: str,  # the check, for messages: "SELECT 1", "GET /health"
        probe: Callable[[WaitStrategyTarget], bool],
        transient: tuple[type[Exception], ...],
        timeout_s: float = 60.0,
        interval_s: float = 0.2,
    ) -> None:
        super().__init__()
        self._what = what
        self._probe = probe
        self._transient = transient
        self._timeout_s = timeout_s
        self._interval_s = interval_s

    def wait_until_ready(self, container: WaitStrategyTarget) -> None:
        deadline = time.monotonic() + self._timeout_s
        last_error: Exception | None = None
        while True:
            wrapped = container.get_wrapped_container()
            wrapped.reload()
            if wrapped.status in ("exited", "dead"):
                code = wrapped.attrs.get("State", {}).get("ExitCode")
                raise ContainerStartupError(f"exited (code {code}) before it was ready")
            try:
                if self._probe(container):
                    return
            except self._transient as error:
                last_error = error
            if time.monotonic() > deadline:
                raise ContainerStartupError(
                    f"not ready after {self._timeout_s:.0f}s of {self._what} "
                    f"(last error: {last_error})"
                )
            time.sleep(self._interval_s)


class CappedContainer(DockerContainer):
    """A memory-capped container whose ports are published on 127.0.0.1 only."""

    role = "container"
    port = 0

    def __init__(
        self,
        image: str,
        *,
        name: str,
        mem_limit_bytes: int = GIB,
        network: Network | None = None,
        aliases: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        command: str | list[str] | None = None,
        host_port: int | None = None,
    ) -> None:
        super().__init__(image, env=dict(env or {}))
        if mem_limit_bytes <= 0:
            raise ValueError(f"{name}: mem_limit_bytes must be positive, not {mem_limit_bytes}")
        self.mem_limit_bytes = mem_limit_bytes
        self.with_name(name)
        if command is not None:
            self.with_command(command)
        if network is not None:
            self.with_network(network)
            if aliases:
                self.with_network_aliases(*aliases)
        # docker-py reads a 1-tuple of a string as "this host address, any free port"; a
        # pinned port survives a restart of the container (an ephemeral one changes).
        binding = ("127.0.0.1",) if host_port is None else ("127.0.0.1", host_port)
        cast("dict[str, Any]", self.ports)[f"{self.port}/tcp"] = binding
        # with_kwargs() replaces earlier kwargs: everything goes in this one call.
        self.with_kwargs(
            mem_limit=mem_limit_bytes,
            memswap_limit=mem_limit_bytes,
            labels={"org.tastematch.role": self.role, **dict(labels or {})},
        )
        self.waiting_for(self.readiness())
        self._host_port: int | None = None

    def readiness(self) -> WaitStrategy:
        """The wait strategy that decides the container is ready."""
        raise NotImplementedError

    @property
    def name(self) -> str:
        return str(self._name)

    def start(self) -> CappedContainer:
        """Create and start the container and wait until it is ready.

        On failure the container is removed and ContainerStartupError carries the tail of
        its logs.
        """
        try:
            super().start()
        except Exception as error:
            detail = ""
            if self._container is not None:
                detail = f"\n--- last {LOG_TAIL_LINES} log lines of {self.name} ---\n"
                detail += logs_tail(self._container)
                with contextlib.suppress(docker.errors.APIError):
                    self._container.remove(force=True, v=True)
            raise ContainerStartupError(f"{self.name}: {error}{detail}") from error
        return self

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        """Remove the container (nothing to do when it is already gone)."""
        try:
            super().stop(force=force, delete_volume=delete_volume)
        except docker.errors.NotFound:
            self.get_docker_client().client.close()

    def host_port(self) -> int:
        """The 127.0.0.1 port the container's service port is published on.

        Read once per start (a restart publishes a new port: call `forget_port()`); unlike
        `get_exposed_port()` it never waits for the container to be running.
        """
        if self._host_port is None:
            self._host_port = int(self.get_docker_client().port(self.get_container_id(), self.port))
        return self._host_port

    def forget_port(self) -> None:
        """Drop the cached host port (after the container was restarted)."""
        self._host_port = None


def _postgres_probe(target: WaitStrategyTarget) -> bool:
    container = cast("PostgresContainer", target)
    with psycopg.connect(container.libpq_url(), connect_timeout=3) as connection:
        return connection.execute("SELECT 1").fetchone() == (1,)


class PostgresContainer(CappedContainer):
    """PostgreSQL 15, database/user/password `tastematch`; ready when it answers SELECT 1."""

    role = "postgres"
    port = POSTGRES_PORT

    def __init__(self, image: str, *, tuned: bool = True, **kwargs: Any) -> None:
        self.tuned = tuned
        env = {"TASTEMATCH_PG_TUNING": "tuned" if tuned else "untuned", **kwargs.pop("env", {})}
        super().__init__(image, env=env, **kwargs)

    def readiness(self) -> WaitStrategy:
        # Only connection errors are transient: a failing query means a broken image.
        return ReadinessCheck("SELECT 1", _postgres_probe, (psycopg.OperationalError,))

    def libpq_url(self) -> str:
        """A plain libpq URL (psycopg.connect) on 127.0.0.1."""
        return (
            f"postgresql://{POSTGRES_USER}:{POSTGRES_PASSWORD}@127.0.0.1:{self.host_port()}"
            f"/{POSTGRES_DB}"
        )

    def sqlalchemy_url(self) -> str:
        """The SQLAlchemy URL (psycopg 3 driver) on 127.0.0.1."""
        return self.libpq_url().replace("postgresql://", "postgresql+psycopg://", 1)


def _redis_probe(target: WaitStrategyTarget) -> bool:
    container = cast("RedisContainer", target)
    client = redis.Redis.from_url(container.url(), socket_timeout=3)
    try:
        return bool(client.ping())
    finally:
        client.close()


class RedisContainer(CappedContainer):
    """redis-server 7 (LRU, no persistence) that answers only with ``password``;
    ready when it answers PING."""

    role = "redis"
    port = REDIS_PORT

    def __init__(self, image: str, *, password: str, **kwargs: Any) -> None:
        if not password:
            raise ValueError("Redis needs a password: every container on the network reaches it")
        self.password = password
        # Arguments after the image's entrypoint (redis-server and its configuration file).
        super().__init__(image, command=["--requirepass", password], **kwargs)

    def readiness(self) -> WaitStrategy:
        return ReadinessCheck(
            "PING", _redis_probe, (redis.ConnectionError, redis.TimeoutError, ConnectionError)
        )

    def url(self) -> str:
        """redis://:<password>@127.0.0.1:<port>/0"""
        return f"redis://:{self.password}@127.0.0.1:{self.host_port()}/0"


def _health_probe(target: WaitStrategyTarget) -> bool:
    container = cast("ServiceContainer", target)
    try:
        with urllib.request.urlopen(f"{container.url()}/health", timeout=3) as response:
            return int(response.status) == 200
    except urllib.error.HTTPError as error:
        # 503 while the database or Redis is not reachable yet: keep waiting.
        if error.code == 503:
            return False
        raise


class ServiceContainer(CappedContainer):
    """The TasteMatch service; ready when GET /health answers 200."""

    role = "service"
    port = SERVICE_PORT

    def readiness(self) -> WaitStrategy:
        return ReadinessCheck(
            "GET /health",
            _health_probe,
            (urllib.error.URLError, ConnectionError, TimeoutError),
            timeout_s=90.0,
        )

    def url(self) -> str:
        """http://127.0.0.1:<port>"""
        return f"http://127.0.0.1:{self.host_port()}"


def _pgbouncer_probe(target: WaitStrategyTarget) -> bool:
    container = cast("PgBouncerContainer", target)
    # Through PgBouncer to Postgres and back: proves the listener, the SCRAM log-in of the
    # client and PgBouncer's own log-in to Postgres.
    with psycopg.connect(container.libpq_url(), connect_timeout=3) as connection:
        return connection.execute("SELECT 1").fetchone() == (1,)


class PgBouncerContainer(CappedContainer):
    """PgBouncer in transaction pooling mode in front of the stack's `postgres`.

    At most `pool_size` Postgres connections, however many clients connect. Ready when a
    `SELECT 1` through it answers (Postgres must be up first).
    """

    role = "pgbouncer"
    port = PGBOUNCER_PORT

    def __init__(self, image: str, *, pool_size: int = PGBOUNCER_POOL_SIZE, **kwargs: Any) -> None:
        if pool_size < 1:
            raise ValueError(f"PgBouncer's pool_size must be 1 or more, not {pool_size}")
        self.pool_size = pool_size
        env = {"TASTEMATCH_PGBOUNCER_POOL_SIZE": str(pool_size), **kwargs.pop("env", {})}
        super().__init__(image, env=env, **kwargs)

    def readiness(self) -> WaitStrategy:
        # Connection errors are transient (PgBouncer still starting, or Postgres not
        # accepting yet); a failing SELECT 1 is not.
        return ReadinessCheck(
            "SELECT 1 through PgBouncer", _pgbouncer_probe, (psycopg.OperationalError,)
        )

    def libpq_url(self) -> str:
        """A plain libpq URL of the pooled `tastematch` database on 127.0.0.1."""
        return (
            f"postgresql://{POSTGRES_USER}:{POSTGRES_PASSWORD}@127.0.0.1:{self.host_port()}"
            f"/{POSTGRES_DB}"
        )

    def admin_url(self) -> str:
        """PgBouncer's admin database (`SHOW POOLS`, `SHOW STATS`): needs `autocommit=True`
        and psycopg's `ClientCursor` (the console speaks only the simple query protocol)."""
        return (
            f"postgresql://{POSTGRES_USER}:{POSTGRES_PASSWORD}@127.0.0.1:{self.host_port()}"
            "/pgbouncer"
        )
