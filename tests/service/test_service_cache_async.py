"""The cache's event-loop path (``CacheClient.get_user_entry_async``) against a real Redis.

A hit is answered without a worker thread; a miss computes in one, with the Redis
commands of the thread path (what was read is not read again); an unreachable Redis
opens the breaker and the answer comes from ``compute``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import anyio
import anyio.to_thread
import pytest
import redis
from prometheus_client import REGISTRY

from service.cache import CacheClient
from service.cache_backends import RedisBackend

pytestmark = pytest.mark.docker

TTL_S = 60


@pytest.fixture
def backend(module_redis_url: str) -> Iterator[RedisBackend]:
    made = RedisBackend(module_redis_url, timeout_s=1.0)
    made.client.flushdb()
    yield made
    made.close()


def _commands(client: redis.Redis, name: str) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return int(stats.get(f"cmdstat_{name}", {}).get("calls", 0))


def _cache_count(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "tastematch_cache_requests_total", {"cache": "recommendations", "outcome": outcome}
    )
    return value or 0.0


def _entry(
    cache: CacheClient, compute: Callable[[], Mapping[str, bytes]], *, refresh: bool = False
) -> bytes:
    async def read() -> bytes:
        try:
            return await cache.get_user_entry_async(
                "recommendations", "tm:ns:rec:7", "list", compute, TTL_S, refresh=refresh
            )
        finally:
            if isinstance(cache.backend, RedisBackend):
                await cache.backend.close_async()

    return anyio.run(read)


def test_a_hit_is_read_on_the_event_loop_without_a_thread(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = CacheClient(backend, namespace=lambda: "ns")
    assert _entry(cache, lambda: {"list": b"[1]", "chef": b"{}"}) == b"[1]"

    def no_thread(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cache hit went to a worker thread")

    def no_compute() -> Mapping[str, bytes]:
        raise AssertionError("a cache hit was computed")

    monkeypatch.setattr(anyio.to_thread, "run_sync", no_thread)
    hits = _cache_count("hit")
    assert _entry(cache, no_compute) == b"[1]"
    assert _cache_count("hit") == hits + 1


def test_a_miss_reads_redis_once_like_the_thread_path(backend: RedisBackend) -> None:
    cache = CacheClient(backend, namespace=lambda: "ns")
    before = _commands(backend.client, "hmget")
    assert _entry(cache, lambda: {"list": b"[2]"}) == b"[2]"
    # One read on the loop; the thread path takes its result instead of reading again,
    # and reads once more only under the stampede lock, as it always did.
    async_path = _commands(backend.client, "hmget") - before

    before = _commands(backend.client, "hmget")
    backend.client.flushdb()
    cache.get_user_entry("recommendations", "tm:ns:rec:7", "list", lambda: {"list": b"[2]"}, 60)
    thread_path = _commands(backend.client, "hmget") - before
    assert async_path == thread_path
    assert backend.client.exists("tm:ns:rec:7")


def test_refresh_recomputes_and_replaces_the_entry(backend: RedisBackend) -> None:
    cache = CacheClient(backend, namespace=lambda: "ns")
    assert _entry(cache, lambda: {"list": b"old"}) == b"old"
    assert _entry(cache, lambda: {"list": b"new"}, refresh=True) == b"new"
    assert _entry(cache, lambda: {"list": b"unused"}) == b"new"


def test_a_failed_read_on_the_loop_is_read_again_in_a_thread_without_opening_the_breaker(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = CacheClient(backend, namespace=lambda: "ns")
    assert _entry(cache, lambda: {"list": b"[4]"}) == b"[4]"

    async def full_pool(key: str, field: str) -> tuple[bytes | None, str]:
        raise redis.ConnectionError("Too many connections")

    def no_compute() -> Mapping[str, bytes]:
        raise AssertionError("a cached entry was computed")

    monkeypatch.setattr(backend, "hget_with_gen_async", full_pool)
    errors = _cache_count("error")
    assert _entry(cache, no_compute) == b"[4]"
    assert cache.status() == "connected"
    assert _cache_count("error") == errors


def test_an_unreachable_redis_opens_the_breaker_and_the_answer_is_computed() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    cache = CacheClient(
        RedisBackend(f"redis://127.0.0.1:{port}/0", timeout_s=0.3), namespace=lambda: "ns"
    )
    errors = _cache_count("error")
    assert _entry(cache, lambda: {"list": b"[3]"}) == b"[3]"
    assert cache.status().startswith("unreachable: not retried")
    assert _cache_count("error") == errors + 1
