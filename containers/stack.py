"""The stack under test: Postgres, Redis and N TasteMatch replicas on their own network.

With `pgbouncer=True` a PgBouncer container (transaction pooling) sits between the
replicas and Postgres.

Each container runs with `mem_limit` = `memswap_limit` (1 GiB unless overridden), so the
cap is hard. Ports are published on 127.0.0.1 only. `Stack` is a context manager: every
container and the network are removed on exit, on a start-up failure and on Ctrl-C.

    with Stack(profile="optimized", replicas=2) as stack:
        httpx.get(f"{stack.service_url}/health")
"""

from __future__ import annotations

import dataclasses
import io
import secrets
import socket
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import docker
import docker.errors
from testcontainers.core.network import Network

from containers.definitions import (
    GIB,
    PGBOUNCER_POOL_SIZE,
    PGBOUNCER_PORT,
    POSTGRES_DB,
    POSTGRES_PASSWORD,
    POSTGRES_PORT,
    POSTGRES_USER,
    REDIS_PORT,
    SERVICE_PORT,
    CappedContainer,
    ContainerStartupError,
    PgBouncerContainer,
    PostgresContainer,
    RedisContainer,
    ServiceContainer,
)
from containers.images import ImageSet, ensure_images
from service.regressions import POSTGRES_REGRESSION, parse_regressions

PROFILES = ("optimized", "baseline")
MEMRAY_CAPTURE = "/memray/service.bin"
#: Where a traced replica writes its OTLP JSON span files (``Stack(tracing=True)``).
TRACES_DIR = "/app/traces"
#: A traced stack's sampling: requests that arrive with a sampled ``traceparent`` are
#: traced (the gate's probes send one), and 2 % of the others (the load's: enough for a
#: typical and a slowest request per endpoint, little enough to cost the load next to
#: nothing). Spans reach the file within 0.2 s.
TRACING_ENV = {
    "TASTEMATCH_TRACES_DIR": TRACES_DIR,
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0.02",
    "OTEL_BSP_SCHEDULE_DELAY": "200",
}
STACK_LABEL = "org.tastematch.stack"


class StackError(RuntimeError):
    """The stack could not be started or used (bad settings, a container that failed)."""


#: The copy of the seeded database that ``Stack.restore_database`` starts again from.
SNAPSHOT_DATABASE = "tastematch_snapshot"

#: Rate limits of the stack's services. The service's defaults (30 logins and 10
#: registrations a minute per client address, 10 logins a minute per account) are sized
#: for one person; the load generator is one address standing for hundreds of diners, and
#: its Zipf-skewed picks log the busiest seeded account in several times a minute (the
#: spike and capacity loads log in 80-300 diners within a minute or two). These leave the
#: standard loads well under every limit while the limiter still does its work (a Redis
#: call per limit per attempt) on each login and registration. The password queue likewise:
#: a spike, or every diner logging in again after the service was killed, may have more
#: logins waiting for bcrypt than the service's default lets wait (32). `service_env`
#: overrides them.
LOAD_GENERATOR_RATE_LIMITS = {
    "TASTEMATCH_LOGIN_LIMIT_PER_ADDRESS": "3000/minute",
    "TASTEMATCH_LOGIN_LIMIT_PER_ACCOUNT": "600/minute",
    "TASTEMATCH_REGISTER_LIMIT_PER_ADDRESS": "3000/minute",
    "TASTEMATCH_HASH_QUEUE": "1000",
}


def _check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    return profile


def postgres_is_tuned(profile: str, regressions: frozenset[str]) -> bool:
    """Postgres runs with the tuned configuration unless R6 is on or the profile is baseline."""
    return profile != "baseline" and POSTGRES_REGRESSION not in regressions


