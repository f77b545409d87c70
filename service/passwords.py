"""Password hashing and checking on a small thread pool of their own.

bcrypt at cost 12 takes about a quarter of a second of CPU. Run in the request threads
(``worker_threads``), a burst of logins would hold every one of them and starve the other
routes, ``/health`` included. Here at most ``threads`` hashes run at once, in threads of
their own; the other logins wait in this pool's queue (a waiting login whose client has
gone away is dropped from it) while the request threads keep serving everything else.

A dedicated ``ThreadPoolExecutor`` rather than anyio's worker threads behind a
``CapacityLimiter``: its threads are named (``tastematch-bcrypt``) in thread dumps and
profiles, it is shut down with the app, and it holds its threads whatever anyio's default
limiter is set to.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from concurrent.futures import Future, ThreadPoolExecutor

from service.security import hash_password, verify_password

__all__ = ["PasswordHasher"]


class PasswordHasher:
    """bcrypt on ``threads`` threads of its own, at cost ``rounds`` for new hashes."""

    def __init__(self, *, threads: int, rounds: int) -> None:
        self.rounds = rounds
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

    async def hash(self, password: str) -> str:
        """A bcrypt hash of ``password`` at cost ``rounds``, computed in the pool."""
        job = functools.partial(hash_password, password, rounds=self.rounds)
        return await asyncio.get_running_loop().run_in_executor(self._executor, job)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Whether ``password`` matches ``password_hash``, checked in the pool.

        ``None`` (no such account) is checked against the dummy hash and never matches.
        """
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self.verify_now, password, password_hash
        )

    def verify_now(self, password: str, password_hash: str | None) -> bool:
        """``verify`` in the calling thread."""
        if password_hash is None:
            verify_password(password, self.dummy_hash)
            return False
        return verify_password(password, password_hash)

    def close(self) -> None:
        """Stop the threads; jobs still queued are cancelled."""
        self._executor.shutdown(wait=False, cancel_futures=True)
