"""Recommendations on a data set small enough to check by hand, and their cache."""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from service.cache import CacheClient
from service.cache_backends import RedisBackend
from service.database import create_schema
from service.models import EMBEDDING_DIM, Restaurant

pytestmark = pytest.mark.docker


def _vector(**components: float) -> list[float]:
    """A 384-float embedding with the given components (``e0=0.8, e1=0.6``)."""
    vector = [0.0] * EMBEDDING_DIM
    for name, value in components.items():
        vector[int(name[1:])] = value
    return vector


# id: (cuisine, rating, embedding)
RESTAURANTS: dict[int, tuple[str, float, list[float]]] = {
    1: ("Italian", 4.5, _vector(e0=1.0)),
    2: ("Italian", 4.0, _vector(e0=0.8, e1=0.6)),
    3: ("Japanese", 4.8, _vector(e1=1.0)),
    4: ("Mexican", 5.0, _vector(e2=1.0)),
    5: ("Italian", 2.5, _vector(e0=1.0)),  # rated below 3: never recommended
    6: ("Greek", 3.5, _vector(e0=0.6, e2=0.8)),
}


def _ids(body: dict[str, Any]) -> list[int]:
    return [item["restaurant"]["id"] for item in body["recommendations"]]


def _scores(body: dict[str, Any]) -> list[float]:
    return [item["similarity_score"] for item in body["recommendations"]]


@pytest.fixture(scope="module")
def dataset(database_url: str) -> None:
    engine = create_engine(database_url)
    create_schema(engine)
    with Session(engine) as session:
        for rid, (cuisine, rating, vector) in RESTAURANTS.items():
            session.add(
                Restaurant(
                    id=rid,
                    name=f"Restaurant {rid}",
                    cuisine_type=cuisine,
                    description=f"{cuisine} number {rid}",
                    rating=rating,
                    price_range="medium",
                    location="Test Street",
                    embedding=json.dumps(vector),
                    embedding_f32=np.asarray(vector, dtype="<f4").tobytes(),
                )
            )
        session.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def client(dataset: None, app_factory: Any) -> Iterator[TestClient]:
    with app_factory() as started:
        yield started


Register = Callable[..., dict[str, str]]
Orders = list[tuple[int, float, int | None]]


@pytest.fixture(scope="module")
def register(client: TestClient) -> Register:
    """``register(name, [(restaurant id, days ago, rating), ...])`` → the user's auth header."""
    counter = iter(range(10_000))

    def make(name: str, orders: Orders | None = None) -> dict[str, str]:
        response = client.post(
            "/auth/register",
            json={
                "email": f"{re.sub(r'[^a-z0-9]+', '-', name.lower())}-{next(counter)}@example.com",
                "name": name,
                "password": "p" * 10,
            },
        )
        assert response.status_code == 201, response.text
        headers = {"Authorization": f"Bearer {response.json()['token']}"}
        now = datetime.now(UTC)
        for restaurant_id, days_ago, rating in orders or []:
            placed = client.post(
                "/api/orders",
                headers=headers,
                json={
                    "restaurant_id": restaurant_id,
                    "total_amount": 20.0,
                    "rating": rating,
                    "order_date": (now - timedelta(days=days_ago)).isoformat(),
                },
            )
            assert placed.status_code == 201, placed.text
        return headers

    return make


