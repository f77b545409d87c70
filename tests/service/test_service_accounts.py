"""A token whose user was deleted, or whose data set was re-seeded, is refused everywhere.

Real Postgres and Redis. Deletions reach cached recommendations through the service's
periodic refresh: these apps refresh every ``REFRESH_S``, and the tests wait for the 401
at most ``WAIT_S`` (the documented window is ``index_refresh_s``, 10 s by default).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from service.deps import EARLIER_DATASET, UNKNOWN_USER
from service.main import create_app
from service.seed import LOAD_TEST_PASSWORD, seed, user_email

pytestmark = pytest.mark.docker

REFRESH_S = 0.5
WAIT_S = 10 * REFRESH_S
Login = Callable[[TestClient, str, str], dict[str, str]]
Call = tuple[str, str, dict[str, Any] | None]

ORDER = {"restaurant_id": 1, "total_amount": 12.5, "items": [{"name": "tacos", "price": 12.5}]}
ONBOARDING = {"selected_cuisines": ["Italian", "Japanese", "Mexican", "Indian", "Thai"]}
RECOMMENDATIONS: list[Call] = [
    ("GET", "/api/recommendations", None),
    ("GET", "/api/recommendations/chef-choice", None),
    ("GET", "/api/recommendations/1/insight", None),
]
#: Every route that needs a token, with a body it accepts.
AUTHENTICATED: list[Call] = [
    ("GET", "/api/users/me", None),
    ("GET", "/api/users/me/preferences", None),
    ("GET", "/api/orders", None),
    ("POST", "/api/orders", ORDER),
    ("DELETE", "/api/orders/simulation", None),
    ("POST", "/api/onboarding/complete", ONBOARDING),
    *RECOMMENDATIONS,
]


def call(client: TestClient, request: Call, headers: dict[str, str]) -> httpx.Response:
    method, path, body = request
    response: httpx.Response = client.request(method, path, json=body, headers=headers)
    return response


def refused_within(
    client: TestClient, request: Call, headers: dict[str, str], wait_s: float = WAIT_S
) -> httpx.Response:
    """The first answer to ``request`` that is a 401, polling for at most ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        response = call(client, request, headers)
        if response.status_code == 401 or time.monotonic() > deadline:
            return response
        time.sleep(REFRESH_S / 5)


def sql_statements(metric: Any, route: str) -> float:
    return float(metric("tastematch_sql_statements_per_request_sum", route=route, cache="none"))


@pytest.fixture(scope="module")
def client(database_url: str, app_factory: Any) -> Iterator[TestClient]:
    seed(database_url, restaurants=40, users=8, orders=80, seed=21)
    with app_factory(index_refresh_s=REFRESH_S) as started:
        yield started


def _user_with_orders(sql: Any, rank: int) -> int:
    rows = sql(
        "SELECT user_id FROM orders GROUP BY user_id HAVING count(*) >= 2 ORDER BY user_id"
        " LIMIT 1 OFFSET %s",
        (rank,),
    )
    return int(rows[0][0])


def test_order_list_of_a_user_without_orders_is_empty_and_of_a_deleted_user_401(
    client: TestClient, sql: Any, metric: Any
) -> None:
    registered = client.post(
        "/auth/register",
        json={"email": "gone@tastematch.test", "name": "Gone", "password": "pw-gone-123456"},
    )
    assert registered.status_code == 201, registered.text
    headers = {"Authorization": f"Bearer {registered.json()['token']}"}
    before = sql_statements(metric, "/api/orders")
    empty = client.get("/api/orders", headers=headers)
    assert empty.status_code == 200
    assert empty.json() == {"orders": [], "total": 0, "count": 0}
    assert sql_statements(metric, "/api/orders") == before + 2  # the page, then its count

    sql("DELETE FROM users WHERE id = %s", (registered.json()["user"]["id"],))
    before = sql_statements(metric, "/api/orders")
    gone = client.get("/api/orders", headers=headers)
    assert gone.status_code == 401
    assert gone.json() == {"detail": UNKNOWN_USER}
    assert gone.headers["WWW-Authenticate"] == "Bearer"
    assert sql_statements(metric, "/api/orders") == before + 2
    reset = client.delete("/api/orders/simulation", headers=headers)
    assert (reset.status_code, reset.json()) == (401, {"detail": UNKNOWN_USER})


def test_order_list_with_orders_takes_one_statement(
    client: TestClient, sql: Any, login: Login, metric: Any
) -> None:
    user_id = _user_with_orders(sql, 0)
    headers = login(client, user_email(user_id - 1), LOAD_TEST_PASSWORD)
    before = sql_statements(metric, "/api/orders")
    page = client.get("/api/orders", headers=headers)
    assert page.status_code == 200
    assert page.json()["count"] >= 2
    assert sql_statements(metric, "/api/orders") == before + 1


