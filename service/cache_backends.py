"""The cache's raw storage: one ``Backend`` interface and its three implementations.

Redis (shared by every replica — the default), a per-process dictionary (regression R7)
and no cache at all (R3). Per-user entries live in one hash per user, so that placing an
order invalidates all of them with one atomic script; the hash also holds a generation
token, and an entry is written back only while the token is the one read before computing.
:class:`service.cache.CacheClient` wraps a backend with metrics and failure handling.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Protocol

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["ASYNC_POOL_SIZE", "Backend", "LocalBackend", "NullBackend", "RedisBackend"]

_GEN_FIELD = "gen"
#: Connections of the event loop's Redis client, per process.
ASYNC_POOL_SIZE = 32


class Backend(Protocol):
    """Raw storage; methods may raise ``redis.RedisError`` or ``OSError``."""

    def mget(self, keys: Sequence[str]) -> list[bytes | None]: ...
    def set_many(self, items: Mapping[str, bytes], ttl_s: int) -> None: ...
    def hget_with_gen(self, key: str, field: str) -> tuple[bytes | None, str]: ...
    async def hget_with_gen_async(self, key: str, field: str) -> tuple[bytes | None, str]: ...
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


def _with_gen(values: Sequence[bytes | str | None]) -> tuple[bytes | None, str]:
    value, gen = values
    gen_bytes = _as_bytes(gen)
    return _as_bytes(value), gen_bytes.decode() if gen_bytes else ""


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
        # The same settings for reads on the event loop (a cache hit needs no thread), from
        # a bounded pool: a burst of requests queues for a connection instead of opening
        # one each. Each command holds one for at most ``timeout_s``, so the wait is bounded
        # by the queue; failing over to threads under load would only add work.
        self.async_client: redis.asyncio.Redis = redis.asyncio.Redis(
            connection_pool=redis.asyncio.BlockingConnectionPool.from_url(
                url,
                max_connections=ASYNC_POOL_SIZE,
                timeout=None,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                health_check_interval=30,
                retry=AsyncRetry(NoBackoff(), 0),
            )
        )

    def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        return [_as_bytes(value) for value in self.client.mget(keys)] if keys else []

    def set_many(self, items: Mapping[str, bytes], ttl_s: int) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key, value in items.items():
            pipe.set(key, value, ex=ttl_s)
        pipe.execute()

    def hget_with_gen(self, key: str, field: str) -> tuple[bytes | None, str]:
        return _with_gen(self.client.hmget(key, [field, _GEN_FIELD]))

    async def hget_with_gen_async(self, key: str, field: str) -> tuple[bytes | None, str]:
        return _with_gen(await self.async_client.hmget(key, [field, _GEN_FIELD]))

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

    async def close_async(self) -> None:
        await self.async_client.aclose()
        await self.async_client.connection_pool.disconnect()


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

    async def hget_with_gen_async(self, key: str, field: str) -> tuple[bytes | None, str]:
        return self.hget_with_gen(key, field)

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

    async def hget_with_gen_async(self, key: str, field: str) -> tuple[bytes | None, str]:
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
