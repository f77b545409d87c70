"""The API contract: accounts, users and operations, on a small seeded data set."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.security import create_token
from service.seed import LOAD_TEST_PASSWORD, user_email

pytestmark = pytest.mark.docker


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


Login = Callable[[TestClient, str, str], dict[str, str]]


# -- auth ---------------------------------------------------------------------------------------
def test_register_then_login_and_me(client: TestClient) -> None:
    created = client.post(
        "/auth/register",
        json={"email": "Ada@Example.com", "name": "Ada", "password": "correct horse"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body["user"]) == {"id", "email", "name", "created_at"}
    assert body["user"]["email"] == "ada@example.com"
    assert body["token"]
    again = client.post(
        "/auth/register",
        json={"email": "ada@example.com", "name": "Other", "password": "something else"},
    )
    assert again.status_code == 400
    assert "already registered" in again.json()["detail"]
    login = client.post(
        "/auth/login", json={"email": "ada@example.com", "password": "correct horse"}
    )
    assert login.status_code == 200
    me = client.get("/api/users/me", headers={"Authorization": f"Bearer {login.json()['token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]
    assert "password_hash" not in me.json()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email", "name": "X", "password": "long enough"}, "email"),
        ({"email": "x@example.com", "name": "X", "password": "short"}, "password"),
        ({"email": "x@example.com", "name": "", "password": "long enough"}, "name"),
    ],
)
def test_register_rejects_bad_input_with_a_reason(
    client: TestClient, payload: dict[str, str], field: str
) -> None:
    response = client.post("/auth/register", json=payload)
    assert response.status_code == 422
    assert any(field in error["loc"] for error in response.json()["detail"])


@pytest.mark.parametrize(
    ("email", "password"),
    [(user_email(0), "wrong password"), ("nobody@tastematch.test", LOAD_TEST_PASSWORD)],
)
def test_login_failure_is_401(client: TestClient, email: str, password: str) -> None:
    response = client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 401
    assert response.json()["detail"] == "Incorrect email or password"


def test_seeded_user_logs_in_with_known_password(client: TestClient, metric: Any) -> None:
    sql_sum = "tastematch_sql_statements_per_request_sum"
    statements = metric(sql_sum, route="/auth/login", cache="none")
    response = client.post(
        "/auth/login", json={"email": user_email(3), "password": LOAD_TEST_PASSWORD}
    )
    assert response.status_code == 200
    assert metric(sql_sum, route="/auth/login", cache="none") == statements + 1
    assert response.json()["user"]["email"] == user_email(3)


OTHER_SECRET = "a-different-secret-of-enough-length-0123456789"


@pytest.mark.parametrize(
    ("make_headers", "reason"),
    [
        (lambda secret: {}, "not authenticated"),
        (lambda secret: {"Authorization": "Bearer not.a.token"}, "invalid token"),
        (
            lambda secret: bearer(create_token(1, dataset=0, secret=OTHER_SECRET, ttl_s=60)),
            "invalid token: Signature verification failed",
        ),
        (
            lambda secret: bearer(create_token(1, dataset=0, secret=secret, ttl_s=-10)),
            "token expired",
        ),
    ],
    ids=["missing", "malformed", "forged", "expired"],
)
@pytest.mark.parametrize(
    "path", ["/api/users/me", "/api/orders", "/api/recommendations", "/api/users/me/preferences"]
)
def test_protected_paths_need_a_valid_token(
    client: TestClient,
    jwt_secret: str,
    path: str,
    make_headers: Callable[[str], dict[str, str]],
    reason: str,
) -> None:
    response = client.get(path, headers=make_headers(jwt_secret))
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


# -- users -----------------------------------------------------------------------------------
def test_preferences_match_the_users_orders(
    client: TestClient, user0: dict[str, str], sql: Any
) -> None:
    response = client.get("/api/users/me/preferences", headers=user0)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "user_id",
        "favorite_cuisines",
        "total_orders",
        "average_order_value",
        "last_updated",
    }
    ((count, spent),) = sql(
        "SELECT count(*), coalesce(sum(total_amount), 0) FROM orders WHERE user_id = %s",
        (body["user_id"],),
    )
    assert body["total_orders"] == count
    assert body["average_order_value"] == pytest.approx(float(spent) / max(count, 1), abs=0.01)
    top = sql(
        "SELECT r.cuisine_type, count(*) AS n FROM orders o JOIN restaurants r"
        " ON r.id = o.restaurant_id WHERE o.user_id = %s GROUP BY 1 ORDER BY n DESC, 1 LIMIT 3",
        (body["user_id"],),
    )
    assert body["favorite_cuisines"] == [cuisine for cuisine, _ in top]


# -- operations ------------------------------------------------------------------------------------
def test_health(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["redis"]) == (
        "healthy",
        "connected",
        "connected",
    )
    assert body["restaurants_indexed"] == 60


def test_health_is_503_with_a_reason_when_the_database_is_unreachable(app_factory: Any) -> None:
    unreachable = "postgresql+psycopg://nobody:nothing@127.0.0.1:1/none"
    with app_factory(database_url=unreachable) as down:
        response = down.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert (body["status"], body["database"]) == ("unhealthy", "unreachable")
        assert "OperationalError" in body["reason"]
        # Liveness needs no database: the process still serves.
        live = down.get("/health/live")
        assert (live.status_code, live.json()) == (200, {"status": "live"})
        listing = down.get("/api/restaurants")
        assert listing.status_code == 503
        assert listing.headers["Retry-After"]


def test_metrics_expose_the_documented_names(client: TestClient, user0: dict[str, str]) -> None:
    client.get("/api/recommendations", headers=user0)
    text = client.get("/metrics").text
    for name in (
        "tastematch_request_duration_seconds_bucket",
        "tastematch_cache_requests_total",
        "tastematch_sql_statements_per_request_bucket",
        "tastematch_db_pool_checked_out",
        "tastematch_db_pool_capacity",
        "tastematch_restaurant_rows_loaded_total",
        "tastematch_process_rss_bytes",
    ):
        assert name in text, name
    assert 'route="/api/recommendations"' in text
