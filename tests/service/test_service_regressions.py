"""Each regression switch observably brings back what the pre-fix service did."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psutil
import pytest
from fastapi.testclient import TestClient

from containers.ports import free_port
from service.config import Settings
from service.regressions import Regression
from service.seed import LOAD_TEST_PASSWORD, seed, user_email

pytestmark = pytest.mark.docker

RESTAURANTS = 40
SQL_SUM = "tastematch_sql_statements_per_request_sum"
ROWS = "tastematch_restaurant_rows_loaded_total"
Login = Callable[[TestClient, str, str], dict[str, str]]


@pytest.fixture(scope="module")
def seeded(database_url: str) -> str:
    seed(database_url, restaurants=RESTAURANTS, users=4, orders=80, seed=11)
    return database_url


@pytest.fixture(scope="module")
def optimised(seeded: str, app_factory: Any) -> Iterator[TestClient]:
    with app_factory() as client:
        yield client


def _user(client: TestClient, login: Login, i: int = 0) -> dict[str, str]:
    return login(client, user_email(i), LOAD_TEST_PASSWORD)


def _statements(metric: Any, route: str, cache: str, call: Callable[[], Any]) -> float:
    before = metric(SQL_SUM, route=route, cache=cache)
    call()
    return float(metric(SQL_SUM, route=route, cache=cache) - before)


def test_baseline_profile_switches_on_every_service_regression(jwt_secret: str) -> None:
    settings = Settings(profile="baseline", jwt_secret=jwt_secret)
    assert settings.active == frozenset(Regression) - {Regression.R6}
    assert (settings.cache_mode, settings.workers, settings.page_limit_max) == ("none", 2, 10_000)
    assert Settings(jwt_secret=jwt_secret).active == frozenset()


def test_r1_loads_every_restaurant_as_a_full_row_several_times(
    optimised: TestClient, app_factory: Any, login: Login, metric: Any
) -> None:
    headers = _user(optimised, login)
    rows = metric(ROWS)
    assert optimised.get("/api/recommendations?refresh=true", headers=headers).is_success
    assert metric(ROWS) == rows  # the optimised path materialises no restaurant row
    with app_factory(regressions="R1") as before_fix:
        rows = metric(ROWS)
        assert before_fix.get("/api/recommendations?refresh=true", headers=headers).is_success
        loaded = metric(ROWS) - rows
        assert 2 * RESTAURANTS <= loaded <= 4 * RESTAURANTS + 1000
        rows = metric(ROWS)
        assert before_fix.get("/api/restaurants?limit=7&search=a").is_success
        assert metric(ROWS) - rows >= 1  # list pages are full rows too


def test_r2_default_pool_and_two_workers(
    seeded: str, app_factory: Any, make_settings: Any, metric: Any
) -> None:
    assert make_settings().workers == 1
    assert make_settings(regressions="R2").workers == 2
    capacity = metric("tastematch_db_pool_capacity")
    with app_factory(regressions="R2") as before_fix:
        pool = before_fix.app.state.ctx.engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout) == (5, 10, 30.0)
        assert metric("tastematch_db_pool_capacity") == capacity + 15
    with app_factory() as fixed:
        pool = fixed.app.state.ctx.engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout) == (4, 0, 10.0)
        assert pool._recycle == 1800
        assert pool._pre_ping is True
        assert metric("tastematch_db_pool_capacity") == capacity + 4


def test_r3_caches_nothing(
    optimised: TestClient, app_factory: Any, login: Login, metric: Any
) -> None:
    headers = _user(optimised, login, 1)
    first = optimised.get("/api/recommendations", headers=headers).json()
    assert optimised.get("/api/recommendations", headers=headers).json() == first
    with app_factory(regressions="R3") as before_fix:
        route = "/api/recommendations"
        answers = []
        for _ in range(2):
            sql = _statements(
                metric,
                route,
                "miss",
                lambda: answers.append(before_fix.get(route, headers=headers).json()),
            )
            assert sql >= 1
        assert answers[0]["generated_at"] != answers[1]["generated_at"]


def test_r4_fetches_each_orders_restaurant_lazily(
    optimised: TestClient, app_factory: Any, login: Login, metric: Any
) -> None:
    headers = _user(optimised, login, 2)
    route = "/api/orders"
    page: list[Any] = []

    def list_orders(client: TestClient) -> Callable[[], None]:
        return lambda: page.append(client.get(route, headers=headers).json())

    assert _statements(metric, route, "none", list_orders(optimised)) <= 2
    with app_factory(regressions="R4") as before_fix:
        sql = _statements(metric, route, "none", list_orders(before_fix))
    restaurants = {order["restaurant_id"] for order in page[-1]["orders"]}
    assert len(restaurants) > 2
    assert sql == 2 + len(restaurants)  # orders, count, then one query per restaurant
    assert page[0] == page[1]


def test_r5_lifts_the_pagination_cap(optimised: TestClient, app_factory: Any, login: Login) -> None:
    assert optimised.get("/api/restaurants?limit=51").status_code == 422
    mine = _user(optimised, login)
    assert optimised.get("/api/orders?limit=100", headers=mine).status_code == 200
    assert optimised.get("/api/orders?limit=101", headers=mine).status_code == 422
    with app_factory(regressions="R5") as before_fix:
        everything = before_fix.get("/api/restaurants?limit=10000")
        assert everything.status_code == 200
        assert len(everything.json()["restaurants"]) == RESTAURANTS
        assert before_fix.get("/api/restaurants?limit=10001").status_code == 422
        headers = _user(before_fix, login)
        assert before_fix.get("/api/orders?limit=500", headers=headers).status_code == 200


def test_r6_is_accepted_and_changes_nothing_in_the_service(make_settings: Any) -> None:
    settings = make_settings(regressions="R6")
    assert Regression.R6 in settings.active
    assert (settings.cache_mode, settings.workers, settings.page_limit_max) == ("redis", 1, 50)


def test_unknown_regression_is_rejected_with_its_name(make_settings: Any) -> None:
    with pytest.raises(ValueError, match=r"unknown regression id\(s\) R9"):
        make_settings(regressions="R1,R9")


@pytest.mark.parametrize(("regressions", "stale"), [("", False), ("R7", True)], ids=["redis", "R7"])
def test_r7_replicas_serve_stale_recommendations_after_an_order(
    seeded: str, app_factory: Any, login: Login, regressions: str, stale: bool
) -> None:
    with app_factory(regressions=regressions) as one, app_factory(regressions=regressions) as two:
        headers = _user(one, login, 3)
        one.get("/api/recommendations?refresh=true", headers=headers)
        before = two.get("/api/recommendations", headers=headers).json()
        top = before["recommendations"][0]["restaurant"]["id"]
        placed = one.post(
            "/api/orders", headers=headers, json={"restaurant_id": top, "total_amount": 9}
        )
        assert placed.status_code == 201
        after = two.get("/api/recommendations", headers=headers).json()
    top_after = after["recommendations"][0]["restaurant"]["id"]
    if stale:  # the other replica never heard of the order
        assert after == before
    else:  # the shared cache was invalidated: the ordered restaurant is now excluded
        assert after["generated_at"] != before["generated_at"]
        assert top_after != top


def test_r8_drops_cache_control(optimised: TestClient, app_factory: Any, login: Login) -> None:
    headers = _user(optimised, login)
    paths = ["/api/restaurants", "/api/restaurants/1", "/api/recommendations"]
    assert all("Cache-Control" in optimised.get(p, headers=headers).headers for p in paths)
    with app_factory(regressions="R8") as before_fix:
        for path in paths:
            response = before_fix.get(path, headers=headers)
            assert response.status_code == 200
            assert "Cache-Control" not in response.headers


def _wait_for_metric(port: int, line: str, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    text = ""
    while time.monotonic() < deadline:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.TransportError:
            text = ""
        if line in text:
            break
        time.sleep(0.2)
    return text


def _workers(server: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """uvicorn's worker processes (not multiprocessing's resource tracker)."""
    children = psutil.Process(server.pid).children()
    return [child for child in children if "spawn_main" in " ".join(child.cmdline())]


def test_r2_serves_with_two_workers_and_aggregated_metrics(
    seeded: str, module_redis_url: str, jwt_secret: str
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TASTEMATCH_DATABASE_URL": seeded,
        "TASTEMATCH_REDIS_URL": module_redis_url,
        "TASTEMATCH_REGRESSIONS": "R2",
        "TASTEMATCH_PORT": str(port),
        "TASTEMATCH_LOG_LEVEL": "warning",
        "TASTEMATCH_JWT_SECRET": jwt_secret,
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    capacity = "tastematch_db_pool_capacity 30.0"  # two workers' pools of 5 + 10
    try:
        assert capacity in _wait_for_metric(port, capacity)
        workers = _workers(server)
        assert len(workers) == 2
        # A worker killed without warning (as by the OOM killer) is replaced, and its
        # stale pool gauge is dropped instead of being added to the live ones.
        workers[0].kill()
        workers[0].wait(timeout=10)
        deadline = time.monotonic() + 30
        while len(_workers(server)) < 2:
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.2)
        replaced = {worker.pid for worker in _workers(server)}
        assert workers[0].pid not in replaced
        time.sleep(1.0)  # let the replacement finish starting
        assert capacity in _wait_for_metric(port, capacity)
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=20)
    assert b"Traceback" not in output, output.decode(errors="replace")
