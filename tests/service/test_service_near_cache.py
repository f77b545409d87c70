"""The near cache (``service.near_cache``): its bookkeeping alone, then against a real Redis.

A repeat hit is answered from the process's copy without a Redis command; a change to
the key made by anyone (another replica's invalidation, ``FLUSHDB``) reaches the copy
through Redis' announcements; while the announcing connection is down the copy is empty
and unused, and it is filled again once the connection is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import anyio
import pytest
import redis

from service.cache import CacheClient
from service.cache_backends import RedisBackend
from service.near_cache import ENTRY_OVERHEAD_BYTES, InvalidationListener, NearCache

KEY = "tm:ns:rec:7"
TTL_S = 60


def _live(max_bytes: int = 10_000) -> NearCache:
    near = NearCache(max_bytes)
    near.reset(live=True)
    return near


def _fill(near: NearCache, key: str, field: str, stored: bytes) -> bool:
    return near.put(key, field, stored, near.begin(key))


# -- bookkeeping, no Redis ------------------------------------------------------------------


def test_a_kept_entry_is_served_until_its_key_is_dropped() -> None:
    near = _live()
    assert _fill(near, KEY, "list", b"stored")
    assert near.get(KEY, "list") == b"stored"
    assert near.get(KEY, "chef") is None
    near.drop(["tm:ns:rest:1", KEY])
    assert near.get(KEY, "list") is None
    assert near.size_bytes == 0


def test_a_read_overtaken_by_a_change_of_its_key_is_not_kept() -> None:
    near = _live()
    token = near.begin(KEY)
    near.drop([KEY])  # the announcement arrived before the read's answer
    assert not near.put(KEY, "list", b"stale", token)
    assert near.get(KEY, "list") is None
    # A change to another key does not matter, nor one before the read began.
    token = near.begin(KEY)
    near.drop(["tm:ns:rec:8"])
    assert near.put(KEY, "list", b"fresh", token)
    assert near.get(KEY, "list") == b"fresh"


def test_a_read_overtaken_by_a_reset_is_not_kept_and_nothing_is_kept_unless_live() -> None:
    near = _live()
    token = near.begin(KEY)
    near.reset(live=True)
    assert not near.put(KEY, "list", b"stale", token)
    near.reset(live=False)
    assert not _fill(near, KEY, "list", b"unheard")
    assert near.get(KEY, "list") is None


def test_past_its_bytes_the_least_recently_used_user_goes() -> None:
    entry = 300
    near = _live(max_bytes=3 * (entry + ENTRY_OVERHEAD_BYTES))
    for user in (1, 2, 3):
        assert _fill(near, f"tm:ns:rec:{user}", "list", bytes(entry))
    assert near.get("tm:ns:rec:1", "list") is not None  # 1 is now the most recent
    assert _fill(near, "tm:ns:rec:4", "list", bytes(entry))
    assert near.get("tm:ns:rec:2", "list") is None
    assert all(near.get(f"tm:ns:rec:{user}", "list") is not None for user in (1, 3, 4))
    assert near.size_bytes == 3 * (entry + ENTRY_OVERHEAD_BYTES)
    assert not _fill(near, "tm:ns:rec:5", "list", bytes(near.max_bytes))  # never fits


def test_a_redis_that_accepts_but_never_answers_fails_the_set_up_in_bounded_time() -> None:
    with socket.socket() as silent:  # the kernel completes the handshake; nobody answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        near = NearCache(1 << 20)
        listener = InvalidationListener(f"redis://127.0.0.1:{port}/0", near, connect_timeout_s=0.1)

        async def set_up() -> None:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await listener._listen()
            assert time.monotonic() - started < 2.0
            assert not near.live

        anyio.run(set_up, backend="asyncio")


# -- against Redis ----------------------------------------------------------------------------


def _commands(client: redis.Redis, name: str) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))


@pytest.fixture
def clean_url(module_redis_url: str) -> Iterator[str]:
    client = redis.Redis.from_url(module_redis_url)
    client.flushdb()
    yield module_redis_url
    client.close()


@contextlib.asynccontextmanager
async def _listening(url: str, near: NearCache) -> AsyncIterator[InvalidationListener]:
    listener = InvalidationListener(url, near, connect_timeout_s=1.0)
    listener.RETRY_S = 0.1
    task = asyncio.create_task(listener.run())
    try:
        await _until(lambda: near.live, "the listener never subscribed")
        yield listener
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _until(condition: Callable[[], bool], failure: str, within_s: float = 3.0) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(failure)
        await asyncio.sleep(0.01)


def _no_compute() -> Mapping[str, bytes]:
    raise AssertionError("a cached entry was computed")


def _run(url: str, scenario: Callable[[CacheClient, NearCache], Any]) -> None:
    async def main() -> None:
        backend = RedisBackend(url, timeout_s=1.0)
        near = NearCache(1 << 20)
        cache = CacheClient(backend, namespace=lambda: "ns", near=near)
        try:
            async with _listening(url, near):
                await scenario(cache, near)
        finally:
            await backend.close_async()
            backend.close()

    anyio.run(main, backend="asyncio")


async def _read(cache: CacheClient, compute: Callable[[], Mapping[str, bytes]]) -> bytes:
    return await cache.get_user_entry_async("recommendations", KEY, "list", compute, TTL_S)


async def _cached_here(cache: CacheClient, near: NearCache, value: bytes) -> None:
    """Compute the entry (a miss), then read it once from Redis into the copy."""
    assert await _read(cache, lambda: {"list": value}) == value
    # Redis announces the miss's write: a read begun before the announcement arrives is
    # not kept, so let it arrive first.
    await asyncio.sleep(0.2)
    assert await _read(cache, _no_compute) == value
    assert near.get(KEY, "list") is not None


@pytest.mark.docker
def test_a_repeat_hit_sends_redis_nothing(clean_url: str) -> None:
    async def scenario(cache: CacheClient, near: NearCache) -> None:
        assert isinstance(cache.backend, RedisBackend)
        client = cache.backend.client
        before = _commands(client, "hmget")
        await _cached_here(cache, near, b"[1]")
        assert _commands(client, "hmget") > before
        before = _commands(client, "hmget")
        for _ in range(5):
            assert await _read(cache, _no_compute) == b"[1]"
        assert _commands(client, "hmget") == before

    _run(clean_url, scenario)


@pytest.mark.docker
def test_another_replicas_invalidation_reaches_the_copy(clean_url: str) -> None:
    async def scenario(cache: CacheClient, near: NearCache) -> None:
        await _cached_here(cache, near, b"old")
        other_backend = RedisBackend(clean_url, timeout_s=1.0)
        other = CacheClient(other_backend, namespace=lambda: "ns")
        other.invalidate_user(KEY, TTL_S)  # an order placed on the other replica
        other_backend.close()
        await _until(lambda: near.get(KEY, "list") is None, "the invalidation was not heard")
        assert await _read(cache, lambda: {"list": b"new"}) == b"new"

    _run(clean_url, scenario)


@pytest.mark.docker
def test_this_replicas_invalidation_empties_the_copy_at_once(clean_url: str) -> None:
    async def scenario(cache: CacheClient, near: NearCache) -> None:
        await _cached_here(cache, near, b"old")
        cache.invalidate_user(KEY, TTL_S)
        assert near.get(KEY, "list") is None  # not waiting for Redis' announcement
        assert await _read(cache, lambda: {"list": b"new"}) == b"new"

    _run(clean_url, scenario)


@pytest.mark.docker
def test_flushdb_empties_the_copy(clean_url: str) -> None:
    async def scenario(cache: CacheClient, near: NearCache) -> None:
        await _cached_here(cache, near, b"[1]")
        with redis.Redis.from_url(clean_url) as admin:
            admin.flushdb()
        await _until(lambda: near.size_bytes == 0, "FLUSHDB was not heard")
        assert await _read(cache, lambda: {"list": b"[2]"}) == b"[2]"

    _run(clean_url, scenario)


@pytest.mark.docker
def test_while_the_announcements_are_cut_off_the_copy_is_empty_and_unused(
    clean_url: str,
) -> None:
    async def scenario(cache: CacheClient, near: NearCache) -> None:
        await _cached_here(cache, near, b"[1]")
        with redis.Redis.from_url(clean_url) as admin:
            killed = admin.client_kill_filter(_type="pubsub")
        assert killed >= 1
        # Emptied once the drop is noticed; back (and empty) after RETRY_S.
        await _until(lambda: near.size_bytes == 0, "the copy outlived its connection")
        await _until(lambda: near.live, "the listener did not reconnect")
        assert await _read(cache, _no_compute) == b"[1]"
        assert near.get(KEY, "list") is not None

    _run(clean_url, scenario)