def _recommend(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/api/recommendations", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# Hand-computed expectations (see RESTAURANTS): each case is (orders, ids, scores).
CASES: dict[str, tuple[Orders, list[int], list[float]]] = {
    # Taste = e0. Restaurant 1 is excluded (recent order), 5 is rated below 3.
    "one order": ([(1, 0, 5)], [2, 6, 3, 4], [0.8, 0.6, 0.0, 0.0]),
    # No history: best rated first, scored rating / 5.
    "cold start": ([], [4, 3, 1, 2, 6], [1.0, 0.96, 0.9, 0.8, 0.7]),
    # The order 400 days ago does not count; the one 182.5 days ago weighs half:
    # taste = (e0 + 0.5 e1) / |.| = (0.894, 0.447). All three restaurants are excluded.
    "recency": (
        [(4, 400, 5), (3, 182.5, 5), (1, 0, 5)],
        [2, 6],
        [0.8 * 2 / math.sqrt(5) + 0.6 / math.sqrt(5), 0.6 * 2 / math.sqrt(5)],
    ),
    # A 1-star order weighs 1/5 of a 5-star one: taste = (0.2 e0 + e1) / |.|.
    "rating": (
        [(1, 0, 1), (3, 0, 5)],
        [2, 6, 4],
        [(0.8 * 0.2 + 0.6) / math.hypot(0.2, 1), 0.6 * 0.2 / math.hypot(0.2, 1), 0.0],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_recommendations_match_hand_computed_ranking(
    client: TestClient, register: Register, case: str
) -> None:
    orders, ids, scores = CASES[case]
    body = _recommend(client, register(case, orders))
    assert _ids(body) == ids
    assert _scores(body) == pytest.approx(scores, abs=2e-3)


def test_the_pre_fix_algorithm_gives_the_same_answers(
    client: TestClient, register: Register, app_factory: Any
) -> None:
    users = {case: register(f"same {case}", CASES[case][0]) for case in CASES}
    with app_factory(regressions="R1,R3") as baseline:
        for case, headers in users.items():
            before_fix = _recommend(baseline, headers)
            after_fix = _recommend(client, headers)
            assert _ids(before_fix) == _ids(after_fix) == CASES[case][1], case
            assert _scores(before_fix) == pytest.approx(_scores(after_fix), abs=1e-3)
            assert [i["insight"] for i in before_fix["recommendations"]] == [
                i["insight"] for i in after_fix["recommendations"]
            ]


def test_ten_most_recent_orders_are_excluded(client: TestClient, register: Register) -> None:
    # Eleven orders: restaurant 2 only as the oldest one, so it may be recommended again.
    orders: Orders = [(2, 30.0, 5)]
    orders += [(1 if k % 2 else 6, float(k), 5) for k in range(10)]
    body = _recommend(client, register("eleven", orders))
    assert 2 in _ids(body)
    assert not {1, 6} & set(_ids(body))


def test_cache_hit_runs_no_sql_and_an_order_invalidates_it(
    client: TestClient, register: Register, metric: Any
) -> None:
    headers = register("cached", [(1, 0, 5)])
    route = "/api/recommendations"
    labels = {"route": route}
    name = "tastematch_sql_statements_per_request_sum"
    miss_sql = metric(name, cache="miss", **labels)
    first = _recommend(client, headers)
    assert metric(name, cache="miss", **labels) - miss_sql <= 4
    hits = metric("tastematch_cache_requests_total", cache="recommendations", outcome="hit")
    hit_sql = metric(name, cache="hit", **labels)
    second = _recommend(client, headers)
    assert second == first  # the same cached body, generated_at included
    assert metric("tastematch_cache_requests_total", cache="recommendations", outcome="hit") == (
        hits + 1
    )
    assert metric(name, cache="hit", **labels) == hit_sql  # no SQL at all on a hit
    assert client.post(
        "/api/orders", headers=headers, json={"restaurant_id": 2, "total_amount": 5}
    ).is_success
    third = _recommend(client, headers)
    assert third["generated_at"] != first["generated_at"]
    assert _ids(third)[0] == 6
    assert 2 not in _ids(third)


def test_refresh_bypasses_the_cache(client: TestClient, register: Register) -> None:
    headers = register("refresh", [(1, 0, 5)])
    first = _recommend(client, headers)
    assert _recommend(client, headers)["generated_at"] == first["generated_at"]
    assert _recommend(client, headers, refresh="true")["generated_at"] != first["generated_at"]


def test_concurrent_misses_compute_once(
    client: TestClient, register: Register, metric: Any
) -> None:
    headers = register("stampede", [(3, 0, 5)])
    name = "tastematch_sql_statements_per_request_sum"
    route = "/api/recommendations"
    before = metric(name, route=route, cache="miss") + metric(name, route=route, cache="hit")
    start = threading.Barrier(16)
    bodies: list[dict[str, Any]] = []

    def ask() -> None:
        start.wait()
        bodies.append(_recommend(client, headers))

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    after = metric(name, route=route, cache="miss") + metric(name, route=route, cache="hit")
    assert len(bodies) == 16
    assert len({body["generated_at"] for body in bodies}) == 1  # computed once, shared
    assert after - before <= 4  # one computation's statements in all


def test_one_ranking_fills_the_list_and_the_chef_choice(
    client: TestClient, register: Register, metric: Any
) -> None:
    headers = register("siblings", [(1, 0, 5)])
    listed = _recommend(client, headers, limit=4)
    hits = metric("tastematch_cache_requests_total", cache="recommendations", outcome="hit")
    chef = client.get("/api/recommendations/chef-choice", headers=headers).json()
    assert metric("tastematch_cache_requests_total", cache="recommendations", outcome="hit") == (
        hits + 1
    )
    assert chef["restaurant"] == listed["recommendations"][0]["restaurant"]
    assert chef["generated_at"] == listed["generated_at"]


def test_redis_refuses_a_write_computed_before_an_invalidation(module_redis_url: str) -> None:
    backend = RedisBackend(module_redis_url, timeout_s=1.0)
    cache = CacheClient(backend, namespace=lambda: "fence")
    key = cache.key("rec", 1)
    try:

        def compute_while_an_order_lands() -> dict[str, bytes]:
            cache.invalidate_user(key, 60)
            return {"f": b"stale", "g": b"stale too"}

        assert cache.get_user_entry("recommendations", key, "f", compute_while_an_order_lands, 60)
        assert backend.client.hkeys(key) == [b"gen"]  # nothing but the new generation
        assert cache.get_user_entry("recommendations", key, "f", lambda: {"f": b"new"}, 60) == (
            b"new",
            False,
        )
        assert cache.get_user_entry("recommendations", key, "f", lambda: {"f": b"x"}, 60) == (
            b"new",
            True,
        )
        assert 0 < int(backend.client.ttl(key)) <= 60
    finally:
        backend.client.delete(key)
        backend.close()


def test_a_stored_taste_vector_is_used_for_a_day_then_recomputed(
    client: TestClient, register: Register, sql: Any
) -> None:
    headers = register("aging", [(1, 0, 5)])  # taste e0: [2, 6, 3, 4]
    assert _ids(_recommend(client, headers)) == [2, 6, 3, 4]
    user_id = client.get("/api/users/me", headers=headers).json()["id"]
    towards_e2 = np.asarray(_vector(e2=1.0), dtype="<f4").tobytes()
    sql(
        "UPDATE user_preferences SET preference_vector = %s, vector_updated_at = now()"
        " WHERE user_id = %s",
        (towards_e2, user_id),
    )
    # Stored an hour ago or so: used as it is (restaurant 4 is e2).
    assert _ids(_recommend(client, headers, refresh="true"))[:2] == [4, 6]
    sql(
        "UPDATE user_preferences SET vector_updated_at = now() - interval '2 days'"
        " WHERE user_id = %s",
        (user_id,),
    )
    # Too old: recomputed from the orders.
    assert _ids(_recommend(client, headers, refresh="true")) == [2, 6, 3, 4]
