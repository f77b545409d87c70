"""The standard mix's clients and the gate's SQL probe against the real service (uvicorn)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.judge.budgets import load_budgets
from benchmarks.measure.loadgen import run_scenario
from benchmarks.measure.probes import login
from benchmarks.measure.samples import failure_summary
from benchmarks.measure.work import sql_probe
from scenarios.registry import get_scenario
from service.config import Settings
from service.main import create_app
from service.seed import LOAD_TEST_PASSWORD, seed, user_email

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def live_service(
    database_url: str, make_settings: Callable[..., Settings], serve: Any
) -> Iterator[str]:
    """Base URL of the service on 127.0.0.1, served by uvicorn in a thread."""
    seed(database_url, restaurants=200, users=20, orders=200, seed=3)
    settings = make_settings()
    with serve(create_app(settings), settings) as url:
        yield url


def test_standard_mix_makes_every_new_call_without_a_failure(
    live_service: str, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("TASTEMATCH_ACCOUNTS", "20")
    # 12 users split 8/2/1/1 by weight: one of each new class. One simulator run (5 paced
    # orders, then the reset) takes at most 25 s.
    scenario = get_scenario("standard").with_overrides(users=12, warmup_s=2, measure_s=28)

    run = run_scenario(scenario, host=live_service, out_dir=tmp_path, grace_s=30)

    assert run.exit_code == 0, run.log_path.read_text()
    endpoints = set(run.samples.endpoint.tolist())
    for call in (
        "POST /auth/register",
        "POST /api/onboarding/complete",
        "DELETE /api/orders/simulation",
        "GET /api/recommendations/chef-choice?refresh=true",
        "GET /api/restaurants?limit=1",
        "GET /api/orders",
    ):
        assert call in endpoints, (call, sorted(endpoints))
    assert failure_summary(run.samples) == []


def test_sql_probe_of_the_new_calls_holds_their_budgets(live_service: str) -> None:
    """The gate's isolated statement counts, against the real service (no other traffic)."""
    budgets = {budget.name: budget for budget in load_budgets()}
    with httpx.Client(timeout=10) as client:
        headers = [
            login(client, live_service, user_email(index), LOAD_TEST_PASSWORD) for index in (3, 4)
        ]
        figures = sql_probe(client, [live_service], headers)
    for name, probe in (
        ("sql_per_insight_miss", "GET /api/recommendations/{restaurant_id}/insight uncached"),
        ("sql_per_insight_hit", "GET /api/recommendations/{restaurant_id}/insight repeated"),
        ("sql_per_onboarding", "POST /api/onboarding/complete"),
        ("sql_per_simulation_reset", "DELETE /api/orders/simulation"),
    ):
        measured = figures[probe]
        assert measured["count"] == 2, (probe, measured)
        assert measured["failed"] == 0, (probe, measured)
        assert measured["max"] is not None
        assert measured["max"] <= float(budgets[name].limit), (name, measured)
