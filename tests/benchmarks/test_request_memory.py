"""Allocation of one uncached recommendation request, and what 1,000 requests leave
behind, against real Postgres and Redis.

``test_limit_memory_*`` and ``test_limit_leaks_*`` are enforced by pytest-memray and
need ``pytest --memray`` (``make test`` runs them so); the other tests trace with
memray's API themselves (and so cannot run under ``--memray``: memray allows one
tracker at a time).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from benchmarks.judge.budgets import load_budgets
from benchmarks.measure.memory import request_allocation
from scenarios.accounts import LOAD_TEST_PASSWORD, user_email
from service.config import Settings, one_process_jwt_secret
from service.main import create_app
from service.seed import seed

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BUDGETS = {budget.name: budget for budget in load_budgets()}
BUDGET = BUDGETS["memray_request_allocation"]
#: Each traced endpoint's budget (``memray.per_endpoint_bytes.<name>``).
ENDPOINT_BUDGETS = {
    "insight": BUDGETS["memray_insight_allocation"],
    "onboarding": BUDGETS["memray_onboarding_allocation"],
}
RECOMMENDATIONS = "/api/recommendations?limit=12&refresh=true"


@pytest.fixture(scope="module")
def seeded_postgres_url(postgres_url: str) -> str:
    seed(postgres_url, restaurants=10_000, users=2_000, orders=50_000, seed=42)
    return postgres_url


def _memray_active(config: pytest.Config) -> bool:
    return bool(config.getoption("memray", default=False))


@pytest.fixture
def tracing_myself(request: pytest.FixtureRequest) -> None:
    if _memray_active(request.config):
        pytest.skip("traces with memray's API, which cannot run inside pytest --memray")


@pytest.mark.usefixtures("tracing_myself")
def test_uncached_request_stays_within_the_budget(seeded_postgres_url: str, redis_url: str) -> None:
    measured = request_allocation(
        seeded_postgres_url, redis_url, profile="optimized", regressions=frozenset()
    )
    assert 0 < measured["per_request_bytes"] <= BUDGET.limit, measured
    for name, budget in ENDPOINT_BUDGETS.items():
        assert 0 < measured["per_endpoint_bytes"][name] <= budget.limit, measured


@pytest.mark.usefixtures("tracing_myself")
def test_full_row_regression_breaks_the_budget(seeded_postgres_url: str, redis_url: str) -> None:
    measured = request_allocation(
        seeded_postgres_url, redis_url, profile="optimized", regressions=frozenset({"R1"})
    )
    assert measured["per_request_bytes"] > BUDGET.limit, measured
    for name, budget in ENDPOINT_BUDGETS.items():
        assert measured["per_endpoint_bytes"][name] > budget.limit, measured


def _warmed_client(
    database_url: str, redis_url: str, regressions: str
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A started app whose shared restaurant index is loaded, and a second account's headers."""
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        regressions=regressions,
        jwt_secret=one_process_jwt_secret(),
    )
    with TestClient(create_app(settings)) as client:
        headers = []
        for account in (1980, 1981):
            response = client.post(
                "/auth/login", json={"email": user_email(account), "password": LOAD_TEST_PASSWORD}
            )
            response.raise_for_status()
            headers.append({"Authorization": f"Bearer {response.json()['token']}"})
        client.get(RECOMMENDATIONS, headers=headers[0]).raise_for_status()
        yield client, headers[1]


@pytest.fixture(scope="module")
def warmed_client(
    seeded_postgres_url: str, redis_url: str
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    yield from _warmed_client(seeded_postgres_url, redis_url, "")


@pytest.fixture
def under_memray(request: pytest.FixtureRequest) -> None:
    if not _memray_active(request.config):
        pytest.skip("limit_memory is enforced only under pytest --memray")


@pytest.mark.usefixtures("under_memray")
@pytest.mark.limit_memory("20 MB")
def test_limit_memory_one_uncached_recommendation(
    warmed_client: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = warmed_client
    client.get(RECOMMENDATIONS, headers=headers).raise_for_status()


#: The in-process loop of the leak test: 1,000 requests over the cached and uncached
#: paths, 250 rounds of these four.
LEAK_ROUNDS = 250
#: Most a single call stack may keep allocated after the loop: caches inside the
#: interpreter and the libraries fill up once; a leak of 1 KiB per request would keep
#: about 1 MiB from its stack.
LEAK_LIMIT_PER_STACK = "256 KB"


def _leak_round(client: TestClient, headers: dict[str, str], round_: int) -> None:
    for path in (
        "/api/recommendations?limit=12",
        RECOMMENDATIONS,
        "/api/orders",
        f"/api/restaurants?limit=20&page={1 + round_ % 400}",
    ):
        client.get(path, headers=headers).raise_for_status()


@pytest.fixture
def leak_warmed(
    warmed_client: tuple[TestClient, dict[str, str]],
) -> tuple[TestClient, dict[str, str]]:
    """The warmed app after 100 rounds: every cache the loop can fill once is filled."""
    client, headers = warmed_client
    for round_ in range(100):
        _leak_round(client, headers, round_)
    return client, headers


@pytest.mark.usefixtures("under_memray")
@pytest.mark.limit_leaks(LEAK_LIMIT_PER_STACK)
def test_limit_leaks_a_thousand_requests(leak_warmed: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = leak_warmed
    for round_ in range(LEAK_ROUNDS):
        _leak_round(client, headers, round_)
