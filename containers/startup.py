"""Starting and restarting a stack's containers and waiting until they answer:
`start_all` starts several at once (each waits for its own readiness),
`restart_and_wait` and `wait_restarted` bring back one that was restarted, and
`retune_postgres` restarts Postgres with the other configuration. Failures raise
`StackError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from containers.definitions import CappedContainer, ContainerStartupError, PostgresContainer
from containers.errors import StackError

__all__ = ["restart_and_wait", "retune_postgres", "start_all", "wait_restarted"]


def start_all(containers: Sequence[CappedContainer]) -> None:
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


def retune_postgres(postgres: PostgresContainer, tuned: bool) -> None:
    """Restart Postgres with the other configuration, keeping its data."""
    wrapped = postgres.get_wrapped_container()
    choice = "tuned" if tuned else "untuned"
    result = wrapped.exec_run(["sh", "-c", f'echo {choice} > "$PGDATA/tastematch-tuning"'])
    if result.exit_code != 0:
        raise StackError(f"could not switch Postgres to {choice}: {result.output!r}")
    postgres.tuned = tuned
    restart_and_wait(postgres, f"postgres as {choice}")


def restart_and_wait(container: CappedContainer, what: str) -> None:
    """Restart a container (it keeps its data; its host port changes) and wait for it."""
    container.get_wrapped_container().restart(timeout=30)
    wait_restarted(container, what)


def wait_restarted(container: CappedContainer, what: str) -> None:
    """Wait until a container that was restarted answers again (its port read anew)."""
    container.forget_port()
    try:
        container.readiness().wait_until_ready(container)
    except ContainerStartupError as error:
        raise StackError(f"{what} did not come back: {error}") from error
