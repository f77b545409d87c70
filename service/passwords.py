"""Password hashing and checking on a small thread pool of their own.

bcrypt at cost 12 takes about a quarter of a second of CPU. Run in the request threads
(``worker_threads``), a burst of logins would hold every one of them and starve the other
routes, ``/health`` included. Here at most ``threads`` hashes run at once, in threads of
their own; the other logins wait in this pool's queue while the request threads keep
serving everything else. The queue is bounded: past ``max_waiting`` jobs waiting for a
thread, a new one is refused at once (``HashQueueFull``; the routes answer 503 with
``Retry-After``) instead of adding memory and latency without end under a flood from many
addresses, which the per-address limits do not stop.

A job holds its place from submission until it ends. One whose awaiting task is cancelled
before it starts is dropped and gives its place back at once. uvicorn does not cancel a
request whose client has gone away, though: that login's check still runs, and holds its
place until it ends.

A dedicated ``ThreadPoolExecutor`` rather than anyio's worker threads behind a
``CapacityLimiter``: its threads are named (``tastematch-bcrypt``) in thread dumps and
profiles, it is shut down with the app, and it holds its threads whatever anyio's default
limiter is set to.
"""

from __future__ import annotations

import asyncio
import functools
import math
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from service import metrics
from service.security import hash_password, verify_password

__all__ = ["HashQueueFull", "PasswordHasher"]

T = TypeVar("T")

#: About what one bcrypt check at cost 12 takes on one core, for ``Retry-After``.
_SECONDS_PER_JOB = 0.25


class HashQueueFull(Exception):
    """Every hashing thread is busy and ``max_waiting`` jobs already wait for one."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many logins in progress; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class PasswordHasher:
    """bcrypt on ``threads`` threads of its own, at cost ``rounds`` for new hashes, with
    at most ``max_waiting`` jobs waiting for a thread."""

    def __init__(self, *, threads: int, rounds: int, max_waiting: int = 32) -> None:
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be 0 or more, not {max_waiting}")
        self.rounds = rounds
        self._threads = threads
        #: Jobs submitted and not finished (running or waiting); guarded by ``_lock``.
        self._in_flight = 0
        self._capacity = threads + max_waiting
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="tastematch-bcrypt"
        )
        # Checked against when an email has no account, so that such a login costs what
        # a wrong password costs: its timing does not tell whether the account exists.
        # Computed by the pool's first thread while the app starts (the first job, so it
        # is under way before any check that needs it).
        self._dummy_hash: Future[str] = self._executor.submit(
            hash_password, secrets.token_urlsafe(24), rounds=rounds
        )

    @property
    def dummy_hash(self) -> str:
        """The hash an unknown account's login is checked against (cost ``rounds``)."""
        return self._dummy_hash.result()

    @property
    def in_flight(self) -> int:
        """Jobs running or waiting for a thread now."""
        with self._lock:
            return self._in_flight

    async def hash(self, password: str) -> str:
        """A bcrypt hash of ``password`` at cost ``rounds``, computed in the pool;
        ``HashQueueFull`` when the queue is full."""
        return await self._run(functools.partial(hash_password, password, rounds=self.rounds))

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Whether ``password`` matches ``password_hash``, checked in the pool;
        ``HashQueueFull`` when the queue is full.

        ``None`` (no such account) is checked against the dummy hash and never matches.
        """
        return await self._run(functools.partial(self.verify_now, password, password_hash))

    async def _run(self, job: Callable[[], T]) -> T:
        """``job`` in the pool, if a place is free. The place is given back when the job
        ends, or when it is cancelled before it started (its awaiting task was)."""
        with self._lock:
            if self._in_flight >= self._capacity:
                waiting = self._in_flight - self._threads
                retry_after_s = max(1, math.ceil(waiting * _SECONDS_PER_JOB / self._threads))
                metrics.PASSWORD_QUEUE_REFUSALS.inc()
                raise HashQueueFull(retry_after_s)
            self._in_flight += 1
        try:
            submitted = self._executor.submit(job)
        except BaseException:
            self._release()
            raise
        submitted.add_done_callback(lambda _: self._release())
        # Cancelling the awaiting task cancels the job if it has not started yet.
        return await asyncio.wrap_future(submitted)

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def verify_now(self, password: str, password_hash: str | None) -> bool:
        """``verify`` in the calling thread."""
        if password_hash is None:
            verify_password(password, self.dummy_hash)
            return False
        return verify_password(password, password_hash)

    def close(self) -> None:
        """Stop the threads; jobs still queued are cancelled."""
        self._executor.shutdown(wait=False, cancel_futures=True)
