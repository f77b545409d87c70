"""The self-test's cases: R1..R8 (and the optimised control), and how each is judged.

A case is *caught* when at least one of the budgets the design names for it fails on a
real measurement (a budget that failed for want of its measurement catches nothing);
the optimised control must pass every budget the self-test measures.
``python -m benchmarks selftest`` runs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.judge.budgets import Budget, Verdict, evaluate
from service.regressions import CATALOGUE, Regression

__all__ = [
    "CASES",
    "REQUEST_ALLOCATION",
    "REQUEST_ALLOCATIONS",
    "RUN_ORDER",
    "Case",
    "CaseResult",
    "judge_case",
    "judged_budgets",
]


#: Run-scope budget that the self-test measures for the cases that ask for it.
REQUEST_ALLOCATION = "memray_request_allocation"


#: The budgets of the in-process memray measurement, judged where a case asks for it.
REQUEST_ALLOCATIONS = frozenset(
    {REQUEST_ALLOCATION, "memray_insight_allocation", "memray_onboarding_allocation"}
)


@dataclass(frozen=True)
class Case:
    """One row of the matrix: a profile with some regressions, and what must catch it."""

    name: str
    regressions: frozenset[str]
    expected: tuple[str, ...]
    replicas: int = 1
    #: For ``http_contract``: the failed check must name this (the budget counts every check).
    contract_check: str | None = None
    #: Measure one uncached request's allocation with memray (in this process).
    request_allocation: bool = False
    description: str = ""

    @property
    def is_control(self) -> bool:
        """The optimised profile: it must pass, not fail."""
        return not self.regressions


def _case(number: int, expected: tuple[str, ...], **extra: Any) -> Case:
    """The case of regression R``number`` alone, described by the catalogue."""
    regression = Regression(f"R{number}")
    description = CATALOGUE[regression].summary
    return Case(
        regression.value, frozenset({regression.value}), expected, description=description, **extra
    )


#: The optimised control first, then R1..R8 with the budgets DESIGN.md names for each.
CASES: tuple[Case, ...] = (
    Case("optimized", frozenset(), (), request_allocation=True, description="the fixed service"),
    _case(
        1,
        ("service_peak_working_set", *sorted(REQUEST_ALLOCATIONS)),
        request_allocation=True,
    ),
    # Two workers hold two copies of the service (the old deployment's memory story), and
    # their pools may open 30 connections. The pool's capacity catches that whatever the
    # load: since requests give their connection back between the user lookup and the
    # endpoint (the pool-deadlock fix), the self-test's light load rarely keeps more than
    # 4 connections open (measured 2026-12-04: 4.0 per replica, at the limit).
    _case(
        2,
        ("db_pool_capacity_per_replica", "db_connections_per_replica", "service_peak_working_set"),
    ),
    _case(3, ("recommendations_cache_hit_rate", "recommendations_p95")),
    _case(
        4,
        ("sql_per_order_list", "sql_per_recommendations_miss", "trace_db_spans_per_order_list"),
    ),
    _case(
        5,
        ("http_contract", "service_peak_working_set"),
        contract_check="page cap",
    ),
    _case(
        6,
        ("postgres_max_connections", "postgres_effective_cache_size", "postgres_peak_working_set"),
    ),
    _case(
        7,
        (
            "http_contract",
            "recommendations_cache_hit_rate",
            "recommendations_cross_replica_hit_share",
        ),
        replicas=2,
        contract_check="another replica",
    ),
    _case(8, ("http_contract",), contract_check="Cache-Control"),
)


#: Run order: R6 last, so Postgres is restarted untuned once and never back.
RUN_ORDER = ("optimized", "R1", "R2", "R3", "R4", "R5", "R7", "R8", "R6")


@dataclass(frozen=True)
class CaseResult:
    """The judged outcome of one case."""

    case: Case
    verdicts: tuple[Verdict, ...]
    not_measured: tuple[str, ...]
    #: Names of the HTTP contract checks that failed.
    contract_failures: tuple[str, ...] = ()
    error: str | None = None
    duration_s: float | None = None
    #: What was judged: the case's phase and memray block.
    document: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def failed(self) -> tuple[str, ...]:
        """Budgets that failed on a real measurement (a missing one catches nothing)."""
        return tuple(
            sorted({v.budget for v in self.verdicts if v.failed and v.measured is not None})
        )

    @property
    def unmeasured_failures(self) -> tuple[str, ...]:
        """Budgets that failed only because their measurement is missing."""
        return tuple(
            sorted({v.budget for v in self.verdicts if v.measured is None and not v.not_run})
        )

    @property
    def caught(self) -> tuple[str, ...]:
        """The expected budgets among the failed ones (``http_contract`` by the right check)."""
        return tuple(name for name in self.case.expected if self._caught_by(name))

    def _caught_by(self, budget: str) -> bool:
        if budget not in self.failed:
            return False
        wanted = self.case.contract_check
        if budget != "http_contract" or wanted is None:
            return True
        return any(wanted in check for check in self.contract_failures)

    @property
    def ok(self) -> bool:
        """Caught (a regression) or passed every measured budget (the optimised control)."""
        if self.case.is_control:
            return bool(self.verdicts) and not any(v.failed for v in self.verdicts)
        return bool(self.caught)

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case.name,
            "description": self.case.description,
            "regressions": sorted(self.case.regressions),
            "replicas": self.case.replicas,
            "expected": list(self.case.expected),
            "failed": list(self.failed),
            "unmeasured": list(self.unmeasured_failures),
            "caught": list(self.caught),
            "contract_failures": list(self.contract_failures),
            "ok": self.ok,
            "not_measured": list(self.not_measured),
            "error": self.error,
            "duration_s": self.duration_s,
            "verdicts": [verdict.to_json() for verdict in self.verdicts],
            "document": self.document,
        }


def judged_budgets(budgets: Iterable[Budget], case: Case) -> tuple[list[Budget], list[str]]:
    """(budgets judged for ``case``, names of those the self-test does not measure)."""
    judged: list[Budget] = []
    skipped: list[str] = []
    for budget in budgets:
        measured = budget.scope == "phase" or (
            budget.name in REQUEST_ALLOCATIONS and case.request_allocation
        )
        if measured:
            judged.append(budget)
        else:
            skipped.append(budget.name)
    return judged, skipped


def judge_case(
    case: Case,
    document: dict[str, Any],
    budgets: Sequence[Budget],
    *,
    error: str | None = None,
    duration_s: float | None = None,
) -> CaseResult:
    """Judge ``document`` (one case's phase and memray block) with the measured budgets."""
    judged, skipped = judged_budgets(budgets, case)
    verdicts = tuple(evaluate(document, judged))
    contract = [
        str(check.get("check"))
        for phase in document.get("phases") or []
        for check in phase.get("http_contract") or []
        if check.get("passed") is False
    ]
    return CaseResult(
        case,
        verdicts,
        tuple(skipped),
        contract_failures=tuple(contract),
        error=error,
        duration_s=duration_s,
        document=document,
    )
