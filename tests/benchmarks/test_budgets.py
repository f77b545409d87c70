"""Budget evaluation is a pure function of the result document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.judge.budgets import Budget, BudgetError, evaluate, load_budgets, resolve, spread
from benchmarks.judge.document import judge
from benchmarks.judge.summary import failure_lines, not_run_lines, verdict_table

MiB = 1024**2


def _phase(**overrides: Any) -> dict[str, Any]:
    phase: dict[str, Any] = {
        "name": "optimized",
        "gated": True,
        "error": None,
        "containers": {
            "service-0": {"peak_working_set_bytes": 200 * MiB, "oom_killed": False},
            "service-1": {"peak_working_set_bytes": 250 * MiB, "oom_killed": False},
            "postgres": {"peak_working_set_bytes": 300 * MiB, "oom_killed": False},
        },
        "endpoints": {
            "GET /api/recommendations": {
                "failures": 0,
                "p95_ms": 100.0,
                "p95_ms_windows": [98.0, 100.0, 102.0],
            },
            "GET /api/orders": {"failures": 0, "p95_ms": 20.0},
        },
        "cache": {"recommendations": {"hit_rate": 0.9}},
        "db": {"settings": {"max_connections": "20", "effective_cache_size": "768MB"}},
        "sql_per_request": {"/api/recommendations": {"hit": {"max": 1}, "none": {"max": 3}}},
    }
    phase.update(overrides)
    return phase


def _budget(metric: str, limit: float, unit: str = "count", **fields: Any) -> Budget:
    return Budget(name="b", description="why", metric=metric, limit=limit, unit=unit, **fields)


def test_shipped_budgets_load_and_cover_the_design_targets() -> None:
    budgets = {budget.name: budget for budget in load_budgets()}
    assert budgets["service_peak_working_set"].limit == 300 * MiB
    assert budgets["recommendations_p95"].limit == 150
    assert budgets["recommendations_cache_hit_rate"].comparison == ">="
    assert budgets["memray_request_allocation"].scope == "run"
    assert all(budget.description for budget in budgets.values())


def test_resolve_globs_and_alternatives() -> None:
    phase = _phase()
    assert [path for path, _ in resolve(phase, "containers.service-*.oom_killed")] == [
        "containers.service-0.oom_killed",
        "containers.service-1.oom_killed",
    ]
    assert [value for _, value in resolve(phase, "sql_per_request.*.miss|none.max")] == [3]
    assert resolve(phase, "containers.nothing.peak") == []


def test_max_over_replicas_names_the_worst() -> None:
    budget = _budget("containers.service-*.peak_working_set_bytes", 220 * MiB, "bytes")
    verdict = budget.judge(_phase(), phase="optimized")
    assert not verdict.passed
    assert verdict.measured == 250 * MiB
    assert "250.0 MiB > limit 220.0 MiB" in verdict.explanation
    assert "service-1" in verdict.explanation


def test_greater_or_equal_budget_passes_and_fails() -> None:
    budget = _budget("cache.recommendations.hit_rate", 0.85, "ratio", comparison=">=")
    assert budget.judge(_phase(), phase="p").passed
    low = _phase(cache={"recommendations": {"hit_rate": 0.5}})
    verdict = budget.judge(low, phase="p")
    assert not verdict.passed
    assert "0.500 < limit 0.850" in verdict.explanation


def test_missing_or_null_measurement_fails_with_reason() -> None:
    budget = _budget("cache.recommendations.hit_rate", 0.85, "ratio", comparison=">=")
    for phase in (_phase(cache={}), _phase(cache={"recommendations": {"hit_rate": None}})):
        verdict = budget.judge(phase, phase="p")
        assert not verdict.passed
        assert verdict.measured is None
        assert "no measurement at cache.recommendations.hit_rate" in verdict.explanation


def test_count_true_counts_oom_kills() -> None:
    budget = _budget("containers.*.oom_killed", 0, aggregate="count_true")
    assert budget.judge(_phase(), phase="p").passed
    phase = _phase()
    phase["containers"]["service-0"]["oom_killed"] = True
    verdict = budget.judge(phase, phase="p")
    assert not verdict.passed
    assert verdict.measured == 1
    assert "containers.service-0.oom_killed" in verdict.explanation


def test_sum_of_failures() -> None:
    budget = _budget("endpoints.*.failures", 0, aggregate="sum")
    phase = _phase()
    phase["endpoints"]["GET /api/orders"]["failures"] = 3
    verdict = budget.judge(phase, phase="p")
    assert not verdict.passed
    assert verdict.measured == 3


def test_string_settings_are_read_in_the_budget_unit() -> None:
    assert _budget("db.settings.max_connections", 20).judge(_phase(), phase="p").passed
    size = _budget("db.settings.effective_cache_size", 768 * MiB, "bytes")
    assert size.judge(_phase(), phase="p").passed
    untuned = _phase(db={"settings": {"effective_cache_size": "4GB", "max_connections": "100"}})
    assert not size.judge(untuned, phase="p").passed
    assert not _budget("db.settings.max_connections", 20).judge(untuned, phase="p").passed


def test_unstable_windows_are_flagged() -> None:
    budget = _budget("endpoints.GET /api/recommendations.p95_ms", 150, "ms")
    steady = budget.judge(_phase(), phase="p")
    assert steady.passed
    assert not steady.unstable
    assert steady.spread == pytest.approx(0.04)
    noisy = _phase()
    noisy["endpoints"]["GET /api/recommendations"]["p95_ms_windows"] = [60.0, 100.0, 140.0]
    verdict = budget.judge(noisy, phase="p")
    assert verdict.passed
    assert verdict.unstable
    assert "unstable" in verdict.explanation


def test_a_limit_inside_the_confidence_interval_is_uncertain_and_only_then() -> None:
    budget = _budget("endpoints.GET /api/recommendations.p95_ms", 150, "ms")
    clear = _phase()
    clear["endpoints"]["GET /api/recommendations"]["p95_ms_ci95"] = [60.0, 140.0]
    verdict = budget.judge(clear, phase="p")
    # Sub-windows may spread, the interval decides: 150 lies outside it.
    clear["endpoints"]["GET /api/recommendations"]["p95_ms_windows"] = [60.0, 100.0, 140.0]
    assert budget.judge(clear, phase="p").unstable is False
    assert verdict.ci95 == (60.0, 140.0)
    assert verdict.spread == pytest.approx(0.8)
    close = _phase()
    close["endpoints"]["GET /api/recommendations"]["p95_ms_ci95"] = [90.0, 160.0]
    uncertain = budget.judge(close, phase="p")
    assert uncertain.passed
    assert uncertain.unstable
    assert "uncertain: the limit lies inside the 95 % confidence interval" in (
        uncertain.explanation
    )


def test_spread() -> None:
    assert spread([90.0, 100.0, 110.0]) == pytest.approx(0.2)
    assert spread([100.0]) is None
    assert spread([None, 5.0]) is None


def test_evaluate_runs_phase_budgets_per_gated_phase_and_run_budgets_once() -> None:
    budgets = [
        _budget("containers.postgres.peak_working_set_bytes", 400 * MiB, "bytes"),
        _budget("comparison.ratio", 0.7, "ratio", scope="run"),
    ]
    document = {
        "phases": [_phase(), _phase(name="compare", gated=False)],
        "comparison": {"ratio": 0.5},
    }
    verdicts = evaluate(document, budgets)
    assert [(verdict.phase, verdict.passed) for verdict in verdicts] == [
        ("optimized", True),
        (None, True),
    ]


def test_failed_phase_explains_its_missing_figures() -> None:
    budgets = [_budget("endpoints.GET /api/recommendations.p95_ms", 150, "ms")]
    document = {"phases": [{"name": "baseline", "gated": True, "error": "service OOM-killed"}]}
    (verdict,) = evaluate(document, budgets)
    assert not verdict.passed
    assert "service OOM-killed" in verdict.explanation


def test_no_gated_phase_fails_every_phase_budget() -> None:
    (verdict,) = evaluate({"phases": []}, [_budget("db.connections_per_replica", 4)])
    assert not verdict.passed
    assert "no gated phase" in verdict.explanation


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[budget]]\nname = 'x'\n", "'description' must be a non-empty string"),
        (
            "[[budget]]\nname='x'\ndescription='d'\nmetric='m'\nunit='bytes'\nlimit='3 parsecs'\n",
            "limit: .*unknown size unit",
        ),
        (
            "[[budget]]\nname='x'\ndescription='d'\nmetric='m'\nunit='count'\nlimit=1\ncomparison='<'\n",
            "comparison must be",
        ),
        (
            "[[budget]]\nname='x'\ndescription='d'\nmetric='m'\nunit='count'\nlimit=1\nlimt=2\n",
            "unknown field",
        ),
        (
            "[[budget]]\nname='x'\ndescription='d'\nmetric='m'\nunit='count'\nlimit=1\n"
            "min_replicas=0\n",
            "min_replicas must be an integer >= 1",
        ),
        (
            "[[budget]]\nname='x'\ndescription='d'\nmetric='m'\nunit='count'\nlimit=1\n"
            "min_replicas=2\nscope='run'\n",
            "min_replicas needs scope 'phase'",
        ),
        ("not toml [", "not valid TOML"),
        ("", "no \\[\\[budget\\]\\] tables"),
    ],
)
def test_malformed_budgets_name_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "budgets.toml"
    path.write_text(text)
    with pytest.raises(BudgetError, match=message):
        load_budgets(path)


def test_run_budget_explains_what_its_block_recorded() -> None:
    budget = _budget("memray.peak_heap_bytes", 200 * MiB, "bytes", scope="run")
    document = {
        "phases": [],
        "memray": {"peak_heap_bytes": None, "errors": ["not measured: --skip-memray"]},
    }
    (verdict,) = evaluate(document, [budget])
    assert not verdict.passed
    assert "not measured: --skip-memray" in verdict.explanation


def test_a_budget_not_run_is_neither_passed_nor_failed() -> None:
    budgets = [
        Budget("held", "why", "comparison.ratio", 0.7, "ratio", scope="run"),
        Budget("absent", "why", "memray.peak_heap_bytes", 200 * MiB, "bytes", scope="run"),
        Budget("per_phase", "why", "db.connections_per_replica", 4, "count"),
    ]
    document: dict[str, Any] = {"phases": [_phase()], "comparison": {"ratio": 0.5}}
    not_run = {"absent": "its block was left out", "per_phase": "so was this"}

    verdicts = evaluate(document, budgets, not_run=not_run)

    assert [(v.budget, v.phase, v.passed) for v in verdicts] == [
        ("held", None, True),
        ("absent", None, None),
        ("per_phase", None, None),  # once, not once per phase
    ]
    skipped = verdicts[1]
    assert (skipped.not_run, skipped.failed, skipped.measured) == (True, False, None)
    assert skipped.explanation == "its block was left out"
    assert skipped.metric == "memray.peak_heap_bytes"
    table = verdict_table(verdicts)
    assert "NOT RUN  absent" in table
    assert table.splitlines()[-1] == "1/1 budgets held, 2 not run"
    assert failure_lines(verdicts) == []
    assert not_run_lines(verdicts) == [
        "NOT RUN absent: its block was left out",
        "NOT RUN per_phase: so was this",
    ]


def test_the_run_passes_on_what_was_judged_and_not_on_nothing() -> None:
    budgets = [
        Budget("held", "why", "comparison.ratio", 0.7, "ratio", scope="run"),
        Budget("broken", "why", "comparison.ratio", 0.1, "ratio", scope="run"),
    ]
    document: dict[str, Any] = {"phases": [], "comparison": {"ratio": 0.5}}
    judge(document, budgets, duration_s=1.0, not_run={"broken": "left out"})
    assert document["passed"] is True
    assert [v["passed"] for v in document["verdicts"]] == [True, None]
    judge(document, budgets, duration_s=1.0)
    assert document["passed"] is False  # judged, it fails
    judge(document, budgets, duration_s=1.0, not_run={"held": "out", "broken": "out"})
    assert document["passed"] is False  # nothing judged is no pass


def test_a_budget_about_replicas_is_not_run_on_a_phase_with_fewer() -> None:
    budget = _budget(
        "cache.recommendations.cross_replica_hit_share",
        0.3,
        "ratio",
        comparison=">=",
        min_replicas=2,
    )
    shared = {"recommendations": {"hit_rate": 0.9, "cross_replica_hit_share": 0.5}}
    local = {"recommendations": {"hit_rate": 0.9, "cross_replica_hit_share": 0.0}}
    document = {
        "phases": [
            _phase(name="one", replicas=1, cache=local),
            _phase(name="shared", replicas=2, cache=shared),
            _phase(name="per-process", replicas=2, cache=local),
        ]
    }

    verdicts = evaluate(document, [budget])

    assert [(v.phase, v.passed) for v in verdicts] == [
        ("one", None),
        ("shared", True),
        ("per-process", False),
    ]
    assert verdicts[0].explanation.startswith("phase one ran 1 service replica(s)")


def test_the_shipped_cross_replica_budget_needs_two_replicas() -> None:
    budgets = {budget.name: budget for budget in load_budgets()}
    budget = budgets["recommendations_cross_replica_hit_share"]
    assert (budget.min_replicas, budget.comparison) == (2, ">=")


def test_a_run_budget_names_the_one_phase_it_reads() -> None:
    budgets = {budget.name: budget for budget in load_budgets()}
    assert budgets["pgbouncer_postgres_backends"].phase_name == "pgbouncer"
    assert budgets["saturation_failed_requests"].phase_name == "saturation"
    # A wildcard phase, or a phase budget, reads no one phase.
    assert budgets["service_memory_growth"].phase_name is None
    assert budgets["service_peak_working_set"].phase_name is None
    assert _budget("phases.a|b.x", 1, scope="run").phase_name is None
