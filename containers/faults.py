"""Faults injected into a running stack, one at a time, the way chaos tools do it.

Process faults go through the Docker API: ``kill`` (SIGKILL), ``pause`` (the cgroup
freezer: the process stalls, its sockets stay open) and ``stop``/``start``. Network
faults run a short-lived helper container (the ``netfault`` image: iptables and
iproute2's tc) inside the target's network namespace with ``NET_ADMIN``
(``--network container:<target>``, as Pumba does); the rule it adds stays in the
namespace until a second run removes it. This machine's kernel has no ``netem``
qdisc, so packet loss and partitions are iptables ``DROP`` rules (random ones with
``-m statistic``) and a slow link is tc's token bucket filter (``tbf``). A pool
exhausted by slow queries is a table lock held from outside: every query of the service
that touches the table waits behind it, holding its pooled connection, and the
requests after them wait for a connection.

Each fault has ``inject`` and ``heal``; ``heal`` returns once the target answers again
(a restarted container is waited for), so the time it returns is when recovery can
start. The stack must run with ``pinned_ports=True`` for faults that restart a
container: an ephemeral host port would change and the load would lose its target.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import psycopg

from containers.cleanup import STACK_LABEL
from containers.definitions import POSTGRES_PORT
from containers.errors import StackError
from containers.stack import Stack

__all__ = [
    "Fault",
    "FaultError",
    "Kill",
    "PacketDrop",
    "Pause",
    "Restart",
    "TableLock",
    "Throttle",
]


class FaultError(RuntimeError):
    """A fault could not be injected or healed (the stack is then in an unknown state)."""


@dataclass
class Fault:
    """One fault: what it does to which container of the stack, and for how long."""

    name: str
    #: The container it acts on, keyed like ``Stack.docker_containers()``.
    target: str
    description: str
    #: Seconds between the end of ``inject`` and the start of ``heal``.
    hold_s: float

    def inject(self, stack: Stack) -> None:
        raise NotImplementedError

    def heal(self, stack: Stack) -> None:
        raise NotImplementedError

    def _docker(self, stack: Stack) -> Any:
        containers = stack.docker_containers()
        if self.target not in containers:
            raise FaultError(
                f"{self.name}: no container {self.target!r} in the stack; "
                f"have {', '.join(containers)}"
            )
        return containers[self.target]

    def _wait_ready(self, stack: Stack) -> None:
        try:
            stack.wait_ready(self.target)
        except StackError as error:
            raise FaultError(f"{self.name}: {error}") from error


@dataclass
class Kill(Fault):
    """SIGKILL the target; healing starts it again (same container, same pinned port)."""

    def inject(self, stack: Stack) -> None:
        self._docker(stack).kill(signal="SIGKILL")

    def heal(self, stack: Stack) -> None:
        self._docker(stack).start()
        self._wait_ready(stack)


@dataclass
class Pause(Fault):
    """Freeze every process of the target (``docker pause``); healing thaws them."""

    def inject(self, stack: Stack) -> None:
        self._docker(stack).pause()

    def heal(self, stack: Stack) -> None:
        self._docker(stack).unpause()


@dataclass
class Restart(Kill):
    """Stop the target the way the engine does (its stop signal, then SIGKILL after
    ``stop_timeout_s``); healing starts it again and waits until it answers (as
    :class:`Kill`'s does)."""

    stop_timeout_s: int = 10

    def inject(self, stack: Stack) -> None:
        self._docker(stack).stop(timeout=self.stop_timeout_s)


def _netfault(stack: Stack, target: Any, script: str) -> None:
    """Run ``script`` (sh) in the netfault image inside ``target``'s network namespace.

    The image must be built (``ensure_images(("netfault",))``) before the stack is."""
    client = docker.from_env()
    try:
        client.containers.run(
            stack.images.netfault,
            ["sh", "-ec", script],
            network_mode=f"container:{target.id}",
            cap_add=["NET_ADMIN"],
            remove=True,
            labels={STACK_LABEL: stack.stack_id},
        )
    except docker.errors.ContainerError as error:
        stderr = error.stderr.decode(errors="replace").strip() if error.stderr else ""
        raise FaultError(f"netfault `{script}` failed: {stderr or error}") from error
    finally:
        client.close()


@dataclass
class PacketDrop(Fault):
    """Drop packets between the target and ``port`` (both ways), each with
    ``probability`` (1.0: a partition)."""

    port: int = POSTGRES_PORT
    probability: float = 1.0

    def _rules(self, action: str) -> str:
        chance = (
            ""
            if self.probability >= 1
            else f" -m statistic --mode random --probability {self.probability}"
        )
        return (
            f"iptables {action} OUTPUT -p tcp --dport {self.port}{chance} -j DROP && "
            f"iptables {action} INPUT -p tcp --sport {self.port}{chance} -j DROP"
        )

    def inject(self, stack: Stack) -> None:
        _netfault(stack, self._docker(stack), self._rules("-A"))

    def heal(self, stack: Stack) -> None:
        _netfault(stack, self._docker(stack), self._rules("-D"))


@dataclass
class Throttle(Fault):
    """Shape everything the target sends to ``rate`` (tc's token bucket filter on its
    ``eth0``): for Postgres, every result set the service reads."""

    rate: str = "1mbit"
    burst: str = "32kbit"
    latency: str = "500ms"

    def inject(self, stack: Stack) -> None:
        script = (
            f"tc qdisc add dev eth0 root tbf rate {self.rate} burst {self.burst} "
            f"latency {self.latency}"
        )
        _netfault(stack, self._docker(stack), script)

    def heal(self, stack: Stack) -> None:
        _netfault(stack, self._docker(stack), "tc qdisc del dev eth0 root")


@dataclass
class TableLock(Fault):
    """Hold ``ACCESS EXCLUSIVE`` locks on ``tables`` from a connection of our own for the
    fault's hold: the service's queries on them queue behind it, each holding a pooled
    connection, until the pool is exhausted and requests wait for one."""

    tables: tuple[str, ...] = ("restaurants",)
    _connection: psycopg.Connection[Any] | None = field(default=None, repr=False)

    def inject(self, stack: Stack) -> None:
        connection = psycopg.connect(stack.postgres_libpq_url, connect_timeout=5)
        try:
            connection.execute("SET lock_timeout = '5s'")
            connection.execute(f"LOCK TABLE {', '.join(self.tables)} IN ACCESS EXCLUSIVE MODE")
        except psycopg.Error as error:
            connection.close()
            raise FaultError(f"{self.name}: could not lock {self.tables}: {error}") from error
        self._connection = connection

    def heal(self, stack: Stack) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                connection.rollback()
            connection.close()