class Stack:
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
        self.profile = _check_profile(profile)
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
        self._network: Network | None = None
        self.postgres: PostgresContainer | None = None
        self.redis: RedisContainer | None = None
        self.pgbouncer: PgBouncerContainer | None = None
        self.services: list[ServiceContainer] = []
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
        _start_all([self.postgres, self.redis])
        if self.pgbouncer_enabled:
            self._start_pgbouncer()
        self._start_services()

    def _start_pgbouncer(self) -> None:
        assert self._images is not None
        # After Postgres: its readiness check is a query through it.
        self.pgbouncer = PgBouncerContainer(
            self._images.pgbouncer,
            pool_size=self.pgbouncer_pool_size,
            **self._container_kwargs("pgbouncer", "pgbouncer"),
        )
        _start_all([self.pgbouncer])

    def add_pgbouncer(self, pool_size: int = PGBOUNCER_POOL_SIZE) -> None:
        """Start PgBouncer on the running stack (the replicas keep connecting to Postgres:
        ``through_pgbouncer()`` is the setting that sends a restart's replicas through it)."""
        self._require(self.postgres, "postgres")
        if self.pgbouncer is not None:
            raise StackError("PgBouncer is already running in this stack")
        if pool_size < 1:
            raise ValueError(f"pgbouncer_pool_size must be 1 or more, not {pool_size}")
        built = ensure_images(("pgbouncer",))
        self._images = dataclasses.replace(self.images, pgbouncer=built.pgbouncer)
        self.pgbouncer_pool_size = pool_size
        self._start_pgbouncer()

    def remove_pgbouncer(self) -> None:
        """Remove the PgBouncer ``add_pgbouncer`` started (no-op without one); replicas
        connected through it must be restarted first."""
        if self.pgbouncer is None:
            return
        problem = _remove(self.pgbouncer)
        self.pgbouncer = None
        if problem is not None:
            raise StackError(f"could not remove: {problem}")

    def through_pgbouncer(self) -> dict[str, str]:
        """The replicas' settings that connect them through the stack's PgBouncer."""
        return {
            "TASTEMATCH_DATABASE_URL": _database_url("pgbouncer", PGBOUNCER_PORT),
            "TASTEMATCH_TRANSACTION_POOLER": "true",
        }

    def _container_kwargs(self, name: str, role: str) -> dict[str, Any]:
        return {
            "name": f"tastematch-{self.stack_id}-{name}",
            "mem_limit_bytes": self.mem_limits.get(
                name, self.mem_limits.get(role, self.mem_limit_bytes)
            ),
            "network": self._network,
            "aliases": (name,),
            "labels": {STACK_LABEL: self.stack_id},
            "host_port": free_port() if self.pinned_ports else None,
        }

    def service_environment(self) -> dict[str, str]:
        """The environment every service replica gets (settings of `service.config`)."""
        database = {"TASTEMATCH_DATABASE_URL": _database_url("postgres", POSTGRES_PORT)}
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
        command = None
        if self.memray:
            # Not --aggregate: the default capture format survives an OOM kill.
            command = ["python", "-m", "memray", "run", "--output", MEMRAY_CAPTURE, "--force"]
            command += ["-m", "service"]
        self.services = [
            ServiceContainer(
                self.service_image or self._images.service,
                env=self.service_environment(),
                command=command,
                **self._container_kwargs(f"service-{index}", "service"),
            )
            for index in range(self.replicas)
        ]
        _start_all(self.services)

    def stop(self) -> None:
        """Remove every container and the network; safe to call more than once.

        Tries everything, then raises StackError naming whatever could not be removed.
        """
        problems = [
            problem
            for container in [*self.services, self.pgbouncer, self.redis, self.postgres]
            if container is not None and (problem := _remove(container)) is not None
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
        problems = [p for service in self.services if (p := _remove(service)) is not None]
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
        new_profile = _check_profile(profile) if profile is not None else self.profile
        new_regressions = (
            parse_regressions(regressions) if regressions is not None else self.regressions
        )
        self.stop_services()
        self.service_image = service_image
        self.restart_env = dict(service_env or {})
        tuned = postgres_is_tuned(new_profile, new_regressions)
        if tuned != postgres.tuned:
            _retune_postgres(postgres, tuned)
            if self.pgbouncer is not None:
                # Postgres may come back on another address: PgBouncer caches the old one.
                _restart_and_wait(self.pgbouncer, "pgbouncer")
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

    # -- what callers use ---------------------------------------------------------------

    @staticmethod
    def _require(container: CappedContainer | None, what: str) -> Any:
        if container is None:
            raise StackError(f"{what} is not running: start the stack first")
        return container

    @property
    def images(self) -> ImageSet:
        if self._images is None:
            raise StackError("the stack has not been started")
        return self._images

    @property
    def postgres_url(self) -> str:
        """SQLAlchemy URL (psycopg driver) of Postgres on 127.0.0.1."""
        return str(self._require(self.postgres, "postgres").sqlalchemy_url())

    @property
    def postgres_libpq_url(self) -> str:
        """Plain libpq URL (for `psycopg.connect`, `psql`) of Postgres on 127.0.0.1."""
        return str(self._require(self.postgres, "postgres").libpq_url())

    @property
    def pgbouncer_url(self) -> str:
        """Plain libpq URL of the pooled database through PgBouncer on 127.0.0.1."""
        return str(self._require(self.pgbouncer, "pgbouncer").libpq_url())

    @property
    def pgbouncer_admin_url(self) -> str:
        """libpq URL of PgBouncer's admin database (`SHOW POOLS`; simple query protocol)."""
        return str(self._require(self.pgbouncer, "pgbouncer").admin_url())

    @property
    def redis_url(self) -> str:
        return str(self._require(self.redis, "redis").url())

    @property
    def service_urls(self) -> list[str]:
        return [service.url() for service in self.services]

    @property
    def service_url(self) -> str:
        if not self.services:
            raise StackError("the stack runs no service replica (replicas=0)")
        return self.services[0].url()

    @property
    def postgres_tuned(self) -> bool:
        return bool(self._require(self.postgres, "postgres").tuned)

    def _all(self) -> dict[str, CappedContainer]:
        named: dict[str, CappedContainer] = {}
        if self.postgres is not None:
            named["postgres"] = self.postgres
        if self.redis is not None:
            named["redis"] = self.redis
        if self.pgbouncer is not None:
            named["pgbouncer"] = self.pgbouncer
        for index, service in enumerate(self.services):
            named[f"service-{index}"] = service
        return named

    def wait_ready(self, name: str) -> None:
        """Wait until container ``name`` (restarted behind the stack's back) answers again."""
        container = self._all().get(name)
        if container is None:
            raise StackError(f"no container {name!r} in the stack")
        _wait_ready(container, name)

    def docker_containers(self) -> dict[str, Any]:
        """docker-py containers keyed `postgres`, `redis`, (`pgbouncer`,) `service-0`, ..."""
        return {name: c.get_wrapped_container() for name, c in self._all().items()}

    def caps_bytes(self) -> dict[str, int]:
        """The memory cap of each container, keyed like `docker_containers()`."""
        return {name: c.mem_limit_bytes for name, c in self._all().items()}

    def copy_from(self, container_name: str, path_in_container: str, dest_dir: Path) -> Path:
        """Copy a file or folder out of a container (running or stopped) into `dest_dir`.

        Returns the path of the copy. Works after the container exited or was OOM-killed,
        as long as the stack has not been stopped.
        """
        containers = self.docker_containers()
        if container_name not in containers:
            raise StackError(
                f"no container {container_name!r} in the stack; have {', '.join(containers)}"
            )
        try:
            chunks, _ = containers[container_name].get_archive(path_in_container)
        except docker.errors.NotFound as error:
            raise StackError(f"{path_in_container} does not exist in {container_name}") from error
        archive = io.BytesIO(b"".join(chunks))
        dest_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=archive) as tar:
            tar.extractall(dest_dir, filter="data")
        return dest_dir / PurePosixPath(path_in_container).name

    def collect_traces(self, dest_dir: Path) -> list[Path]:
        """Copy every replica's span files into ``dest_dir/<replica>/``; return the files.

        A replica that wrote none (tracing off, or an image without it) adds nothing.
        """
        files: list[Path] = []
        for name in self.docker_containers():
            if not name.startswith("service-"):
                continue
            try:
                folder = self.copy_from(name, TRACES_DIR, dest_dir / name)
            except StackError:
                continue
            files += sorted(folder.glob("*.jsonl"))
        return files

    def describe(self) -> str:
        """How to reach the running stack (URLs, container names, how to remove it)."""
        lines = [f"TasteMatch stack {self.stack_id} (profile {self.profile}, "
                 f"regressions {','.join(sorted(self.regressions)) or 'none'})"]  # fmt: skip
        if self.postgres is not None:
            lines.append(f"  postgres  {self.postgres_url}")
            lines.append(f"            psql {self.postgres_libpq_url}")
        if self.redis is not None:
            lines.append(f"  redis     {self.redis_url}")
        if self.pgbouncer is not None:
            lines.append(
                f"  pgbouncer {self.pgbouncer_url} (transaction pooling, "
                f"{self.pgbouncer.pool_size} Postgres connections at most)"
            )
        for index, service in enumerate(self.services):
            lines.append(f"  service-{index} {service.url()}")
        names = [c.name for c in self._all().values()]
        lines.append(f"  containers: {' '.join(names)}")
        lines.append(f"  remove with: python -m containers remove {self.stack_id}")
        return "\n".join(lines)


