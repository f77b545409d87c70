"""The stack under test: Postgres, Redis and N TasteMatch replicas on their own network.

With `pgbouncer=True` a PgBouncer container (transaction pooling) sits between the
replicas and Postgres.

Each container runs with `mem_limit` = `memswap_limit` (1 GiB unless overridden), so the
cap is hard. Ports are published on 127.0.0.1 only. `Stack` is a context manager: every
container and the network are removed on exit, on a start-up failure and on Ctrl-C.

    with Stack(profile="optimized", replicas=2) as stack:
        httpx.get(f"{stack.service_url}/health")

`Stack` runs the stack's life cycle; what callers reach on a running stack is in
`containers.stack_containers`, the PgBouncer wiring in `containers.stack_pgbouncer`, the
replicas' settings in `containers.replicas`, starting and removing containers in
`containers.startup` and `containers.cleanup`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from types import TracebackType

from testcontainers.core.network import Network

from containers.cleanup import STACK_LABEL, remove_container, remove_stack
from containers.definitions import (
    GIB,
    PGBOUNCER_POOL_SIZE,
    POSTGRES_DB,
    POSTGRES_PORT,
    POSTGRES_USER,
    REDIS_PORT,
    SERVICE_PORT,
    PostgresContainer,
    RedisContainer,
    ServiceContainer,
)
from containers.errors import StackError
from containers.images import ImageSet, ensure_images
from containers.replicas import (
    LOAD_GENERATOR_RATE_LIMITS,
    TRACING_ENV,
    check_profile,
    database_url,
    postgres_is_tuned,
    replica_command,
)
from containers.stack_pgbouncer import PgBouncerWiring
from containers.startup import restart_and_wait, retune_postgres, start_all
from service.regressions import parse_regressions

__all__ = ["SNAPSHOT_DATABASE", "Stack"]

#: The copy of the seeded database that ``Stack.restore_database`` starts again from.
SNAPSHOT_DATABASE = "tastematch_snapshot"


class Stack(PgBouncerWiring):
    """Postgres, Redis and `replicas` service containers, each memory-capped.

    `replicas=0` starts only Postgres and Redis (no service image needed).
    `pgbouncer=True` adds PgBouncer in transaction pooling mode with at most
    `pgbouncer_pool_size` Postgres connections; the replicas then connect through it
    and run with `TASTEMATCH_TRANSACTION_POOLER=true`.
    `mem_limits` overrides the cap of single containers, keyed by role (`postgres`,
    `redis`, `service`, `pgbouncer`) or by name (`service-1`). `service_env` is added to (and
    overrides) the service's environment. `memray=True` runs each service under
    `memray run`, writing a capture to `MEMRAY_CAPTURE` that survives an OOM kill
    (copy it out with `copy_from`). `tracing=True` gives each replica `TRACING_ENV`:
    requests sent with a sampled `traceparent` header are traced into `TRACES_DIR`
    (`collect_traces` copies the span files out); `service_env` may override it.
    """

    def __init__(
        self,
        profile: str = "optimized",
        regressions: Iterable[str] = frozenset(),
        replicas: int = 1,
        mem_limit_bytes: int = GIB,
        service_env: Mapping[str, str] | None = None,
        memray: bool = False,
        *,
        mem_limits: Mapping[str, int] | None = None,
        images: ImageSet | None = None,
        jwt_secret: str | None = None,
        pgbouncer: bool = False,
        pgbouncer_pool_size: int = PGBOUNCER_POOL_SIZE,
        tracing: bool = False,
        pinned_ports: bool = False,
    ) -> None:
        if replicas < 0:
            raise ValueError(f"replicas must be 0 or more, not {replicas}")
        if mem_limit_bytes <= 0:
            raise ValueError(f"mem_limit_bytes must be positive, not {mem_limit_bytes}")
        if pgbouncer_pool_size < 1:
            raise ValueError(f"pgbouncer_pool_size must be 1 or more, not {pgbouncer_pool_size}")
        names = {"postgres", "redis", "service"} | {f"service-{i}" for i in range(replicas)}
        if pgbouncer:
            names.add("pgbouncer")
        unknown = sorted(set(mem_limits or {}) - names)
        if unknown:
            raise ValueError(
                f"mem_limits for unknown container(s) {', '.join(unknown)}; "
                f"expected some of {', '.join(sorted(names))}"
            )
        self.profile = check_profile(profile)
        self.regressions = parse_regressions(regressions)
        self.replicas = replicas
        self.mem_limit_bytes = mem_limit_bytes
        self.mem_limits = dict(mem_limits or {})
        self.service_env = dict(service_env or {})
        self.memray = memray
        self.tracing = tracing
        self.pinned_ports = pinned_ports
        self.pgbouncer_enabled = pgbouncer
        self.pgbouncer_pool_size = pgbouncer_pool_size
        self.jwt_secret = jwt_secret or secrets.token_hex(32)
        self.redis_password = secrets.token_hex(16)
        self.stack_id = secrets.token_hex(4)
        self._images = images
        #: A service image other than the stack's own (``restart_services(service_image=)``).
        self.service_image: str | None = None
        #: Settings of the running replicas only (``restart_services(service_env=)``).
        self.restart_env: dict[str, str] = {}
        self._network = None
        self.postgres = None
        self.redis = None
        self.pgbouncer = None
        self.services = []
        self._started = False

    # -- life cycle -------------------------------------------------------------------

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Stack:
        """Build what is missing, then start the network and every container (waits for each)."""
        if self._started:
            raise StackError("the stack is already started")
        self._started = True
        try:
            self._start()
        except BaseException:
            # Ctrl-C or a failed container: leave nothing behind.
            self.stop()
            raise
        return self

    def _start(self) -> None:
        roles: tuple[str, ...] = ("postgres", "redis")
        if self.replicas:
            roles += ("service",)
        if self.pgbouncer_enabled:
            roles += ("pgbouncer",)
        if self._images is None:
            self._images = ensure_images(roles)
        self._network = Network(docker_network_kw={"labels": {STACK_LABEL: self.stack_id}})
        self._network.create()
        self.postgres = PostgresContainer(
            self._images.postgres,
            tuned=postgres_is_tuned(self.profile, self.regressions),
            **self._container_kwargs("postgres", "postgres"),
        )
        self.redis = RedisContainer(
            self._images.redis,
            password=self.redis_password,
            **self._container_kwargs("redis", "redis"),
        )
        start_all([self.postgres, self.redis])
        if self.pgbouncer_enabled:
            self._start_pgbouncer()
        self._start_services()

    def service_environment(self) -> dict[str, str]:
        """The environment every service replica gets (settings of `service.config`)."""
        database = {"TASTEMATCH_DATABASE_URL": database_url("postgres", POSTGRES_PORT)}
        if self.pgbouncer_enabled:
            database = self.through_pgbouncer()
        return {
            **database,
            "TASTEMATCH_REDIS_URL": f"redis://:{self.redis_password}@redis:{REDIS_PORT}/0",
            "TASTEMATCH_PROFILE": self.profile,
            "TASTEMATCH_REGRESSIONS": ",".join(sorted(self.regressions)),
            "TASTEMATCH_JWT_SECRET": self.jwt_secret,
            "TASTEMATCH_PORT": str(SERVICE_PORT),
            **LOAD_GENERATOR_RATE_LIMITS,
            **(TRACING_ENV if self.tracing else {}),
            **self.service_env,
            **self.restart_env,
        }

    def _start_services(self) -> None:
        if not self.replicas:
            return
        assert self._images is not None
        command = replica_command(self.memray)
        self.services = [
            ServiceContainer(
                self.service_image or self._images.service,
                env=self.service_environment(),
                command=command,
                **self._container_kwargs(f"service-{index}", "service"),
            )
            for index in range(self.replicas)
        ]
        start_all(self.services)

    def stop(self) -> None:
        """Remove every container and the network; safe to call more than once.

        Tries everything, then raises StackError naming whatever could not be removed.
        """
        problems = [
            problem
            for container in [*self.services, self.pgbouncer, self.redis, self.postgres]
            if container is not None and (problem := remove_container(container)) is not None
        ]
        self.services = []
        self.postgres = self.redis = self.pgbouncer = None
        # A container whose creation was under way when start-up was interrupted is
        # known to the engine but not to us yet: the stack's label finds it (and the
        # network).
        problems += remove_stack(self.stack_id)
        self._network = None
        if problems:
            raise StackError("could not remove: " + "; ".join(problems))

    def stop_services(self) -> None:
        """Remove the service replicas (Postgres, Redis and PgBouncer keep running)."""
        problems = [p for service in self.services if (p := remove_container(service)) is not None]
        self.services = []
        if problems:
            raise StackError("could not remove: " + "; ".join(problems))

    def restart_services(
        self,
        profile: str | None = None,
        regressions: Iterable[str] | None = None,
        *,
        service_image: str | None = None,
        service_env: Mapping[str, str] | None = None,
    ) -> None:
        """Replace the service replicas with ones running `profile`/`regressions`, from
        `service_image` when given (another revision's build), else the stack's own, with
        `service_env` on top of the stack's service environment until the next restart.

        Postgres keeps its data; it is restarted (with a new host port: re-read
        `postgres_url`) only when the tuned/untuned choice changes. Containers from
        `docker_containers()` taken before this call are stale afterwards.
        """
        postgres = self._require(self.postgres, "postgres")
        new_profile = check_profile(profile) if profile is not None else self.profile
        new_regressions = (
            parse_regressions(regressions) if regressions is not None else self.regressions
        )
        self.stop_services()
        self.service_image = service_image
        self.restart_env = dict(service_env or {})
        tuned = postgres_is_tuned(new_profile, new_regressions)
        if tuned != postgres.tuned:
            retune_postgres(postgres, tuned)
            if self.pgbouncer is not None:
                # Postgres may come back on another address: PgBouncer caches the old one.
                restart_and_wait(self.pgbouncer, "pgbouncer")
        self.profile, self.regressions = new_profile, new_regressions
        try:
            self._start_services()
        except BaseException:
            self.stop()
            raise

    def snapshot_database(self) -> None:
        """Keep a copy of the service's database as it is now (the seeded dataset), for
        :meth:`restore_database`. Stops the service replicas: a template must be idle."""
        self.stop_services()
        self._superuser_sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{POSTGRES_DB}' AND pid <> pg_backend_pid()",
            f"DROP DATABASE IF EXISTS {SNAPSHOT_DATABASE}",
            f"CREATE DATABASE {SNAPSHOT_DATABASE} TEMPLATE {POSTGRES_DB} STRATEGY FILE_COPY",
        )

    def restore_database(self) -> None:
        """Replace the service's database by the copy :meth:`snapshot_database` kept, so the
        next phase starts from the same rows. Stops the service replicas."""
        self.stop_services()
        self._superuser_sql(
            f"DROP DATABASE IF EXISTS {POSTGRES_DB} WITH (FORCE)",
            f"CREATE DATABASE {POSTGRES_DB} TEMPLATE {SNAPSHOT_DATABASE} "
            f"OWNER {POSTGRES_USER} STRATEGY FILE_COPY",
        )

    def _superuser_sql(self, *statements: str) -> None:
        """Run each statement alone (``CREATE DATABASE`` refuses a transaction) as the
        ``postgres`` superuser, through the container's local socket."""
        postgres = self._require(self.postgres, "postgres")
        command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres"]
        for statement in statements:
            command += ["-c", statement]
        result = postgres.get_wrapped_container().exec_run(command, user="postgres")
        if result.exit_code != 0:
            output = result.output.decode(errors="replace").strip()
            raise StackError(f"psql as postgres failed (exit {result.exit_code}): {output}")
