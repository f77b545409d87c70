"""Cache-aside storage for restaurant metadata and per-user recommendations.

Three backends share one interface (:mod:`service.cache_backends`): Redis (shared by every
replica — the default), a per-process dictionary (regression R7) and no cache at all (R3).
``CacheClient`` wraps a backend so that an unreachable Redis behaves like a miss: the error
is counted, logged once when Redis goes away (and once when it is back), and Redis is not
retried for a short while.

Per-user entries live in one hash per user, so that placing an order invalidates all of them
with one atomic script. The hash also holds a generation token: a recommendation computed
from data read before an invalidation is not written back (no stale write-after-invalidate).
Every entry carries its own expiry time and names the replica that wrote it
(:mod:`service.cache_entries`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import anyio.to_thread
import redis

from service import metrics
from service.cache_backends import Backend
from service.cache_entries import record_hit, unwrap, wrap
from service.near_cache import NearCache

__all__ = ["CacheClient"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Unavailable(Exception):
    """The backend failed or is being left alone for a while."""


class CacheClient:
    """Cache-aside operations with metrics, stampede protection and graceful failure."""

    #: After a failure, Redis is not retried for this long (requests count errors meanwhile).
    RETRY_AFTER_S = 2.0
    #: Users whose invalidation Redis missed, kept until it answers again (then settled
    #: before anything is read from it). Past this many, the oldest are dropped, logged.
    MAX_PENDING_INVALIDATIONS = 10_000
    #: How long a stampede lock is held at most, and how long others wait for its result.
    LOCK_TTL_MS = 5000
    WAIT_FOR_OTHERS_S = 1.0
    _POLL_S = 0.02

    def __init__(
        self, backend: Backend, *, namespace: Callable[[], str], near: NearCache | None = None
    ) -> None:
        self.backend = backend
        #: This process's copy of the user entries it read (:mod:`service.near_cache`).
        self.near = near
        self._namespace = namespace
        self._down_until = 0.0
        self._down = False
        self._state_lock = threading.Lock()
        self._inflight: dict[str, threading.Lock] = {}
        self._pending_invalidations: dict[str, int] = {}  # user key -> its entries' TTL

    # -- keys -----------------------------------------------------------------------------
    def key(self, *parts: object) -> str:
        """A key in the current dataset's namespace (a reseed starts a fresh namespace)."""
        return ":".join(["tm", self._namespace(), *map(str, parts)])

    # -- failure handling -------------------------------------------------------------------
    def _call(self, operation: Callable[[], T]) -> T:
        if self._down and time.monotonic() < self._down_until:
            raise _Unavailable
        try:
            if self._pending_invalidations:
                # Redis may hold entries from before orders it never heard of: drop them
                # before anything can be read from it.
                self._settle_invalidations()
            result = operation()
        except (redis.RedisError, OSError) as error:
            self._went_down(error)
            raise _Unavailable from error
        if self._down:
            with self._state_lock:
                if self._down:
                    self._down = False
                    log.warning("cache reachable again")
        return result

    def _went_down(self, error: Exception) -> None:
        """Open the breaker: Redis is left alone for ``RETRY_AFTER_S``."""
        with self._state_lock:
            self._down_until = time.monotonic() + self.RETRY_AFTER_S
            if self.near is not None:  # changes made meanwhile may go unheard
                self.near.clear()
            if not self._down:
                self._down = True
                log.warning("cache unavailable, answering from the database: %s", error)

    # -- plain entries (restaurant metadata) ----------------------------------------------
    def get_many(self, cache: metrics.CacheName, keys: Sequence[str]) -> list[bytes | None]:
        """Values of ``keys`` (``None`` for a miss); each key counts as one look-up."""
        try:
            stored = self._call(lambda: self.backend.mget(keys))
        except _Unavailable:
            for _ in keys:
                metrics.record_cache(cache, "error")
            return [None] * len(keys)
        found = [unwrap(value) for value in stored]
        for raw, value in zip(stored, found, strict=True):
            if value is None:
                metrics.record_cache(cache, "miss")
            else:
                record_hit(cache, raw)
        return found

    def put_many(self, items: Mapping[str, bytes], ttl_s: int) -> None:
        """Store ``items`` for ``ttl_s`` seconds (silently skipped when unavailable)."""
        if not items:
            return
        wrapped = {key: wrap(value, ttl_s) for key, value in items.items()}
        with contextlib.suppress(_Unavailable):
            self._call(lambda: self.backend.set_many(wrapped, ttl_s))

    def get_or_compute(
        self, cache: metrics.CacheName, key: str, compute: Callable[[], bytes], ttl_s: int
    ) -> bytes:
        """The cached value of ``key``, or ``compute()`` stored under it.

        Concurrent misses for one key compute once: in this process through a lock, across
        processes through a short Redis lock whose holder the others wait for.
        """
        (value,) = self.get_many(cache, [key])
        if value is not None:
            return value
        with self._single_flight(key):
            return self._fill(key, compute, ttl_s)

    def _fill(self, key: str, compute: Callable[[], bytes], ttl_s: int) -> bytes:
        cached = self._value_or_lock(key, lambda: self._peek(key))
        if cached is not None:
            return cached
        try:
            value = compute()
            self.put_many({key: value}, ttl_s)
            return value
        finally:
            self._unlock(key)

    def _peek(self, key: str) -> bytes | None:
        return unwrap(self.backend.mget([key])[0])

    # -- per-user entries (recommendations) -------------------------------------------------
    def get_user_entry(
        self,
        cache: metrics.CacheName,
        user_key: str,
        field: str,
        compute: Callable[[], Mapping[str, bytes]],
        ttl_s: int,
        *,
        refresh: bool = False,
        looked: tuple[bytes | None, str] | None = None,
    ) -> tuple[bytes, bool]:
        """``(value, from_cache)`` of one entry of a user's hash, computing it on a miss.

        ``compute`` returns the entry ``field`` and any sibling entries the same work
        produced; all are stored. With ``refresh`` the cached value is ignored (and replaced).
        ``looked`` is what a read of the entry just found (``(stored, generation)``, from
        :meth:`get_user_entry_async`): it is not read again.
        """
        try:
            stored, gen = (
                looked
                if looked is not None
                else self._call(lambda: self.backend.hget_with_gen(user_key, field))
            )
        except _Unavailable:
            metrics.record_cache(cache, "error")
            return compute()[field], False
        value = None if refresh else unwrap(stored)
        if value is not None:
            record_hit(cache, stored)
            return value, True
        metrics.record_cache(cache, "miss")
        lock_key = f"{user_key}:{field}"
        with self._single_flight(lock_key):
            if not refresh:
                cached = self._value_or_lock(
                    lock_key, lambda: unwrap(self.backend.hget_with_gen(user_key, field)[0])
                )
                if cached is not None:
                    return cached, True
            try:
                entries = compute()
                wrapped = {name: wrap(body, ttl_s) for name, body in entries.items()}
                with contextlib.suppress(_Unavailable):
                    self._call(lambda: self.backend.hset_if_gen(user_key, wrapped, gen, ttl_s))
                if self.near is not None:  # before Redis' announcement of the write arrives
                    self.near.drop([user_key])
                return entries[field], False
            finally:
                if not refresh:
                    self._unlock(lock_key)

    async def get_user_entry_async(
        self,
        cache: metrics.CacheName,
        user_key: str,
        field: str,
        compute: Callable[[], Mapping[str, bytes]],
        ttl_s: int,
        *,
        refresh: bool = False,
    ) -> bytes:
        """:meth:`get_user_entry` for the event loop: a hit is read without a thread.

        The read runs on the loop (``hget_with_gen_async``); a miss, a refresh, a failed
        read and any state the breaker handles (Redis down, invalidations to settle first)
        go to a worker thread, to the very path of :meth:`get_user_entry`, given what was
        read so that the Redis commands per request stay the same.
        """
        looked: tuple[bytes | None, str] | None = None
        if not self._down and not self._pending_invalidations:
            near = self.near
            if near is not None and not refresh:
                stored = near.get(user_key, field)
                value = unwrap(stored)
                if value is not None:
                    record_hit(cache, stored)
                    return value
            token = near.begin(user_key) if near is not None else 0
            kept: bytes | None = None
            try:
                looked = await self.backend.hget_with_gen_async(user_key, field)
            except (redis.RedisError, OSError):
                # A busy loop or a full pool fails here too, with Redis well: the thread
                # path reads again, and opens the breaker if Redis fails it as well.
                looked = None
            else:
                value = None if refresh else unwrap(looked[0])
                if value is not None:
                    kept = looked[0]
                    record_hit(cache, kept)
                    return value
            finally:
                if near is not None:
                    if kept is not None:
                        near.put(user_key, field, kept, token)
                    else:
                        near.end(user_key)
        body, _ = await anyio.to_thread.run_sync(
            functools.partial(
                self.get_user_entry,
                cache,
                user_key,
                field,
                compute,
                ttl_s,
                refresh=refresh,
                looked=looked,
            )
        )
        return body

    def invalidate_user(self, user_key: str, ttl_s: int) -> None:
        """Drop every entry of a user's hash at once, and fence off in-flight writes.

        While Redis cannot be reached the invalidation is kept, and carried out before
        Redis is used again: entries from before the change are never served after it.
        """
        try:
            self._call(lambda: self.backend.invalidate(user_key, ttl_s))
            if self.near is not None:  # before Redis' announcement of it arrives
                self.near.drop([user_key])
        except _Unavailable:
            with self._state_lock:
                self._pending_invalidations.pop(user_key, None)
                self._pending_invalidations[user_key] = ttl_s
                if len(self._pending_invalidations) > self.MAX_PENDING_INVALIDATIONS:
                    dropped = next(iter(self._pending_invalidations))
                    del self._pending_invalidations[dropped]
                    log.error("too many invalidations pending; %s is served until its TTL", dropped)

    def _settle_invalidations(self) -> None:
        """Carry out the pending invalidations; raises the backend's error if it fails."""
        with self._state_lock:
            pending = list(self._pending_invalidations.items())
        for user_key, ttl_s in pending:
            self.backend.invalidate(user_key, ttl_s)
            with self._state_lock:
                if self._pending_invalidations.get(user_key) == ttl_s:
                    del self._pending_invalidations[user_key]
        if pending:
            log.warning("cache: %d invalidation(s) missed while down, done now", len(pending))

    def status(self) -> str:
        """``connected``, or why the cache is not used now. While the breaker is open this
        answers at once, without waiting on Redis."""
        try:
            self._call(self.backend.ping)
        except _Unavailable as unavailable:
            cause = unavailable.__cause__
            if cause is None:
                wait_s = max(0.0, self._down_until - time.monotonic())
                return f"unreachable: not retried for another {wait_s:.1f} s"
            lines = str(cause).strip().splitlines()
            return f"unreachable: {type(cause).__name__}: {lines[0] if lines else ''}"
        return "connected"

    # -- stampede protection --------------------------------------------------------------
    def _single_flight(self, key: str) -> threading.Lock:
        with self._state_lock:
            lock = self._inflight.get(key)
            if lock is None:
                if len(self._inflight) > 10_000:  # keep the registry from growing forever
                    self._inflight = {k: v for k, v in self._inflight.items() if v.locked()}
                lock = self._inflight[key] = threading.Lock()
            return lock

    def _value_or_lock(self, name: str, peek: Callable[[], bytes | None]) -> bytes | None:
        """A value another process just stored, or ``None`` once we hold the lock on ``name``.

        Waits at most ``WAIT_FOR_OTHERS_S`` for the holder of the lock; after that (or when
        the cache is unavailable) the caller computes without the lock.
        """
        lock_key = f"{name}:lock"
        try:
            if self._call(lambda: self.backend.try_lock(lock_key, self.LOCK_TTL_MS)):
                # A value may have arrived between our first look and taking the lock.
                value = self._call(peek)
                if value is not None:
                    self._unlock(name)
                return value
            deadline = time.monotonic() + self.WAIT_FOR_OTHERS_S
            while time.monotonic() < deadline:
                time.sleep(self._POLL_S)
                value = self._call(peek)
                if value is not None:
                    return value
        except _Unavailable:
            return None
        return None

    def _unlock(self, name: str) -> None:
        with contextlib.suppress(_Unavailable):
            self._call(lambda: self.backend.unlock(f"{name}:lock"))