def _database_url(host: str, port: int) -> str:
    """The service's SQLAlchemy URL of the database at ``host:port`` in the stack's network."""
    return f"postgresql+psycopg://{POSTGRES_USER}:{POSTGRES_PASSWORD}@{host}:{port}/{POSTGRES_DB}"


def leftovers(stack_id: str, client: docker.DockerClient | None = None) -> list[str]:
    """Names of the containers and networks of stack `stack_id` that still exist."""
    own_client = client is None
    client = client or docker.from_env()
    try:
        label = {"label": f"{STACK_LABEL}={stack_id}"}
        # The low-level listing: no inspect per container that could race a removal.
        listed = client.api.containers(all=True, filters=label)
        networks = client.api.networks(filters=label)
        return [str(c["Names"][0]).lstrip("/") for c in listed] + [str(n["Name"]) for n in networks]
    finally:
        if own_client:
            client.close()


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now (the engine then binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_all(containers: Sequence[CappedContainer]) -> None:
    """Start containers concurrently (each waits for its own readiness); raise the first error."""
    pool = ThreadPoolExecutor(max_workers=len(containers))
    try:
        futures = [pool.submit(container.start) for container in containers]
        errors = [future.exception() for future in futures]
    finally:
        # On Ctrl-C do not wait for the readiness loops: removing the containers ends them.
        pool.shutdown(wait=False, cancel_futures=True)
    failures = [error for error in errors if error is not None]
    if failures:
        message = "\n\n".join(str(error) for error in failures)
        raise StackError(message) from failures[0]


def remove_stack(stack_id: str) -> list[str]:
    """Force-remove the containers and networks of stack `stack_id` (e.g. one that
    `--keep-stack` left running); returns what could not be removed."""
    try:
        client = docker.from_env()
    except docker.errors.DockerException as error:
        return [f"stack {stack_id}: {error}"]
    problems = []
    label = {"label": f"{STACK_LABEL}={stack_id}"}
    try:
        for container in client.api.containers(all=True, filters=label):
            try:
                client.api.remove_container(container["Id"], force=True, v=True)
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as error:
                if error.status_code != 409:  # 409: its removal is already in progress
                    problems.append(f"{container['Names'][0]}: {error}")
        for network in client.api.networks(filters=label):
            try:
                client.api.remove_network(network["Id"])
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as error:
                problems.append(f"network {network['Name']}: {error}")
    finally:
        client.close()
    return problems


def _remove(container: CappedContainer) -> str | None:
    """Remove a container; the reason when that failed (None when removed or already gone)."""
    try:
        container.stop()
    except docker.errors.NotFound:
        return None
    except docker.errors.APIError as error:
        if error.status_code == 409:  # its removal is already in progress
            return None
        return f"{container.name}: {error}"
    return None


def _retune_postgres(postgres: PostgresContainer, tuned: bool) -> None:
    """Restart Postgres with the other configuration, keeping its data."""
    wrapped = postgres.get_wrapped_container()
    choice = "tuned" if tuned else "untuned"
    result = wrapped.exec_run(["sh", "-c", f'echo {choice} > "$PGDATA/tastematch-tuning"'])
    if result.exit_code != 0:
        raise StackError(f"could not switch Postgres to {choice}: {result.output!r}")
    postgres.tuned = tuned
    _restart_and_wait(postgres, f"postgres as {choice}")


def _restart_and_wait(container: CappedContainer, what: str) -> None:
    """Restart a container (it keeps its data; its host port changes) and wait for it."""
    container.get_wrapped_container().restart(timeout=30)
    _wait_ready(container, what)


def _wait_ready(container: CappedContainer, what: str) -> None:
    """Wait until a container that was restarted answers again (its port read anew)."""
    container.forget_port()
    try:
        container.readiness().wait_until_ready(container)
    except ContainerStartupError as error:
        raise StackError(f"{what} did not come back: {error}") from error
