"""The mutants of the self-test: their patches apply, their order, and their judgement."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from benchmarks.commands.mutations import (
    CONTROL,
    MUTANTS,
    MUTANTS_DIR,
    Mutant,
    check_patches,
    cycle_order,
    judge_mutant,
)
from benchmarks.commands.selftest import matrix_table, select
from benchmarks.judge.budgets import load_budgets
from benchmarks.judge.relative import load_relative_limits
from benchmarks.measure.revisions import Revision, RevisionError
from benchmarks.measure.versus_base import ROUND_SCENARIO, block
from tests.benchmarks.test_selftest import _passing_phase

ROOT = Path(__file__).resolve().parents[2]
BUDGETS = load_budgets()
RELATIVE = load_relative_limits()
BASE = Revision("HEAD", "c0ffee", "tastematch-bench/service:base")
HEAD = Revision("HEAD+x", "c0ffee", "tastematch-bench/service:mutant")


def test_every_patch_applies_to_the_working_tree() -> None:
    check_patches(ROOT)


def test_a_patch_that_does_not_apply_is_named(tmp_path: Path) -> None:
    (tmp_path / "service").mkdir()
    with pytest.raises(RevisionError, match=r"slow-handler\.patch does not apply"):
        check_patches(tmp_path, [MUTANTS[0]])


def test_every_mutant_has_a_patch_and_every_patch_a_mutant() -> None:
    assert sorted(path.stem for path in MUTANTS_DIR.glob("*.patch")) == sorted(
        mutant.name for mutant in MUTANTS
    )
    assert len(MUTANTS) >= 8
    assert all(mutant.description for mutant in (CONTROL, *MUTANTS))


def test_every_expected_budget_exists() -> None:
    names = {budget.name for budget in BUDGETS} | {limit.name for limit in RELATIVE}
    for mutant in MUTANTS:
        assert mutant.expected, mutant.name
        assert set(mutant.expected) <= names, mutant.name


def test_cycle_order_alternates_base_with_every_variant() -> None:
    assert cycle_order(["a", "b"], 3) == ["base", "a", "b", "b", "a", "base", "base", "a", "b"]
    with pytest.raises(ValueError, match="cycles"):
        cycle_order(["a"], 0)


def _round(name: str, side: str, sql: int, memory_mib: float) -> dict[str, Any]:
    return {
        "name": name,
        "side": side,
        "commit": "c0ffee",
        "service_image": BASE.service_image if side == "base" else HEAD.service_image,
        "error": None,
        "endpoints": {},
        "containers": {"service-0": {"peak_working_set_bytes": memory_mib * 2**20}},
        "cache": {"recommendations": {"hit_rate": 0.9}, "restaurants": {"hit_rate": 0.9}},
        "sql_probe": {"GET /api/orders": {"max": sql}},
        "work_probe": {
            "GET /api/restaurants uncached": {
                "redis_commands": {"median": 3},
                "pg_rows": {"median": 20},
                "pg_buffer_bytes": {"median": 65536},
            }
        },
        "load_generator": {},
    }


def _versus(head_sql: int, head_slower_ms: float) -> dict[str, Any]:
    rounds, latencies = [], {}
    for cycle in (1, 2, 3):
        for side, name in (("base", f"base-{cycle}"), ("head", f"x-{cycle}")):
            rounds.append(_round(name, side, head_sql if side == "head" else 2, 150))
            extra = head_slower_ms if side == "head" else 0.0
            latencies[name] = {
                "GET /api/recommendations": [5.0 + extra + i / 100 for i in range(200)]
            }
    return block(BASE, HEAD, ROUND_SCENARIO, rounds, latencies)


def _mutant(expected: str) -> Mutant:
    return Mutant("x", (expected,))


def test_a_mutant_is_caught_by_the_relative_limit_it_names() -> None:
    phases = [_passing_phase() for _ in range(3)]
    result = judge_mutant(_mutant("sql_vs_base"), _versus(3, 0.0), phases, BUDGETS, RELATIVE)
    assert result.failed == ("sql_vs_base",)
    assert result.caught == ("sql_vs_base",)
    assert result.ok
    slower = judge_mutant(_mutant("p95_vs_base"), _versus(2, 20.0), phases, BUDGETS, RELATIVE)
    assert "p95_vs_base" in slower.failed
    assert slower.ok


def test_a_mutant_nothing_catches_is_not_ok() -> None:
    phases = [_passing_phase() for _ in range(3)]
    result = judge_mutant(_mutant("redis_vs_base"), _versus(2, 0.0), phases, BUDGETS, RELATIVE)
    assert result.failed == ()
    assert not result.ok


def test_the_control_passes_only_when_everything_holds() -> None:
    phases = [_passing_phase() for _ in range(3)]
    same = judge_mutant(CONTROL, _versus(2, 0.0), phases, BUDGETS, RELATIVE)
    assert same.ok
    assert same.to_json()["versus_base"]["samples"] == {}
    broken = copy.deepcopy(phases)
    broken[0]["containers"]["service-0"]["peak_working_set_bytes"] = 900 * 2**20
    worse = judge_mutant(CONTROL, _versus(2, 0.0), broken, BUDGETS, RELATIVE)
    assert worse.failed == ("service_peak_working_set",)
    assert not worse.ok
    errored = _versus(2, 0.0)
    errored["errors"] = ["x-2: the stack could not run this round"]
    assert not judge_mutant(CONTROL, errored, phases, BUDGETS, RELATIVE).ok


def test_the_matrix_lists_mutants_and_their_tally() -> None:
    phases = [_passing_phase() for _ in range(3)]
    results = [
        judge_mutant(CONTROL, _versus(2, 0.0), phases, BUDGETS, RELATIVE),
        judge_mutant(_mutant("sql_vs_base"), _versus(3, 0.0), phases, BUDGETS, RELATIVE),
    ]
    table = matrix_table([], results)
    assert "mutant x" in table
    assert "mutant unchanged" in table
    assert table.endswith("caught 1/1 mutants; A/A passed")


def test_select_names_cases_and_mutants() -> None:
    cases, mutants = select("")
    assert len(cases) == 9
    assert mutants == (CONTROL, *MUTANTS)
    cases, mutants = select("R3, slow-handler")
    assert [c.name for c in cases] == ["R3"]
    assert mutants == (CONTROL, MUTANTS[0])
    assert select("r1")[1] == ()
    assert select("mutants") == ((), (CONTROL, *MUTANTS))
    with pytest.raises(ValueError, match=r"unknown case.*mutants"):
        select("fast-handler")
