"""The original clients' other calls: a restaurant's insight, onboarding, resetting the
demo simulator; their shapes, their SQL per request, and the pre-fix behaviour under R1."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.seed import CUISINES, LOAD_TEST_PASSWORD, seed, user_email

pytestmark = pytest.mark.docker

Login = Callable[[TestClient, str, str], dict[str, str]]
SQL_SUM = "tastematch_sql_statements_per_request_sum"
SQL_COUNT = "tastematch_sql_statements_per_request_count"


@pytest.fixture(scope="module")
def client(database_url: str, app_factory: Any) -> Iterator[TestClient]:
    seed(database_url, restaurants=120, users=6, orders=60, seed=11)
    with app_factory() as started:
        yield started


def _new_user(client: TestClient, label: str) -> tuple[dict[str, str], int]:
    response = client.post(
        "/auth/register",
        json={"email": f"{label}@calls.test", "name": label, "password": "long-enough-1"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return {"Authorization": f"Bearer {body['token']}"}, int(body["user"]["id"])


def _statements(metric: Any, route: str, run: Callable[[], Any], **labels: str) -> float:
    """SQL statements of the one request ``run`` makes to ``route`` (``cache`` label:
    ``none`` unless given)."""
    labels = {"cache": "none", **labels}
    before = (metric(SQL_SUM, route=route, **labels), metric(SQL_COUNT, route=route, **labels))
    run()
    after = (metric(SQL_SUM, route=route, **labels), metric(SQL_COUNT, route=route, **labels))
    assert after[1] == before[1] + 1, "exactly one request observed"
    return float(after[0] - before[0])


# -- insight --------------------------------------------------------------------------------
INSIGHT = "/api/recommendations/{restaurant_id}/insight"


def test_insight_shape_and_cached_without_sql(
    client: TestClient, login: Login, metric: Any
) -> None:
    headers = login(client, user_email(0), LOAD_TEST_PASSWORD)
    responses: list[Any] = []
    url = "/api/recommendations/7/insight"
    miss = _statements(
        metric, INSIGHT, lambda: responses.append(client.get(url, headers=headers)), cache="miss"
    )
    first = responses[-1]
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"restaurant_id", "insight", "generated_at"}
    assert body["restaurant_id"] == 7
    assert body["insight"].endswith(".")
    assert first.headers["Cache-Control"] == "private, max-age=600"
    assert miss <= 2
    hit = _statements(
        metric, INSIGHT, lambda: responses.append(client.get(url, headers=headers)), cache="hit"
    )
    assert hit == 0
    assert responses[-1].json() == body


def test_insight_404_401_422_with_reasons(client: TestClient, login: Login) -> None:
    headers = login(client, user_email(1), LOAD_TEST_PASSWORD)
    missing = client.get("/api/recommendations/999999/insight", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Restaurant 999999 not found"
    assert client.get("/api/recommendations/7/insight").status_code == 401
    bad = client.get("/api/recommendations/0/insight", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["path", "restaurant_id"]


def test_an_order_drops_the_cached_insight(client: TestClient) -> None:
    headers, _ = _new_user(client, "insight-order")
    url = "/api/recommendations/3/insight"
    cold = client.get(url, headers=headers).json()["insight"]
    assert cold.startswith("Popular with diners")
    placed = client.post(
        "/api/orders", json={"restaurant_id": 3, "total_amount": 20}, headers=headers
    )
    assert placed.status_code == 201
    assert not client.get(url, headers=headers).json()["insight"].startswith("Popular")


# -- onboarding ---------------------------------------------------------------------------
ONBOARDING = "/api/onboarding/complete"


def _centroid(sql: Any, cuisines: list[str], price: str | None) -> np.ndarray[Any, Any]:
    """The original's vector, computed here from the JSON embeddings."""
    query = "SELECT embedding FROM restaurants WHERE cuisine_type = ANY(%s) AND rating >= 4"
    params: tuple[Any, ...] = (cuisines,)
    if price is not None:
        query += " AND price_range = %s"
        params += (price,)
    query += " ORDER BY rating DESC, id LIMIT %s"
    rows = sql(query, (*params, 20 * len(cuisines)))
    mean = np.asarray([json.loads(row[0]) for row in rows]).mean(axis=0)
    return np.asarray(mean / np.linalg.norm(mean))


def test_onboarding_stores_the_original_centroid_and_steers_recommendations(
    client: TestClient, sql: Any, metric: Any
) -> None:
    headers, user_id = _new_user(client, "onboard")
    before = client.get("/api/recommendations?limit=5", headers=headers).json()
    cuisine = CUISINES[2]
    responses: list[Any] = []
    statements = _statements(
        metric,
        ONBOARDING,
        lambda: responses.append(
            client.post(
                ONBOARDING,
                json={"selected_cuisines": [cuisine.upper()], "dietary_restrictions": ["vegan"]},
                headers=headers,
            )
        ),
    )
    response = responses[-1]
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"success", "message", "has_synthetic_vector"}
    assert body["success"] is True
    assert body["has_synthetic_vector"] is True
    assert statements <= 2
    ((blob, stale),) = sql(
        "SELECT preference_vector, vector_stale FROM user_preferences WHERE user_id = %s",
        (user_id,),
    )
    stored = np.frombuffer(blob, dtype="<f4")
    assert stale is False
    assert np.allclose(stored, _centroid(sql, [cuisine], None), atol=1e-4)
    after = client.get("/api/recommendations?limit=5", headers=headers).json()
    assert after != before  # the cached cold-start answer was dropped
    assert {item["restaurant"]["cuisine_type"] for item in after["recommendations"]} == {cuisine}


