"""HEAD on every GET route, ETag / If-None-Match, Vary: Authorization."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.conditional import etag_matches, etag_of
from service.seed import LOAD_TEST_PASSWORD, seed, user_email

pytestmark = pytest.mark.docker

Login = Callable[[TestClient, str, str], dict[str, str]]


@pytest.fixture(scope="module")
def client(database_url: str, app_factory: Any) -> Iterator[TestClient]:
    seed(database_url, restaurants=40, users=4, orders=30, seed=5)
    with app_factory() as started:
        yield started


@pytest.fixture(scope="module")
def user0(client: TestClient, login: Login) -> dict[str, str]:
    return login(client, user_email(0), LOAD_TEST_PASSWORD)


def _get_paths(client: TestClient) -> list[str]:
    """Every GET path of the OpenAPI document (path parameters filled in), and its own."""
    document = client.get("/openapi.json").json()
    paths = ["/openapi.json", "/docs", "/redoc"]
    for path, operations in document["paths"].items():
        if "get" in operations:
            paths.append(path.replace("{restaurant_id}", "3"))
    return paths


def test_every_get_route_answers_head_with_the_same_headers_and_no_body(
    client: TestClient, user0: dict[str, str]
) -> None:
    paths = _get_paths(client)
    assert "/api/restaurants" in paths
    assert "/api/recommendations/3/insight" in paths
    for path in paths:
        got = client.get(path, headers=user0)
        head = client.head(path, headers=user0)
        assert head.status_code == got.status_code, path
        assert head.content == b"", path
        names = ["content-type", "content-length", "cache-control", "etag", "vary"]
        if path == "/metrics":  # its body changes with every request, its length too
            names.remove("content-length")
        for name in names:
            assert head.headers.get(name) == got.headers.get(name), (path, name)


def test_head_without_a_token_is_401_like_get(client: TestClient) -> None:
    head = client.head("/api/recommendations")
    assert head.status_code == 401
    assert head.content == b""
    assert head.headers["www-authenticate"] == "Bearer"


def test_etag_and_304_on_public_restaurants(client: TestClient) -> None:
    first = client.get("/api/restaurants?limit=5")
    etag = first.headers["etag"]
    assert etag == etag_of(first.content)
    assert "vary" not in first.headers  # public: the same for everyone
    again = client.get("/api/restaurants?limit=5", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=300"
    other = client.get("/api/restaurants?limit=5", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200
    assert other.content == first.content


def test_private_answers_vary_on_authorization_and_revalidate(
    client: TestClient, user0: dict[str, str]
) -> None:
    first = client.get("/api/recommendations?limit=3", headers=user0)
    assert first.headers["vary"] == "Authorization"
    assert first.headers["cache-control"] == "private, max-age=600"
    etag = first.headers["etag"]
    not_modified = client.get(
        "/api/recommendations?limit=3", headers={**user0, "If-None-Match": f"W/{etag}"}
    )
    assert not_modified.status_code == 304
    assert not_modified.headers["vary"] == "Authorization"
    orders = client.get("/api/orders", headers=user0)
    assert orders.headers["vary"] == "Authorization"
    assert "etag" not in orders.headers  # not declared cacheable


def test_an_order_changes_the_recommendations_etag(
    client: TestClient, user0: dict[str, str]
) -> None:
    etag = client.get("/api/recommendations?limit=3", headers=user0).headers["etag"]
    placed = client.post("/api/orders", json={"restaurant_id": 2, "total_amount": 9}, headers=user0)
    assert placed.status_code == 201
    fresh = client.get("/api/recommendations?limit=3", headers={**user0, "If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["etag"] != etag


def test_no_etag_without_cache_control_under_r8(app_factory: Any) -> None:
    with app_factory(regressions="R8") as old:
        response = old.get("/api/restaurants?limit=2")
        assert response.status_code == 200
        assert "etag" not in response.headers


@pytest.mark.parametrize(
    ("header", "matches"),
    [('"a"', True), ('W/"a"', True), ('"b", "a"', True), ("*", True), ('"b"', False)],
)
def test_if_none_match_parsing(header: str, matches: bool) -> None:
    assert etag_matches(header, '"a"') is matches


def test_openapi_states_every_status_and_bound(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            if operation.get("security"):
                assert "401" in codes, (method, path)
            # Only the two routes that touch no database cannot be 503.
            assert ("503" in codes) is (path not in ("/metrics", "/health/live")), (method, path)
            if operation.get("parameters") or "requestBody" in operation:
                assert "422" in codes, (method, path)
            assert ("413" in codes) is ("requestBody" in operation), (method, path)
            if "requestBody" in operation:  # a body that cannot be parsed
                assert "400" in codes, (method, path)
            assert ("429" in codes) is (path in ("/auth/login", "/auth/register")), (method, path)
    assert "404" in paths["/api/recommendations/{restaurant_id}/insight"]["get"]["responses"]
    assert "304" in paths["/api/restaurants"]["get"]["responses"]
    assert "400" in paths["/auth/register"]["post"]["responses"]
    assert "401" in paths["/auth/login"]["post"]["responses"]
    assert "Retry-After" in paths["/auth/login"]["post"]["responses"]["429"]["headers"]
    onboarding = paths["/api/onboarding/complete"]["post"]
    assert set(onboarding["responses"]) >= {"200", "401", "422", "503"}
    reset = paths["/api/orders/simulation"]["delete"]
    assert set(reset["responses"]) >= {"200", "401", "503"}
    limits = {
        path: parameter["schema"]
        for path, operations in paths.items()
        for parameter in operations.get("get", {}).get("parameters", [])
        if parameter["name"] == "limit"
    }
    assert set(limits) == {"/api/restaurants", "/api/orders", "/api/recommendations"}
    assert all(schema["minimum"] == 1 for schema in limits.values())
    maxima = {path: schema["maximum"] for path, schema in limits.items()}
    assert maxima == {"/api/restaurants": 50, "/api/orders": 100, "/api/recommendations": 50}


@pytest.mark.parametrize(
    ("path", "name", "bound"),
    [
        ("/api/restaurants", "limit", "maximum"),
        ("/api/restaurants", "page", "maximum"),
        ("/api/orders", "offset", "maximum"),
        ("/api/orders", "limit", "maximum"),
        ("/api/recommendations", "limit", "maximum"),
        ("/api/restaurants", "limit", "minimum"),
    ],
)
def test_one_past_each_documented_bound_is_422(
    client: TestClient, user0: dict[str, str], path: str, name: str, bound: str
) -> None:
    document = client.get("/openapi.json").json()
    (schema,) = [
        p["schema"] for p in document["paths"][path]["get"]["parameters"] if p["name"] == name
    ]
    edge = schema[bound]
    past = edge + 1 if bound == "maximum" else edge - 1
    inside = client.get(path, params={name: edge}, headers=user0)
    assert inside.status_code == 200, inside.text
    outside = client.get(path, params={name: past}, headers=user0)
    assert outside.status_code == 422
    assert outside.json()["detail"][0]["loc"] == ["query", name]


def test_r5_documents_its_own_cap(app_factory: Any) -> None:
    with app_factory(regressions="R5") as old:
        document = old.get("/openapi.json").json()
    (schema,) = [
        p["schema"]
        for p in document["paths"]["/api/restaurants"]["get"]["parameters"]
        if p["name"] == "limit"
    ]
    assert schema["maximum"] == 10_000
