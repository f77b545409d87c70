"""With its Redis stopped, the service keeps answering from Postgres."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from containers.definitions import RedisContainer
from containers.images import ensure_images
from service.seed import LOAD_TEST_PASSWORD, seed, user_email

pytestmark = pytest.mark.docker

UNAVAILABLE = "cache unavailable, answering from the database"


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisContainer]:
    """A Redis container of this module alone, so that stopping it disturbs nobody."""
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
