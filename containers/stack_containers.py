"""The containers of a stack and how callers reach them: `StackContainers`, the base of
`containers.stack.Stack`, holds the containers a started stack runs, the settings every
one of them is created with (name, memory cap, network alias, label, host port), and
what callers use on a running stack: URLs on 127.0.0.1, the docker-py containers and
their caps, waiting for a container restarted behind the stack's back, copying files
(a memray capture, span files) out, and a description of how to reach it all.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

import docker.errors
from testcontainers.core.network import Network

from containers.cleanup import STACK_LABEL
from containers.definitions import (
    CappedContainer,
    PgBouncerContainer,
    PostgresContainer,
    RedisContainer,
    ServiceContainer,
)
from containers.errors import StackError
from containers.images import ImageSet
from containers.ports import free_port
from containers.replicas import TRACES_DIR
from containers.startup import wait_restarted
from service.regressions import Regression

__all__ = ["StackContainers"]


class StackContainers:
    """A stack's containers and how to reach them; `Stack` sets the state and runs them."""

    profile: str
    regressions: frozenset[Regression]
    stack_id: str
    mem_limit_bytes: int
    mem_limits: dict[str, int]
    pinned_ports: bool
    _images: ImageSet | None
    _network: Network | None
    postgres: PostgresContainer | None
    redis: RedisContainer | None
    pgbouncer: PgBouncerContainer | None
    services: list[ServiceContainer]

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
        wait_restarted(container, name)

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
