"""Judging a whole result document in place: its verdicts, the base-vs-head verdicts when
it compared a base revision, ``passed`` and its duration; for a ``make faults`` document,
also the budgets a run of some faults only (``--only``) did not run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from benchmarks.judge.budgets import Budget, evaluate, resolve
from benchmarks.judge.relative import RelativeLimit, judge_versus_base

__all__ = ["budgets_not_run", "judge", "judge_faults"]


def budgets_not_run(document: Mapping[str, Any], budgets: Iterable[Budget]) -> dict[str, str]:
    """The budgets a run of some faults only did not run, with why: those whose metric
    reads only entries of faults in ``faults_not_run``. A budget that reads a fault that
    ran (``faults.*``, say) is judged, on the faults that ran; so is one that reads no
    fault's entry at all (it then fails for want of a measurement, as always)."""
    left_out = [str(name) for name in document.get("faults_not_run") or []]
    if not left_out:
        return {}
    ran = [
        str(entry.get("name"))
        for entry in document.get("faults") or []
        if isinstance(entry, Mapping)
    ]
    # Which faults a metric reads is decided as the budget resolves it, on an entry for
    # each fault of the catalogue (those that ran and those left out).
    catalogue = {"faults": [{"name": name} for name in ran + left_out]}
    reasons: dict[str, str] = {}
    for budget in budgets:
        head, *rest = budget.metric.split(".")
        if head != "faults" or not rest:
            continue
        read = [path.split(".", 1)[1] for path, _ in resolve(catalogue, f"faults.{rest[0]}")]
        if read and not set(ran).intersection(read):
            reasons[budget.name] = (
                f"it reads only {', '.join(read)}, which this run left out (--only)"
            )
    return reasons


def judge_faults(document: dict[str, Any], budgets: Sequence[Budget], *, duration_s: float) -> None:
    """Judge a faults document in place (see :func:`judge`); the budgets
    of faults it left out are reported as not run, and ``passed`` depends on the others."""
    judge(document, budgets, duration_s=duration_s, not_run=budgets_not_run(document, budgets))


def judge(
    document: dict[str, Any],
    budgets: Sequence[Budget],
    *,
    duration_s: float,
    relative: Sequence[RelativeLimit] = (),
    not_run: Mapping[str, str] | None = None,
) -> None:
    """Judge ``document`` against ``budgets`` (and, when it compared a base revision,
    ``relative``) in place: its verdicts, ``passed`` and duration. The budgets named in
    ``not_run`` (with why) are reported as not run: ``passed`` depends on the others."""
    verdicts = evaluate(document, budgets, not_run=not_run)
    document["verdicts"] = [verdict.to_json() for verdict in verdicts]
    judged = [verdict for verdict in verdicts if not verdict.not_run]
    # A run whose every budget was left out judged nothing: that is not a pass.
    document["passed"] = all(verdict.passed for verdict in judged) and (
        bool(judged) or not verdicts
    )
    versus = document.get("versus_base")
    if isinstance(versus, dict):
        versus["verdicts"] = judge_versus_base(versus, relative)
        micro = versus.get("microbenchmarks") or {}
        versus["passed"] = (
            not versus.get("errors")
            and not micro.get("errors")
            and all(verdict["passed"] for verdict in versus["verdicts"])
        )
        document["passed"] = document["passed"] and versus["passed"]
    document["duration_s"] = duration_s