def test_onboarding_without_a_match_changes_nothing(client: TestClient, sql: Any) -> None:
    headers, user_id = _new_user(client, "onboard-none")
    response = client.post(
        ONBOARDING, json={"selected_cuisines": ["no such cuisine"]}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["success"] is False
    assert response.json()["has_synthetic_vector"] is False
    assert sql("SELECT preference_vector FROM user_preferences WHERE user_id = %s", (user_id,)) == [
        (None,)
    ]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"selected_cuisines": []}, ["body", "selected_cuisines"]),
        ({"selected_cuisines": ["a"] * 6}, ["body", "selected_cuisines"]),
        ({"selected_cuisines": ["x" * 65]}, ["body", "selected_cuisines", 0]),
        ({"selected_cuisines": ["a"], "price_preference": "cheap"}, ["body", "price_preference"]),
        ({}, ["body", "selected_cuisines"]),
    ],
)
def test_onboarding_rejects_bad_input_with_a_reason(
    client: TestClient, login: Login, body: dict[str, Any], where: list[Any]
) -> None:
    headers = login(client, user_email(2), LOAD_TEST_PASSWORD)
    response = client.post(ONBOARDING, json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == where


def test_onboarding_needs_a_token(client: TestClient) -> None:
    response = client.post(ONBOARDING, json={"selected_cuisines": [CUISINES[0]]})
    assert response.status_code == 401


# -- simulation reset -----------------------------------------------------------------------
SIMULATION = "/api/orders/simulation"


def test_simulation_reset_deletes_only_simulated_orders_and_uncounts_them(
    client: TestClient, sql: Any, metric: Any
) -> None:
    headers, user_id = _new_user(client, "simulator")
    for restaurant_id, simulated in ((1, False), (2, True), (3, True), (2, True)):
        placed = client.post(
            "/api/orders",
            json={"restaurant_id": restaurant_id, "total_amount": 10.5, "is_simulation": simulated},
            headers=headers,
        )
        assert placed.status_code == 201
    client.get("/api/recommendations", headers=headers)  # cached: must be dropped
    responses: list[Any] = []
    statements = _statements(
        metric, SIMULATION, lambda: responses.append(client.delete(SIMULATION, headers=headers))
    )
    assert responses[-1].status_code == 200
    assert responses[-1].json() == {"deleted": 3, "message": "3 simulated order(s) deleted"}
    assert statements <= 3
    ((cuisine,),) = sql("SELECT cuisine_type FROM restaurants WHERE id = 1")
    assert sql(
        "SELECT total_orders, total_spent, cuisine_counts, vector_stale"
        " FROM user_preferences WHERE user_id = %s",
        (user_id,),
    ) == [(1, pytest.approx(10.5), {cuisine: 1}, True)]
    assert [
        row[0] for row in sql("SELECT restaurant_id FROM orders WHERE user_id = %s", (user_id,))
    ] == [1]
    listed = client.get("/api/orders", headers=headers).json()
    assert listed["total"] == 1
    again = client.delete(SIMULATION, headers=headers)
    assert again.json() == {"deleted": 0, "message": "0 simulated order(s) deleted"}
    assert client.delete(SIMULATION).status_code == 401


# -- before the fix (R1) ------------------------------------------------------------------
def test_r1_onboarding_and_insight_load_full_rows(app_factory: Any, sql: Any, metric: Any) -> None:
    """Under R1 the same answers come from full-row loads (counted per restaurant row)."""
    rows_metric = "tastematch_restaurant_rows_loaded_total"
    with app_factory(regressions="R1") as old:
        headers, user_id = _new_user(old, "r1-onboard")
        cuisine = CUISINES[2]
        ((of_cuisine,),) = sql(
            "SELECT count(*) FROM restaurants WHERE cuisine_type = %s AND rating >= 4", (cuisine,)
        )
        ((every,),) = sql("SELECT count(*) FROM restaurants")
        loaded = metric(rows_metric)
        response = old.post(ONBOARDING, json={"selected_cuisines": [cuisine]}, headers=headers)
        assert response.json()["success"] is True
        assert metric(rows_metric) - loaded == of_cuisine
        ((blob,),) = sql(
            "SELECT preference_vector FROM user_preferences WHERE user_id = %s", (user_id,)
        )
        assert np.allclose(np.frombuffer(blob, "<f4"), _centroid(sql, [cuisine], None), atol=1e-4)
        loaded = metric(rows_metric)
        insight = old.get("/api/recommendations/5/insight", headers=headers)
        assert insight.status_code == 200
        assert metric(rows_metric) - loaded >= every


def test_r4_simulation_reset_deletes_one_by_one_with_the_same_outcome(
    app_factory: Any, sql: Any, metric: Any
) -> None:
    with app_factory(regressions="R4") as old:
        headers, user_id = _new_user(old, "r4-simulator")
        for restaurant_id in (4, 5, 6):
            placed = old.post(
                "/api/orders",
                json={"restaurant_id": restaurant_id, "total_amount": 7, "is_simulation": True},
                headers=headers,
            )
            assert placed.status_code == 201
        responses: list[Any] = []
        statements = _statements(
            metric, SIMULATION, lambda: responses.append(old.delete(SIMULATION, headers=headers))
        )
    assert responses[-1].json()["deleted"] == 3
    assert statements > 3  # one load, a lazy restaurant and a DELETE per order
    assert sql("SELECT count(*) FROM orders WHERE user_id = %s", (user_id,)) == [(0,)]
    assert sql(
        "SELECT total_orders, cuisine_counts FROM user_preferences WHERE user_id = %s", (user_id,)
    ) == [(0, {})]