def test_a_deleted_user_is_refused_everywhere_cached_recommendations_included(
    client: TestClient, sql: Any, login: Login, metric: Any
) -> None:
    user_id = _user_with_orders(sql, 1)
    headers = login(client, user_email(user_id - 1), LOAD_TEST_PASSWORD)
    for request in RECOMMENDATIONS:
        assert call(client, request, headers).status_code == 200
    hits = metric("tastematch_cache_requests_total", cache="recommendations", outcome="hit")
    for request in RECOMMENDATIONS:
        assert call(client, request, headers).status_code == 200  # from the cache
    assert metric(
        "tastematch_cache_requests_total", cache="recommendations", outcome="hit"
    ) == hits + len(RECOMMENDATIONS)

    sql("DELETE FROM users WHERE id = %s", (user_id,))
    app: Any = client.app
    app.state.ctx.accounts.poll()  # what the background thread does periodically
    for request in AUTHENTICATED:
        response = call(client, request, headers)
        assert response.status_code == 401, (request, response.text)
        assert response.json() == {"detail": UNKNOWN_USER}, request


def test_a_cached_recommendation_of_a_deleted_user_goes_within_the_refresh_interval(
    client: TestClient, sql: Any, login: Login
) -> None:
    user_id = _user_with_orders(sql, 2)
    headers = login(client, user_email(user_id - 1), LOAD_TEST_PASSWORD)
    for request in RECOMMENDATIONS:
        assert call(client, request, headers).status_code == 200
    sql("DELETE FROM users WHERE id = %s", (user_id,))
    deleted_at = time.monotonic()
    for request in RECOMMENDATIONS:
        response = refused_within(client, request, headers)
        assert response.status_code == 401, (request, response.text)
        assert response.json() == {"detail": UNKNOWN_USER}, request
    # The background thread's rhythm, with room for a slow machine.
    assert time.monotonic() - deleted_at <= WAIT_S


@pytest.fixture
def reseedable(
    scratch_database: Any, make_settings: Callable[..., Any]
) -> Callable[[], tuple[str, Any]]:
    """``make()`` → ``(database URL, settings)`` of a seeded database of the test's own."""

    def make() -> tuple[str, Any]:
        url, _ = scratch_database("reseed")
        seed(url, restaurants=40, users=8, orders=80, seed=31)
        return url, make_settings(database_url=url, index_refresh_s=REFRESH_S)

    return make


def test_a_reseeded_data_set_refuses_old_tokens_and_a_fresh_login_works(
    reseedable: Callable[[], tuple[str, Any]], login: Login
) -> None:
    url, settings = reseedable()
    # Replica B does not look at the data set by itself during the test: what it learns,
    # it learns from the tokens it is shown.
    lazy = settings.model_copy(update={"index_refresh_s": 600.0})
    with (
        TestClient(create_app(settings)) as replica_a,
        TestClient(create_app(lazy)) as replica_b,
    ):
        old = login(replica_a, user_email(0), LOAD_TEST_PASSWORD)
        for replica in (replica_a, replica_b):  # a token from one replica works on the other
            for request in AUTHENTICATED[:3] + RECOMMENDATIONS:
                assert call(replica, request, old).status_code == 200, request

        seed(url, restaurants=40, users=8, orders=80, seed=32)  # the same user ids, other people
        fresh = login(replica_a, user_email(0), LOAD_TEST_PASSWORD)
        # The other replica has not refreshed yet: a token newer than what it knows makes
        # it look again, at once.
        for replica in (replica_b, replica_a):
            for request in AUTHENTICATED[:3] + RECOMMENDATIONS:
                response = call(replica, request, fresh)
                assert response.status_code == 200, (request, response.text)
        for replica in (replica_a, replica_b):
            for request in AUTHENTICATED:
                response = call(replica, request, old)
                assert response.status_code == 401, (request, response.text)
                assert response.json() == {"detail": EARLIER_DATASET}, request


def test_a_replica_that_has_not_looked_yet_refuses_old_tokens_within_the_refresh_interval(
    reseedable: Callable[[], tuple[str, Any]], login: Login
) -> None:
    url, settings = reseedable()
    with TestClient(create_app(settings)) as replica:
        old = login(replica, user_email(0), LOAD_TEST_PASSWORD)
        assert call(replica, AUTHENTICATED[0], old).status_code == 200
        seed(url, restaurants=40, users=8, orders=80, seed=33)
        reseeded_at = time.monotonic()
        for request in AUTHENTICATED:
            response = refused_within(replica, request, old)
            assert response.status_code == 401, (request, response.text)
            assert response.json() == {"detail": EARLIER_DATASET}, request
        assert time.monotonic() - reseeded_at <= WAIT_S


def test_onboarding_that_matches_nothing_refuses_a_deleted_user_at_once(
    client: TestClient, sql: Any
) -> None:
    registered = client.post(
        "/auth/register",
        json={"email": "picky@tastematch.test", "name": "Picky", "password": "pw-picky-123456"},
    )
    assert registered.status_code == 201, registered.text
    headers = {"Authorization": f"Bearer {registered.json()['token']}"}
    nothing = {"selected_cuisines": ["No Such Cuisine"]}
    kept = client.post("/api/onboarding/complete", json=nothing, headers=headers)
    assert kept.status_code == 200, kept.text
    assert kept.json()["success"] is False

    sql("DELETE FROM users WHERE id = %s", (registered.json()["user"]["id"],))
    # Nothing is written on this path, so no foreign key refuses it: the user is looked up
    # (not left to the next refresh of the deleted users).
    gone = client.post("/api/onboarding/complete", json=nothing, headers=headers)
    assert (gone.status_code, gone.json()) == (401, {"detail": UNKNOWN_USER})
