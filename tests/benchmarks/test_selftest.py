"""The regression matrix's judgement: caught / not caught, the control, the table."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.commands.selftest import (
    checked_document,
    matrix_table,
    rejudge,
    select_cases,
    selftest_document,
)
from benchmarks.commands.selftest import main as selftest_main
from benchmarks.judge.budgets import load_budgets
from benchmarks.judge.cases import (
    CASES,
    REQUEST_ALLOCATION,
    REQUEST_ALLOCATIONS,
    CaseResult,
    judge_case,
)
from reports import selftest_html, selftest_markdown, tally
from results import SelftestDocument
from tests.benchmarks.healthy import TRACE_PROBE, WORK_PROBE, growth

MIB = 2**20
BUDGETS = load_budgets()
CASE = {case.name: case for case in CASES}


def _passing_phase() -> dict[str, Any]:
    """A gated phase whose every figure holds its budget."""
    return {
        "name": "case",
        "gated": True,
        "error": None,
        "containers": {
            "service-0": {
                "peak_working_set_bytes": 150 * MIB,
                "oom_killed": False,
                "growth": growth(2),
            },
            "postgres": {"peak_working_set_bytes": 150 * MIB, "oom_killed": False},
            "redis": {"peak_working_set_bytes": 5 * MIB, "oom_killed": False},
        },
        "endpoints": {"GET /api/recommendations": {"failures": 0, "p95_ms": 12.0, "p99_ms": 20.0}},
        "cache": {"recommendations": {"hit_rate": 0.95}},
        "db": {
            "connections_per_replica": 4.0,
            "pool_capacity_per_replica": 4.0,
            "settings": {"max_connections": "20", "effective_cache_size": "768MB"},
        },
        "sql_probe": {
            "GET /api/recommendations repeated": {"max": 0},
            "GET /api/recommendations uncached": {"max": 4},
            "GET /api/orders": {"max": 2},
            "GET /api/recommendations/{restaurant_id}/insight uncached": {"max": 2},
            "GET /api/recommendations/{restaurant_id}/insight repeated": {"max": 0},
            "POST /api/onboarding/complete": {"max": 2},
            "DELETE /api/orders/simulation": {"max": 3},
        },
        "work_probe": WORK_PROBE,
        "trace_probe": TRACE_PROBE,
        "http_contract": [{"check": "Cache-Control on /api/restaurants", "passed": True}],
        "load_generator": {"saturated": False},
    }


#: The endpoints the in-process memray measurement traces besides the recommendation.
_TRACED = ("insight", "onboarding")


def _document(
    phase: dict[str, Any],
    per_request_bytes: float | None = 200_000,
    per_endpoint_bytes: float | None = 60_000,
) -> dict[str, Any]:
    endpoints = {} if per_endpoint_bytes is None else dict.fromkeys(_TRACED, per_endpoint_bytes)
    memray = {"per_request_bytes": per_request_bytes, "per_endpoint_bytes": endpoints}
    return {"phases": [phase], "memray": memray}


def test_every_regression_has_a_case_whose_expected_budgets_exist() -> None:
    names = {budget.name for budget in BUDGETS}
    assert sorted(case.name for case in CASES if not case.is_control) == [
        f"R{number}" for number in range(1, 9)
    ]
    for case in CASES:
        assert set(case.expected) <= names, case.name
        assert case.is_control or case.expected
    assert CASE["R7"].replicas == 2


def test_the_control_passes_when_every_measured_budget_holds() -> None:
    result = judge_case(CASE["optimized"], _document(_passing_phase()), BUDGETS)
    assert result.ok
    assert result.failed == ()
    # Run budgets the self-test does not measure are named, not judged.
    assert "memray_peak_heap" in result.not_measured
    assert REQUEST_ALLOCATION not in result.not_measured


def test_the_control_fails_on_a_missing_measurement() -> None:
    phase = _passing_phase()
    del phase["cache"]
    result = judge_case(CASE["optimized"], _document(phase), BUDGETS)
    assert not result.ok
    assert result.unmeasured_failures == ("recommendations_cache_hit_rate",)


def test_a_regression_is_caught_by_its_expected_budget() -> None:
    phase = _passing_phase()
    phase["db"]["connections_per_replica"] = 11.0
    result = judge_case(CASE["R2"], _document(phase), BUDGETS)
    assert result.ok
    assert result.caught == ("db_connections_per_replica",)


def test_another_budget_failing_does_not_count_as_caught() -> None:
    phase = _passing_phase()
    phase["endpoints"]["GET /api/recommendations"]["p95_ms"] = 900.0
    result = judge_case(CASE["R8"], _document(phase), BUDGETS)
    assert result.failed == ("recommendations_p95",)
    assert not result.ok


def test_an_unmeasured_expected_budget_is_not_caught() -> None:
    phase = copy.deepcopy(_passing_phase())
    phase["containers"]["service-0"]["peak_working_set_bytes"] = None
    result = judge_case(CASE["R1"], _document(phase, None, None), BUDGETS)
    assert not result.ok
    assert "service_peak_working_set" in result.unmeasured_failures
    assert set(result.unmeasured_failures) >= REQUEST_ALLOCATIONS


def test_r1_is_caught_by_request_allocation_alone() -> None:
    result = judge_case(CASE["R1"], _document(_passing_phase(), 130 * MIB, 40 * MIB), BUDGETS)
    assert set(result.caught) == REQUEST_ALLOCATIONS


def test_r1_onboarding_alone_is_caught_by_its_own_budget() -> None:
    document = _document(_passing_phase())
    document["memray"]["per_endpoint_bytes"]["onboarding"] = 40 * MIB
    result = judge_case(CASE["R1"], document, BUDGETS)
    assert result.caught == ("memray_onboarding_allocation",)


def _matrix(results: list[CaseResult], run_id: str = "r1") -> SelftestDocument:
    """``results`` as the ``selftest.json`` the command writes, as reports read it."""
    document = selftest_document(results, duration_s=12.0)
    return checked_document({**document, "run_id": run_id})


def test_the_table_and_tally_name_each_case() -> None:
    caught = _passing_phase()
    caught["http_contract"][0]["passed"] = False
    results = [
        judge_case(CASE["optimized"], _document(_passing_phase()), BUDGETS),
        judge_case(CASE["R8"], _document(caught), BUDGETS),
        judge_case(CASE["R4"], _document(_passing_phase()), BUDGETS),
    ]
    table = matrix_table(results)
    lines = table.splitlines()
    assert lines[0].split() == [
        "case",
        "failed",
        "budgets",
        "expected",
        "budget",
        "(any)",
        "caught",
    ]
    assert lines[1].split()[0] == "optimized"
    assert lines[1].endswith("passed")
    assert "R8" in lines[3]
    assert "http_contract" in lines[3]
    assert lines[3].endswith("yes")
    assert "R4" in lines[2]
    assert lines[2].endswith("NO")
    assert lines[-1] == "caught 1/2 regressions; optimised profile passed"
    assert tally(_matrix(results)) in selftest_markdown(_matrix(results))
    page = selftest_html(_matrix(results, run_id="run<1>"))
    assert "run&lt;1&gt;" in page
    assert "http_contract" in page


def test_the_contract_budget_catches_only_by_the_named_check() -> None:
    phase = _passing_phase()
    phase["http_contract"] = [
        {"check": "Cache-Control on /api/restaurants", "passed": False},
        {"check": "page cap: /api/restaurants?limit=1000 rejected", "passed": True},
    ]
    assert judge_case(CASE["R8"], _document(phase), BUDGETS).ok
    r5 = judge_case(CASE["R5"], _document(phase), BUDGETS)
    assert r5.failed == ("http_contract",)
    assert not r5.ok  # the contract failed, but not on the pagination cap
    assert r5.contract_failures == ("Cache-Control on /api/restaurants",)


def test_a_recorded_selftest_is_judged_again(tmp_path: Path) -> None:
    phase = _passing_phase()
    phase["db"]["connections_per_replica"] = 9.0
    recorded = {
        "cases": [
            {"case": "optimized", "document": _document(_passing_phase())},
            {"case": "R2", "document": _document(phase), "error": None, "duration_s": 30.0},
        ]
    }
    path = tmp_path / "selftest.json"
    path.write_text(json.dumps(recorded))
    results = rejudge(path)
    assert [result.ok for result in results] == [True, True]
    assert tally(_matrix(results)) == "caught 1/1 regressions; optimised profile passed"
    # --cases R2 runs no control: the tally says so instead of calling it failed.
    assert tally(_matrix(results[1:])) == "caught 1/1 regressions; optimised profile not run"
    path.write_text("{}")
    with pytest.raises(ValueError, match="not a self-test document"):
        rejudge(path)


def test_select_cases() -> None:
    assert select_cases("") == CASES
    assert [case.name for case in select_cases("r3, optimized")] == ["R3", "optimized"]
    with pytest.raises(ValueError, match="unknown case"):
        select_cases("R9")


def test_an_unknown_case_is_named_before_anything_boots(capsys: pytest.CaptureFixture[str]) -> None:
    assert selftest_main(["--cases", "R1,R9"]) == 2
    assert "unknown case(s) R9" in capsys.readouterr().err
