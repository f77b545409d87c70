"""Allocation of one uncached recommendation request, against real Postgres and Redis.

``test_limit_memory_*`` is enforced by pytest-memray and needs ``pytest --memray``;
the other tests trace with memray's API themselves (and so cannot run under
``--memray``: memray allows one tracker at a time).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from benchmarks.budgets import load_budgets
from benchmarks.memory import request_allocation
from scenarios.accounts import LOAD_TEST_PASSWORD, user_email
from service.config import Settings, one_process_jwt_secret
from service.main import create_app
from service.seed import seed

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BUDGET = {budget.name: budget for budget in load_budgets()}["memray_request_allocation"]
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


@pytest.mark.usefixtures("tracing_myself")
def test_full_row_regression_breaks_the_budget(seeded_postgres_url: str, redis_url: str) -> None:
    measured = request_allocation(
        seeded_postgres_url, redis_url, profile="optimized", regressions=frozenset({"R1"})
    )
    assert measured["per_request_bytes"] > BUDGET.limit, measured


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
