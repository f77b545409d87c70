"""Concurrent writes keep exact counters; an exhausted pool answers 503 instead of hanging."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.seed import LOAD_TEST_PASSWORD, seed, user_email

pytestmark = pytest.mark.docker

CONCURRENT_ORDERS = 200


@pytest.fixture(scope="module")
def client(database_url: str, app_factory: Any) -> Iterator[TestClient]:
    seed(database_url, restaurants=30, users=3, orders=20, seed=3)
    with app_factory() as started:
        yield started


def test_concurrent_orders_of_one_user_leave_exact_counters(
    client: TestClient, login: Any, sql: Any
) -> None:
    headers = login(client, user_email(1), LOAD_TEST_PASSWORD)
    user_id = client.get("/api/users/me", headers=headers).json()["id"]
    before = client.get("/api/users/me/preferences", headers=headers).json()
    ((spent_before, counts_before),) = sql(
        "SELECT total_spent, cuisine_counts FROM user_preferences WHERE user_id = %s", (user_id,)
    )
    cuisines = dict(sql("SELECT id, cuisine_type FROM restaurants"))
    orders = [
        {"restaurant_id": 1 + k % 30, "total_amount": round(1 + k * 0.37, 2)}
        for k in range(CONCURRENT_ORDERS)
    ]

    def place(order: dict[str, Any]) -> int:
        status: int = client.post("/api/orders", headers=headers, json=order).status_code
        return status

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(place, orders))
    assert statuses == [201] * CONCURRENT_ORDERS

    after = client.get("/api/users/me/preferences", headers=headers).json()
    assert after["total_orders"] == before["total_orders"] + CONCURRENT_ORDERS
    ((spent_after, counts_after),) = sql(
        "SELECT total_spent, cuisine_counts FROM user_preferences WHERE user_id = %s", (user_id,)
    )
    added = sum(Decimal(str(order["total_amount"])) for order in orders)
    assert spent_after == spent_before + added
    expected = dict(counts_before)
    for order in orders:
        cuisine = cuisines[order["restaurant_id"]]
        expected[cuisine] = expected.get(cuisine, 0) + 1
    assert counts_after == expected
    ((stored,),) = sql("SELECT count(*) FROM orders WHERE user_id = %s", (user_id,))
    assert stored == after["total_orders"]


def test_exhausted_pool_answers_503_with_retry_after(
    client: TestClient, app_factory: Any, login: Any
) -> None:
    headers = login(client, user_email(2), LOAD_TEST_PASSWORD)
    with app_factory(pool_timeout_s=0.5) as impatient, ExitStack() as held:
        engine = impatient.app.state.ctx.engine
        for _ in range(4):  # the optimised pool: 4 connections, no overflow
            held.enter_context(engine.connect())
        started = time.monotonic()
        response = impatient.get("/api/orders", headers=headers)
        waited = time.monotonic() - started
        held.close()
        assert impatient.get("/api/orders", headers=headers).status_code == 200
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert "no connection available" in response.json()["detail"]
    assert waited < 5  # the 0.5 s pool timeout, not a hang
