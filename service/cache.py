"""Cache-aside storage for restaurant metadata and per-user recommendations.

Three backends share one interface: Redis (shared by every replica — the default), a
per-process dictionary (regression R7) and no cache at all (R3). ``CacheClient`` wraps a
backend so that an unreachable Redis behaves like a miss: the error is counted, logged once
when Redis goes away (and once when it is back), and Redis is not retried for a short while.

Per-user entries live in one hash per user, so that placing an order invalidates all of them
with one atomic script. The hash also holds a generation token: a recommendation computed
from data read before an invalidation is not written back (no stale write-after-invalidate).
Every entry carries its own expiry time, so a TTL holds per entry even though the hash is
shared, and names the replica that wrote it (its host name): a hit is counted as served
from an entry this replica or another one computed, the proof that the cache is shared.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from service import metrics

__all__ = ["CacheClient", "LocalBackend", "NullBackend", "RedisBackend"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Every stored value starts with its expiry time and the writing replica's id.
_HEADER = struct.Struct("<d8s")
_GEN_FIELD = "gen"
#: This replica (container), as it signs the entries it writes: its worker processes share it.
REPLICA_ID = hashlib.blake2b(socket.gethostname().encode(), digest_size=8).digest()


def _wrap(value: bytes, ttl_s: float) -> bytes:
    return _HEADER.pack(time.time() + ttl_s, REPLICA_ID) + value


def _unwrap(stored: bytes | None) -> bytes | None:
    """The value of a stored entry, ``None`` when it is missing or expired."""
    if stored is None or len(stored) < _HEADER.size:
        return None
    expires_at, _ = _HEADER.unpack_from(stored)
    return stored[_HEADER.size :] if expires_at > time.time() else None


def _record_hit(cache: metrics.CacheName, stored: bytes | None) -> None:
    """Count a hit on ``stored`` (an unexpired entry), by the replica that wrote it."""
    metrics.record_cache(cache, "hit")
    if stored is not None and len(stored) >= _HEADER.size:
        _, writer = _HEADER.unpack_from(stored)
        metrics.record_cache_writer(cache, this_replica=writer == REPLICA_ID)


class Backend(Protocol):
    """Raw storage; methods may raise ``redis.RedisError`` or ``OSError``."""

    def mget(self, keys: Sequence[str]) -> list[bytes | None]: ...
    def set_many(self, items: Mapping[str, bytes], ttl_s: int) -> None: ...
    def hget_with_gen(self, key: str, field: str) -> tuple[bytes | None, str]: ...
    def hset_if_gen(self, key: str, entries: Mapping[str, bytes], gen: str, ttl_s: int) -> bool: ...
    def invalidate(self, key: str, ttl_s: int) -> None: ...
    def try_lock(self, key: str, ttl_ms: int) -> bool: ...
    def unlock(self, key: str) -> None: ...
    def ping(self) -> bool: ...


_SET_IF_GEN = """
if (redis.call('HGET', KEYS[1], 'gen') or '') ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

_INVALIDATE = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'gen', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


def _as_bytes(value: bytes | str | None) -> bytes | None:
    # The client is built without decode_responses, so values arrive as bytes.
    return value.encode() if isinstance(value, str) else value


class RedisBackend:
    """Storage in Redis, shared by every replica."""

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self.client: redis.Redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            health_check_interval=30,
            # One attempt: a failed call costs at most one timeout, and the circuit
            # breaker (CacheClient) decides when to try again, not a retry loop.
            retry=Retry(NoBackoff(), 0),
        )
        self._set_if_gen = self.client.register_script(_SET_IF_GEN)
        self._invalidate = self.client.register_script(_INVALIDATE)

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        return [_as_bytes(value) for value in self.client.mget(keys)] if keys else []

    def set_many(self, items: Mapping[str, bytes], ttl_s: int) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(key, value, ex=ttl_s)
        pipe.execute()

    def hget_with_gen(self, key: str, field: str) -> tuple[bytes | None, str]:
        value, gen = self.client.hmget(key, [field, _GEN_FIELD])
        gen_bytes = _as_bytes(gen)
        return _as_bytes(value), gen_bytes.decode() if gen_bytes else ""

    def hset_if_gen(self, key: str, entries: Mapping[str, bytes], gen: str, ttl_s: int) -> bool:
        pairs = [part for field, value in entries.items() for part in (field, value)]
        return bool(self._set_if_gen(keys=[key], args=[gen, ttl_s, *pairs]))

    def invalidate(self, key: str, ttl_s: int) -> None:
        self._invalidate(keys=[key], args=[uuid.uuid4().hex, ttl_s])

    def try_lock(self, key: str, ttl_ms: int) -> bool:
        return bool(self.client.set(key, b"1", nx=True, px=ttl_ms))

    def unlock(self, key: str) -> None:
        self.client.delete(key)

    def ping(self) -> bool:
        return bool(self.client.ping())

    def close(self) -> None:
        self.client.close()


