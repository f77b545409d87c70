"""With its Redis stopped or stalled, the service keeps answering from Postgres, /health
does not wait on Redis while it is known to be down, and what changed meanwhile is not
served stale once Redis is back."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from containers.definitions import RedisContainer
from containers.images import ensure_images
from service.seed import LOAD_TEST_PASSWORD, seed, user_email

pytestmark = pytest.mark.docker

UNAVAILABLE = "cache unavailable, answering from the database"


@pytest.fixture
def own_redis() -> Iterator[RedisContainer]:
    """A Redis container of this test alone, so that stopping it disturbs nobody."""
    image = ensure_images(("redis",)).redis
    container = RedisContainer(
        image,
        name=f"tastematch-test-redis-{secrets.token_hex(3)}",
        password=secrets.token_hex(16),
    )
    container.start()
    try:
        yield container
    finally:
        container.stop()


def test_recommendations_answer_200_with_redis_stopped(
    database_url: str,
    own_redis: RedisContainer,
    app_factory: Any,
    login: Any,
    metric: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed(database_url, restaurants=30, users=2, orders=20, seed=5)
    with app_factory(redis_url=own_redis.url()) as client:
        headers = login(client, user_email(0), LOAD_TEST_PASSWORD)
        cached = client.get("/api/recommendations", headers=headers)
        assert cached.status_code == 200
        assert client.get("/api/recommendations", headers=headers).json() == cached.json()

        own_redis.get_wrapped_container().stop(timeout=5)
        errors = metric("tastematch_cache_requests_total", cache="recommendations", outcome="error")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="service.cache"):
            answers = [client.get("/api/recommendations", headers=headers) for _ in range(5)]
            order = client.post(
                "/api/orders", headers=headers, json={"restaurant_id": 1, "total_amount": 12}
            )
            listing = client.get("/api/restaurants")
            health = client.get("/health")

    assert [answer.status_code for answer in answers] == [200] * 5
    body = answers[0].json()
    assert [item["restaurant"]["id"] for item in body["recommendations"]] == [
        item["restaurant"]["id"] for item in cached.json()["recommendations"]
    ]
    assert body["generated_at"] != cached.json()["generated_at"]  # computed, not cached
    assert order.status_code == 201
    assert listing.status_code == 200
    assert health.status_code == 200
    assert health.json()["redis"].startswith("unreachable")
    assert (
        metric("tastematch_cache_requests_total", cache="recommendations", outcome="error")
        >= errors + 5
    )
    # Logged once when Redis went away, not once per request.
    assert [r.getMessage().startswith(UNAVAILABLE) for r in caplog.records].count(True) == 1


def test_health_does_not_wait_on_a_redis_known_to_be_down(
    database_url: str, own_redis: RedisContainer, app_factory: Any
) -> None:
    seed(database_url, restaurants=30, users=2, orders=20, seed=5)
    stalled = own_redis.get_wrapped_container()
    with app_factory(redis_url=own_redis.url()) as client:
        assert client.get("/health").json()["redis"] == "connected"
        stalled.pause()  # a stalled Redis: connections open, no answers
        try:
            first = client.get("/health")
            began = time.monotonic()
            second = client.get("/health")
            second_s = time.monotonic() - began
        finally:
            stalled.unpause()
    assert first.status_code == second.status_code == 200
    assert first.json()["redis"].startswith("unreachable: TimeoutError")
    assert second.json()["redis"].startswith("unreachable: not retried for another")
    assert second_s < 0.25  # the 0.5 s socket timeout was not waited for


def test_an_order_placed_while_redis_was_down_is_not_answered_from_before_it(
    database_url: str, own_redis: RedisContainer, app_factory: Any, login: Any
) -> None:
    seed(database_url, restaurants=30, users=2, orders=20, seed=5)
    stalled = own_redis.get_wrapped_container()
    path = "/api/recommendations?limit=5"
    with app_factory(redis_url=own_redis.url()) as client:
        headers = login(client, user_email(1), LOAD_TEST_PASSWORD)
        before = client.get(path, headers=headers).json()
        assert client.get(path, headers=headers).json() == before  # cached in Redis
        client.app.state.ctx.cache.RETRY_AFTER_S = 0.2
        stalled.pause()
        try:
            order = client.post(
                "/api/orders",
                headers=headers,
                json={
                    "restaurant_id": before["recommendations"][0]["restaurant"]["id"],
                    "total_amount": 12,
                },
            )
        finally:
            stalled.unpause()
        time.sleep(0.3)  # past the breaker's pause: Redis is tried again
        after = client.get(path, headers=headers).json()
    assert order.status_code == 201
    # The entry cached before the order was dropped once Redis answered again.
    assert after["generated_at"] != before["generated_at"]


def test_login_and_its_rate_limits_hold_with_redis_stopped(
    database_url: str, own_redis: RedisContainer, app_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    seed(database_url, restaurants=30, users=2, orders=20, seed=5)
    right = {"email": user_email(0), "password": LOAD_TEST_PASSWORD}
    wrong = {"email": user_email(0), "password": "wrong password"}
    with app_factory(redis_url=own_redis.url(), login_limit_per_account="3/minute") as client:
        assert client.post("/auth/login", json=right).status_code == 200  # counted in Redis
        own_redis.get_wrapped_container().stop(timeout=5)
        with caplog.at_level(logging.WARNING, logger="service.ratelimit"):
            other = client.post(
                "/auth/login", json={"email": user_email(1), "password": LOAD_TEST_PASSWORD}
            )
            failures = [client.post("/auth/login", json=wrong) for _ in range(3)]
            refused = client.post("/auth/login", json=right)
            registered = client.post(
                "/auth/register",
                json={"email": "new@redis-down.test", "name": "New", "password": "long-enough"},
            )
    # Login and registration work without Redis: no 500, no 503.
    assert other.status_code == 200, other.text
    assert registered.status_code == 201, registered.text
    # The limits hold, counted in the process's memory meanwhile.
    assert [answer.status_code for answer in failures] == [401] * 3
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert [r.getMessage() for r in caplog.records if "process memory" in r.getMessage()]
