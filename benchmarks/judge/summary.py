"""The terminal summary of a gate run: one line per verdict, failures spelled out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from benchmarks.judge.budgets import UNSTABLE_SPREAD, Verdict, spread
from benchmarks.judge.units import format_quantity

__all__ = [
    "failure_lines",
    "not_run_lines",
    "spread_lines",
    "unstable_lines",
    "verdict_table",
    "versus_base_lines",
]


def _status(verdict: Verdict) -> str:
    if verdict.not_run:
        return "NOT RUN"
    return "PASS" if verdict.passed else "FAIL"


def verdict_table(verdicts: Sequence[Verdict]) -> str:
    """An aligned table: status, budget, phase, measured, limit; then how many held (of
    those judged) and how many were not run."""
    rows = [("", "budget", "phase", "measured", "limit")]
    for verdict in verdicts:
        status = _status(verdict)
        if verdict.unstable:
            status += "~"
        rows.append(
            (
                status,
                verdict.budget,
                verdict.phase or "-",
                format_quantity(verdict.measured, verdict.unit),
                f"{verdict.comparison} {format_quantity(verdict.limit, verdict.unit)}",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    judged = [verdict for verdict in verdicts if not verdict.not_run]
    passed = sum(1 for verdict in judged if verdict.passed)
    not_run = len(verdicts) - len(judged)
    skipped = f", {not_run} not run" if not_run else ""
    legend = "  (~ = unstable)" if any(verdict.unstable for verdict in verdicts) else ""
    lines.append(f"{passed}/{len(judged)} budgets held{skipped}{legend}")
    return "\n".join(lines)


def failure_lines(verdicts: Iterable[Verdict]) -> list[str]:
    """One line per failed verdict naming the budget, the measured value and the limit."""
    return [
        f"FAILED {verdict.budget}{f' [{verdict.phase}]' if verdict.phase else ''}: "
        f"measured {format_quantity(verdict.measured, verdict.unit)}, "
        f"limit {verdict.comparison} {format_quantity(verdict.limit, verdict.unit)} — "
        f"{verdict.explanation}"
        for verdict in verdicts
        if verdict.failed
    ]


def not_run_lines(verdicts: Iterable[Verdict]) -> list[str]:
    """One line per budget that was not run, saying why (neither passed nor failed)."""
    return [
        f"NOT RUN {verdict.budget}: {verdict.explanation}"
        for verdict in verdicts
        if verdict.not_run
    ]


def unstable_lines(verdicts: Iterable[Verdict]) -> list[str]:
    """A warning per verdict that another run could decide the other way: its limit lies
    inside the figure's 95 % confidence interval (version 1: sub-windows spread >= 10 %)."""
    lines = []
    for verdict in verdicts:
        if not verdict.unstable:
            continue
        head = f"WARNING {verdict.budget}{f' [{verdict.phase}]' if verdict.phase else ''}"
        outcome = f"({'passed' if verdict.passed else 'failed'} on the whole window)"
        if verdict.ci95 is not None:
            low, high = (format_quantity(value, verdict.unit) for value in verdict.ci95)
            limit = format_quantity(verdict.limit, verdict.unit)
            lines.append(
                f"{head}: uncertain, the limit {limit} lies inside the 95 % confidence "
                f"interval {low}-{high} {outcome}"
            )
        elif verdict.spread is not None:
            lines.append(
                f"{head}: unstable, sub-window values spread {verdict.spread:.0%} of their "
                f"median {outcome}"
            )
    return lines


def spread_lines(runs: Sequence[Sequence[Verdict]]) -> list[str]:
    """Spread of each budget's measured value across repeated runs, flagged at ≥ 10 %."""
    by_key: dict[tuple[str, str | None], list[Verdict]] = {}
    for verdicts in runs:
        for verdict in verdicts:
            by_key.setdefault((verdict.budget, verdict.phase), []).append(verdict)
    lines = []
    for (budget, phase), verdicts in by_key.items():
        value_spread = spread(verdict.measured for verdict in verdicts)
        if value_spread is None:
            continue
        unit = verdicts[0].unit
        values = ", ".join(format_quantity(verdict.measured, unit) for verdict in verdicts)
        flag = "  UNSTABLE" if value_spread >= UNSTABLE_SPREAD else ""
        lines.append(f"{budget} [{phase or '-'}]: {values}  spread {value_spread:.1%}{flag}")
    return lines


def _with(side: Mapping[str, Any]) -> str:
    """`` with KEY=VALUE ...`` for a side run under settings of its own (else empty)."""
    return f" with {side['env']}" if side.get("env") else ""


def versus_base_lines(block: Mapping[str, Any] | None) -> list[str]:
    """The relative verdicts of a base-vs-head run, one line each, failures explained."""
    if not isinstance(block, Mapping):
        return []
    base, head = block.get("base") or {}, block.get("head") or {}
    lines = [
        f"versus base {base.get('ref')} ({str(base.get('commit') or '')[:12]}){_with(base)}: "
        f"head = {head.get('ref')}{_with(head)}; rounds {', '.join(block.get('order') or [])}"
    ]
    lines += [f"  round error: {error}" for error in block.get("errors") or []]
    for verdict in block.get("verdicts") or []:
        status = "PASS" if verdict.get("passed") else "FAIL"
        lines.append(f"{status}  {verdict.get('name')}: {verdict.get('explanation')}")
    held = sum(1 for verdict in block.get("verdicts") or [] if verdict.get("passed"))
    lines.append(f"{held}/{len(block.get('verdicts') or [])} relative limits held")
    return lines