class LocalBackend:
    """A dictionary in this process (regression R7): invisible to the other replicas."""

    def __init__(self) -> None:
        self._values: dict[str, bytes] = {}
        self._hashes: dict[str, dict[str, bytes]] = {}
        self._gens: dict[str, str] = {}
        self._locks: set[str] = set()
        self._mutex = threading.Lock()

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        with self._mutex:
            return [self._values.get(key) for key in keys]

    def set_many(self, items: Mapping[str, bytes], ttl_s: int) -> None:
        with self._mutex:
            self._values.update(items)

    def hget_with_gen(self, key: str, field: str) -> tuple[bytes | None, str]:
        with self._mutex:
            return self._hashes.get(key, {}).get(field), self._gens.get(key, "")

    def hset_if_gen(self, key: str, entries: Mapping[str, bytes], gen: str, ttl_s: int) -> bool:
        with self._mutex:
            if self._gens.get(key, "") != gen:
                return False
            self._hashes.setdefault(key, {}).update(entries)
            return True

    def invalidate(self, key: str, ttl_s: int) -> None:
        with self._mutex:
            self._hashes.pop(key, None)
            self._gens[key] = uuid.uuid4().hex

    def try_lock(self, key: str, ttl_ms: int) -> bool:
        with self._mutex:
            if key in self._locks:
                return False
            self._locks.add(key)
            return True

    def unlock(self, key: str) -> None:
        with self._mutex:
            self._locks.discard(key)

    def ping(self) -> bool:
        return True


class NullBackend:
    """No cache (regression R3): every look-up misses and nothing is stored."""

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        return [None] * len(keys)

    def set_many(self, items: Mapping[str, bytes], ttl_s: int) -> None:
        return None

    def hget_with_gen(self, key: str, field: str) -> tuple[bytes | None, str]:
        return None, ""

    def hset_if_gen(self, key: str, entries: Mapping[str, bytes], gen: str, ttl_s: int) -> bool:
        return False

    def invalidate(self, key: str, ttl_s: int) -> None:
        return None

    def try_lock(self, key: str, ttl_ms: int) -> bool:
        return True

    def unlock(self, key: str) -> None:
        return None

    def ping(self) -> bool:
        return True


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

    def __init__(self, backend: Backend, *, namespace: Callable[[], str]) -> None:
        self.backend = backend
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
            with self._state_lock:
                self._down_until = time.monotonic() + self.RETRY_AFTER_S
                if not self._down:
                    self._down = True
                    log.warning("cache unavailable, answering from the database: %s", error)
            raise _Unavailable from error
        if self._down:
            with self._state_lock:
                if self._down:
                    self._down = False
                    log.warning("cache reachable again")
        return result

    # -- plain entries (restaurant metadata) ----------------------------------------------
    def get_many(self, cache: metrics.CacheName, keys: Sequence[str]) -> list[bytes | None]:
        """Values of ``keys`` (``None`` for a miss); each key counts as one look-up."""
        try:
            stored = self._call(lambda: self.backend.mget(keys))
        except _Unavailable:
            for _ in keys:
                metrics.record_cache(cache, "error")
            return [None] * len(keys)
        found = [_unwrap(value) for value in stored]
        for raw, value in zip(stored, found, strict=True):
            if value is None:
                metrics.record_cache(cache, "miss")
            else:
                _record_hit(cache, raw)
        return found

    def put_many(self, items: Mapping[str, bytes], ttl_s: int) -> None:
        """Store ``items`` for ``ttl_s`` seconds (silently skipped when unavailable)."""
        if not items:
            return
        wrapped = {key: _wrap(value, ttl_s) for key, value in items.items()}
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
        return _unwrap(self.backend.mget([key])[0])

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
    ) -> tuple[bytes, bool]:
        """``(value, from_cache)`` of one entry of a user's hash, computing it on a miss.

        ``compute`` returns the entry ``field`` and any sibling entries the same work
        produced; all are stored. With ``refresh`` the cached value is ignored (and replaced).
        """
        try:
            stored, gen = self._call(lambda: self.backend.hget_with_gen(user_key, field))
        except _Unavailable:
            metrics.record_cache(cache, "error")
            return compute()[field], False
        value = None if refresh else _unwrap(stored)
        if value is not None:
            _record_hit(cache, stored)
            return value, True
        metrics.record_cache(cache, "miss")
        lock_key = f"{user_key}:{field}"
        with self._single_flight(lock_key):
            if not refresh:
                cached = self._value_or_lock(
                    lock_key, lambda: _unwrap(self.backend.hget_with_gen(user_key, field)[0])
                )
                if cached is not None:
                    return cached, True
            try:
                entries = compute()
                wrapped = {name: _wrap(body, ttl_s) for name, body in entries.items()}
                with contextlib.suppress(_Unavailable):
                    self._call(lambda: self.backend.hset_if_gen(user_key, wrapped, gen, ttl_s))
                return entries[field], False
            finally:
                if not refresh:
                    self._unlock(lock_key)

    def invalidate_user(self, user_key: str, ttl_s: int) -> None:
        """Drop every entry of a user's hash at once, and fence off in-flight writes.

        While Redis cannot be reached the invalidation is kept, and carried out before
        Redis is used again: entries from before the change are never served after it.
        """
        try:
            self._call(lambda: self.backend.invalidate(user_key, ttl_s))
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
