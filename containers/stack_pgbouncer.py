"""A stack's PgBouncer wiring: `PgBouncerWiring`, between `StackContainers` and
`containers.stack.Stack`, starts PgBouncer after Postgres (at start-up with
`Stack(pgbouncer=True)`, or on a running stack with `add_pgbouncer`), removes it again,
and gives the replicas' settings that connect them through it (`through_pgbouncer`).
"""

from __future__ import annotations

import dataclasses

from containers.cleanup import remove_container
from containers.definitions import PGBOUNCER_POOL_SIZE, PGBOUNCER_PORT, PgBouncerContainer
from containers.errors import StackError
from containers.images import ensure_images
from containers.replicas import database_url
from containers.stack_containers import StackContainers
from containers.startup import start_all

__all__ = ["PgBouncerWiring"]


class PgBouncerWiring(StackContainers):
    """Starts, adds and removes the stack's PgBouncer; `Stack` sets the state."""

    pgbouncer_pool_size: int

    def _start_pgbouncer(self) -> None:
        assert self._images is not None
        # After Postgres: its readiness check is a query through it.
        self.pgbouncer = PgBouncerContainer(
            self._images.pgbouncer,
            pool_size=self.pgbouncer_pool_size,
            **self._container_kwargs("pgbouncer", "pgbouncer"),
        )
        start_all([self.pgbouncer])

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
        problem = remove_container(self.pgbouncer)
        self.pgbouncer = None
        if problem is not None:
            raise StackError(f"could not remove: {problem}")

    def through_pgbouncer(self) -> dict[str, str]:
        """The replicas' settings that connect them through the stack's PgBouncer."""
        return {
            "TASTEMATCH_DATABASE_URL": database_url("pgbouncer", PGBOUNCER_PORT),
            "TASTEMATCH_TRANSACTION_POOLER": "true",
        }
