"""The API contract of the data: restaurants, orders and recommendations, on a small
seeded data set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.docker

RESTAURANT_FIELDS = {
    "id",
    "name",
    "cuisine_type",
    "description",
    "rating",
    "price_range",
    "location",
    "created_at",
}
ORDER_FIELDS = {
    "id",
    "restaurant_id",
    "restaurant_name",
    "order_date",
    "total_amount",
    "items",
    "rating",
    "is_simulation",
    "created_at",
}
Login = Callable[[TestClient, str, str], dict[str, str]]


# -- restaurants ---------------------------------------------------------------------------------
def test_restaurant_list_defaults_and_headers(client: TestClient) -> None:
    response = client.get("/api/restaurants")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    body = response.json()
    assert (body["total"], body["page"], body["limit"]) == (60, 1, 20)
    assert len(body["restaurants"]) == 20
    assert all(set(r) == RESTAURANT_FIELDS for r in body["restaurants"])
    ratings = [r["rating"] for r in body["restaurants"]]
    assert ratings == sorted(ratings, reverse=True)


def test_restaurant_filters_sorting_and_pages(client: TestClient, sql: Any) -> None:
    ((cuisine,),) = sql("SELECT cuisine_type FROM restaurants ORDER BY id LIMIT 1")
    by_cuisine = client.get("/api/restaurants", params={"cuisine_type": cuisine.lower()}).json()
    ((expected,),) = sql("SELECT count(*) FROM restaurants WHERE cuisine_type = %s", (cuisine,))
    assert by_cuisine["total"] == expected
    assert {r["cuisine_type"] for r in by_cuisine["restaurants"]} == {cuisine}

    filtered = client.get(
        "/api/restaurants", params={"min_rating": 4, "price_range": "medium", "limit": 50}
    ).json()
    assert all(r["rating"] >= 4 and r["price_range"] == "medium" for r in filtered["restaurants"])
    ((medium4,),) = sql(
        "SELECT count(*) FROM restaurants WHERE rating >= 4 AND price_range = 'medium'"
    )
    assert filtered["total"] == medium4

    named = client.get("/api/restaurants", params={"sort_by": "name_asc", "limit": 50}).json()
    names = [r["name"] for r in named["restaurants"]]
    assert names == sorted(names, key=lambda name: name.encode())

    ((name,),) = sql("SELECT name FROM restaurants WHERE id = 5")
    searched = client.get("/api/restaurants", params={"search": name}).json()
    assert [r["name"] for r in searched["restaurants"]] == [name]

    first = client.get("/api/restaurants", params={"limit": 25, "page": 1}).json()
    second = client.get("/api/restaurants", params={"limit": 25, "page": 2}).json()
    assert not {r["id"] for r in first["restaurants"]} & {r["id"] for r in second["restaurants"]}
    beyond = client.get("/api/restaurants", params={"limit": 25, "page": 9}).json()
    assert beyond["restaurants"] == []
    assert beyond["total"] == 60


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 51}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page": 0}, "page"),
        ({"sort_by": "price"}, "sort_by"),
        ({"price_range": "cheap"}, "price_range"),
        ({"min_rating": 6}, "min_rating"),
    ],
)
def test_restaurant_list_rejects_bad_parameters(
    client: TestClient, params: dict[str, Any], field: str
) -> None:
    response = client.get("/api/restaurants", params=params)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", field]
    assert "Cache-Control" not in response.headers


def test_limit_51_names_the_cap(client: TestClient) -> None:
    response = client.get("/api/restaurants", params={"limit": 51})
    assert response.json()["detail"][0]["msg"] == "Input should be less than or equal to 50"


def test_restaurant_detail(client: TestClient) -> None:
    found = client.get("/api/restaurants/7")
    assert found.status_code == 200
    assert set(found.json()) == RESTAURANT_FIELDS
    assert found.json()["id"] == 7
    assert found.headers["Cache-Control"] == "public, max-age=300"
    missing = client.get("/api/restaurants/9999")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Restaurant 9999 not found"
    assert "Cache-Control" not in missing.headers
    assert client.get("/api/restaurants/abc").status_code == 422


# -- orders --------------------------------------------------------------------------------------
def test_order_list_shape_and_order(client: TestClient, user0: dict[str, str], sql: Any) -> None:
    response = client.get("/api/orders", params={"limit": 50}, headers=user0)
    assert response.status_code == 200
    body = response.json()
    user_id = client.get("/api/users/me", headers=user0).json()["id"]
    ((count,),) = sql("SELECT count(*) FROM orders WHERE user_id = %s", (user_id,))
    assert body["total"] == count
    assert body["count"] == len(body["orders"]) == min(count, 50)
    assert all(set(order) == ORDER_FIELDS for order in body["orders"])
    dates = [order["order_date"] for order in body["orders"]]
    assert dates == sorted(dates, reverse=True)
    names = dict(sql("SELECT id, name FROM restaurants", ()))
    assert all(names[o["restaurant_id"]] == o["restaurant_name"] for o in body["orders"])
    assert "Cache-Control" not in response.headers


@pytest.mark.parametrize(("params"), [{"limit": 101}, {"limit": 0}, {"offset": -1}])
def test_order_list_rejects_bad_paging(
    client: TestClient, user0: dict[str, str], params: dict[str, int]
) -> None:
    assert client.get("/api/orders", params=params, headers=user0).status_code == 422


def test_place_order_updates_list_and_counters(client: TestClient, user1: dict[str, str]) -> None:
    before = client.get("/api/users/me/preferences", headers=user1).json()
    response = client.post(
        "/api/orders",
        headers=user1,
        json={
            "restaurant_id": 3,
            "total_amount": 42.5,
            "items": [{"name": "risotto", "quantity": 2, "price": 21.25}],
            "rating": 5,
        },
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert set(order) == ORDER_FIELDS
    assert (order["restaurant_id"], order["total_amount"], order["rating"]) == (3, 42.5, 5)
    assert order["items"] == [{"name": "risotto", "quantity": 2, "price": 21.25}]
    assert order["is_simulation"] is False
    listed = client.get("/api/orders", params={"limit": 1}, headers=user1).json()
    assert listed["orders"][0]["id"] == order["id"]
    after = client.get("/api/users/me/preferences", headers=user1).json()
    assert after["total_orders"] == before["total_orders"] + 1


@pytest.mark.parametrize(
    ("payload", "status", "reason"),
    [
        ({"restaurant_id": 9999, "total_amount": 10}, 400, "Restaurant 9999 does not exist"),
        ({"restaurant_id": 1, "total_amount": -5}, 422, "total_amount"),
        ({"restaurant_id": 1, "total_amount": 10, "rating": 6}, 422, "rating"),
        ({"total_amount": 10}, 422, "restaurant_id"),
    ],
)
def test_place_order_rejects_bad_input(
    client: TestClient, user1: dict[str, str], payload: dict[str, Any], status: int, reason: str
) -> None:
    response = client.post("/api/orders", headers=user1, json=payload)
    assert response.status_code == status
    assert reason in str(response.json()["detail"])


def test_users_never_see_each_others_orders_or_preferences(
    client: TestClient, user0: dict[str, str], user1: dict[str, str], sql: Any
) -> None:
    id0 = client.get("/api/users/me", headers=user0).json()["id"]
    id1 = client.get("/api/users/me", headers=user1).json()["id"]
    placed = client.post(
        "/api/orders", headers=user0, json={"restaurant_id": 2, "total_amount": 9.5}
    ).json()
    for headers, user_id in ((user0, id0), (user1, id1)):
        orders = client.get("/api/orders", params={"limit": 50}, headers=headers).json()["orders"]
        owned = {row[0] for row in sql("SELECT id FROM orders WHERE user_id = %s", (user_id,))}
        assert {order["id"] for order in orders} <= owned
        prefs = client.get("/api/users/me/preferences", headers=headers).json()
        assert prefs["user_id"] == user_id
    user1_orders = client.get("/api/orders", params={"limit": 50}, headers=user1).json()
    assert placed["id"] not in {order["id"] for order in user1_orders["orders"]}


# -- recommendations --------------------------------------------------------------------------
def test_recommendations_contract(client: TestClient, user0: dict[str, str], sql: Any) -> None:
    response = client.get("/api/recommendations", headers=user0)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, max-age=600"
    body = response.json()
    assert set(body) == {"recommendations", "count", "generated_at"}
    assert body["count"] == len(body["recommendations"]) == 10
    ratings = dict(sql("SELECT id, rating FROM restaurants", ()))
    for item in body["recommendations"]:
        assert set(item) == {"restaurant", "similarity_score", "insight", "generated_at"}
        assert set(item["restaurant"]) == RESTAURANT_FIELDS
        assert 0.0 <= item["similarity_score"] <= 1.0
        assert ratings[item["restaurant"]["id"]] >= 3
        assert item["insight"]
    scores = [item["similarity_score"] for item in body["recommendations"]]
    assert scores == sorted(scores, reverse=True)
    three = client.get("/api/recommendations", params={"limit": 3}, headers=user0).json()
    assert three["count"] == 3


@pytest.mark.parametrize("params", [{"limit": 51}, {"limit": 0}, {"refresh": "maybe"}])
def test_recommendations_reject_bad_parameters(
    client: TestClient, user0: dict[str, str], params: dict[str, Any]
) -> None:
    response = client.get("/api/recommendations", params=params, headers=user0)
    assert response.status_code == 422
    assert "Cache-Control" not in response.headers


def test_chef_choice_contract(client: TestClient, user0: dict[str, str]) -> None:
    response = client.get("/api/recommendations/chef-choice", headers=user0)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, max-age=600"
    body = response.json()
    assert set(body) == {
        "restaurant",
        "similarity_score",
        "explanation",
        "reasoning",
        "confidence",
        "generated_at",
    }
    assert body["restaurant"]["name"] in body["explanation"]
    assert body["reasoning"]
    assert all(isinstance(line, str) and line for line in body["reasoning"])
    assert 0.0 <= body["confidence"] <= 1.0
    top = client.get("/api/recommendations", params={"limit": 1}, headers=user0).json()
    assert top["recommendations"][0]["restaurant"]["id"] == body["restaurant"]["id"]
