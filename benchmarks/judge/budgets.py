"""Budgets: reading ``budgets.toml`` and judging a result document against it.

Each budget is a small object whose :meth:`Budget.judge` is a pure function of
the document; it never raises on a bad measurement — a missing figure is a
failing verdict that says what is missing. A budget whose subject the run left
out on purpose (a faults run of some faults only) is not judged: its verdict is
"not run" (``passed`` ``None``), neither a pass nor a failure.
"""

from __future__ import annotations

import fnmatch
import statistics
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from benchmarks.errors import InputError
from benchmarks.judge.units import UNITS, format_quantity, parse_quantity
from results import Verdict

__all__ = [
    "DEFAULT_BUDGETS",
    "UNSTABLE_SPREAD",
    "Budget",
    "BudgetError",
    "Verdict",
    "evaluate",
    "load_budgets",
    "resolve",
    "spread",
]

DEFAULT_BUDGETS = Path(__file__).resolve().parents[1] / "budgets.toml"

#: Version-1 documents (no confidence intervals): a repeated measurement whose
#: (max - min) / median reaches this is flagged unstable.
UNSTABLE_SPREAD = 0.10

Comparison = Literal["<=", ">="]
Aggregate = Literal["max", "min", "sum", "count_true", "count_false"]
_AGGREGATES: tuple[Aggregate, ...] = ("max", "min", "sum", "count_true", "count_false")
_FIELDS = frozenset(
    ("name", "description", "metric", "limit", "unit", "comparison", "aggregate", "scope")
) | {"command", "min_replicas"}
#: The commands whose documents budgets judge (a budget's ``command``, default ``gate``).
COMMANDS = ("gate", "faults")


class BudgetError(InputError):
    """``budgets.toml`` is malformed; the message names the budget and the field."""


def _item_name(item: Any) -> str | None:
    if isinstance(item, Mapping):
        name = item.get("check", item.get("name"))
        if isinstance(name, str):
            return name
    return None


def _children(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, Mapping):
        return [(str(key), node[key]) for key in sorted(node)]
    if isinstance(node, list):
        # A list of named checks is addressed by name, so a verdict can say which failed.
        return [(_item_name(item) or str(index), item) for index, item in enumerate(node)]
    return []


def resolve(document: Any, path: str) -> list[tuple[str, Any]]:
    """Every ``(concrete path, value)`` that ``path`` matches in ``document``.

    Segments are separated by ``.``; a segment may be a glob (``service-*``) or
    alternatives (``miss|none``). List items are addressed by their ``check`` or
    ``name``, else by their index.
    """
    found: list[tuple[str, Any]] = [("", document)]
    for segment in path.split("."):
        patterns = segment.split("|")
        next_found: list[tuple[str, Any]] = []
        for prefix, node in found:
            for key, child in _children(node):
                if any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns):
                    next_found.append((f"{prefix}.{key}" if prefix else key, child))
        found = next_found
    return found


def spread(values: Iterable[float | None]) -> float | None:
    """(max - min) / median of the known values; ``None`` below two values or at median 0."""
    known = [float(value) for value in values if isinstance(value, int | float)]
    if len(known) < 2:
        return None
    median = statistics.median(known)
    return None if median == 0 else (max(known) - min(known)) / abs(median)


@dataclass(frozen=True)
class Budget:
    """A limit on one measured figure, with the reason it exists."""

    name: str
    description: str
    metric: str
    limit: float
    unit: str
    comparison: Comparison = "<="
    aggregate: Aggregate = "max"
    scope: Literal["phase", "run"] = "phase"
    #: The command whose documents it judges: ``gate`` (``make bench``, also the OOM run
    #: and the self-test) or ``faults`` (``make faults``).
    command: Literal["gate", "faults"] = "gate"
    #: A phase budget about several replicas (sharing a cache) is not run on a phase that
    #: ran fewer.
    min_replicas: int = 1

    @property
    def phase_name(self) -> str | None:
        """The one phase a run budget reads (``phases.<name>.…``, no wildcard), or ``None``."""
        parts = self.metric.split(".")
        if self.scope != "run" or len(parts) < 3 or parts[0] != "phases":
            return None
        return None if any(char in parts[1] for char in "*|") else parts[1]

    def holds(self, measured: float) -> bool:
        return measured <= self.limit if self.comparison == "<=" else measured >= self.limit

    def _measure(
        self, matches: list[tuple[str, Any]]
    ) -> tuple[float | None, str | None, list[str]]:
        """(aggregated value, path of the deciding match, offending paths) — or why not."""
        if self.aggregate in ("count_true", "count_false"):
            wanted = self.aggregate == "count_true"
            flags = [(path, value) for path, value in matches if isinstance(value, bool)]
            if not flags:
                return None, None, []
            hits = [path for path, value in flags if value is wanted]
            return float(len(hits)), None, hits
        numbers: list[tuple[str, float]] = []
        for path, value in matches:
            if value is None or isinstance(value, bool):
                continue
            try:
                numbers.append((path, parse_quantity(value, self.unit)))
            except (TypeError, ValueError):
                continue
        if not numbers:
            return None, None, []
        if self.aggregate == "sum":
            return sum(value for _, value in numbers), None, []
        pick = max if self.aggregate == "max" else min
        path, value = pick(numbers, key=lambda item: item[1])
        return value, path, [path]

    def not_run(self, reason: str, *, phase: str | None = None) -> Verdict:
        """This budget's verdict when what it judges was not run: ``passed`` ``None``,
        ``reason`` its explanation."""
        return Verdict(
            budget=self.name,
            description=self.description,
            phase=phase,
            measured=None,
            limit=self.limit,
            unit=self.unit,
            comparison=self.comparison,
            passed=None,
            explanation=reason,
            metric=self.metric,
        )

    def judge(self, node: Any, *, phase: str | None, context: str = "") -> Verdict:
        """The verdict of this budget on ``node`` (a phase, or the whole document)."""
        matches = resolve(node, self.metric)
        measured, deciding_path, offenders = self._measure(matches)
        limit_text = format_quantity(self.limit, self.unit)
        unstable, value_spread, ci95 = False, None, None
        if measured is None:
            because = f" ({context})" if context else ""
            explanation = f"no measurement at {self.metric}{because}: a budget without one fails"
            passed = False
        else:
            passed = self.holds(measured)
            where = f" at {', '.join(offenders[:5])}" if offenders else ""
            relation = self.comparison if passed else {"<=": ">", ">=": "<"}[self.comparison]
            value_text = format_quantity(measured, self.unit)
            explanation = f"{value_text} {relation} limit {limit_text}{where}"
            interval = (
                None
                if deciding_path is None
                else dict(resolve(node, f"{deciding_path}_ci95")).get(f"{deciding_path}_ci95")
            )
            if isinstance(interval, list | tuple) and len(interval) == 2:
                # Unstable: another run of the same load could land on the other side.
                ci95 = (float(interval[0]), float(interval[1]))
                unstable = ci95[0] <= self.limit <= ci95[1]
                if measured:
                    value_spread = (ci95[1] - ci95[0]) / abs(measured)
                if unstable:
                    explanation += (
                        "; uncertain: the limit lies inside the 95 % confidence interval "
                        f"{format_quantity(ci95[0], self.unit)}-"
                        f"{format_quantity(ci95[1], self.unit)}"
                    )
            elif deciding_path is not None:
                windows = dict(resolve(node, f"{deciding_path}_windows")).get(
                    f"{deciding_path}_windows"
                )
                if isinstance(windows, list):
                    value_spread = spread(windows)
                    unstable = value_spread is not None and value_spread >= UNSTABLE_SPREAD
                    if unstable and value_spread is not None:
                        explanation += (
                            f"; unstable: sub-windows spread {value_spread:.0%} of their median"
                        )
        return Verdict(
            budget=self.name,
            description=self.description,
            phase=phase,
            measured=measured,
            limit=self.limit,
            unit=self.unit,
            comparison=self.comparison,
            passed=passed,
            explanation=explanation,
            unstable=unstable,
            spread=None if value_spread is None else round(value_spread, 4),
            ci95=ci95,
            metric=self.metric,
            paths=tuple(path for path, _ in matches),
        )


def _budget_from_table(table: Mapping[str, Any], index: int) -> Budget:
    name = table.get("name")
    where = f"budget #{index + 1}" + (f" ({name})" if isinstance(name, str) else "")
    for key in ("name", "description", "metric", "unit"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise BudgetError(f"{where}: '{key}' must be a non-empty string")
    unknown = set(table) - _FIELDS
    if unknown:
        raise BudgetError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if table["unit"] not in UNITS:
        raise BudgetError(f"{where}: unit {table['unit']!r} is not one of {', '.join(UNITS)}")
    if "limit" not in table:
        raise BudgetError(f"{where}: 'limit' is missing")
    try:
        limit = parse_quantity(table["limit"], table["unit"])
    except (TypeError, ValueError) as error:
        raise BudgetError(f"{where}: limit: {error}") from None
    comparison = table.get("comparison", "<=")
    if comparison not in ("<=", ">="):
        raise BudgetError(f"{where}: comparison must be '<=' or '>=', got {comparison!r}")
    aggregate = table.get("aggregate", "max")
    if aggregate not in _AGGREGATES:
        raise BudgetError(f"{where}: aggregate must be one of {', '.join(_AGGREGATES)}")
    scope = table.get("scope", "phase")
    if scope not in ("phase", "run"):
        raise BudgetError(f"{where}: scope must be 'phase' or 'run', got {scope!r}")
    command = table.get("command", "gate")
    if command not in COMMANDS:
        raise BudgetError(f"{where}: command must be one of {', '.join(COMMANDS)}, got {command!r}")
    min_replicas = table.get("min_replicas", 1)
    if isinstance(min_replicas, bool) or not isinstance(min_replicas, int) or min_replicas < 1:
        raise BudgetError(f"{where}: min_replicas must be an integer >= 1, got {min_replicas!r}")
    if min_replicas > 1 and scope != "phase":
        raise BudgetError(f"{where}: min_replicas needs scope 'phase' (a phase has replicas)")
    return Budget(
        name=table["name"],
        description=table["description"],
        metric=table["metric"],
        limit=limit,
        unit=table["unit"],
        comparison=comparison,
        aggregate=aggregate,
        scope=scope,
        command=command,
        min_replicas=min_replicas,
    )


def load_budgets(
    path: Path = DEFAULT_BUDGETS, command: Literal["gate", "faults"] = "gate"
) -> tuple[Budget, ...]:
    """The budgets in ``path`` that judge ``command``'s documents; :class:`BudgetError`
    names the first problem found (in any budget of the file)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BudgetError(f"{path}: cannot read ({error.strerror or error})") from None
    except tomllib.TOMLDecodeError as error:
        raise BudgetError(f"{path}: not valid TOML ({error})") from None
    tables = data.get("budget")
    if not isinstance(tables, list) or not tables:
        raise BudgetError(f"{path}: no [[budget]] tables")
    budgets = tuple(_budget_from_table(table, index) for index, table in enumerate(tables))
    names = [budget.name for budget in budgets]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise BudgetError(f"{path}: duplicate budget name(s) {', '.join(duplicates)}")
    return tuple(budget for budget in budgets if budget.command == command)


def _gated_phases(document: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for phase in document.get("phases") or []:
        if isinstance(phase, Mapping) and phase.get("gated"):
            yield phase


def _errors_of(document: Mapping[str, Any], budget: Budget) -> str:
    """Why a run-level block is missing figures, as it recorded (``errors``/``error``)."""
    block = document.get(budget.metric.split(".")[0])
    if not isinstance(block, Mapping):
        return ""
    errors = block.get("errors") or block.get("error")
    if isinstance(errors, Mapping):
        errors = list(errors.values())
    if isinstance(errors, list):
        return "; ".join(str(error) for error in errors)
    return str(errors) if errors else ""


def evaluate(
    document: Mapping[str, Any],
    budgets: Iterable[Budget],
    *,
    not_run: Mapping[str, str] | None = None,
) -> list[Verdict]:
    """Every budget judged: phase budgets once per gated phase, run budgets once.

    ``not_run`` maps the names of budgets whose subject the run left out to why: each
    gets one "not run" verdict instead of a judgement.
    """
    phases = list(_gated_phases(document))
    not_run = not_run or {}
    verdicts: list[Verdict] = []
    for budget in budgets:
        if budget.name in not_run:
            verdicts.append(budget.not_run(not_run[budget.name]))
            continue
        if budget.scope == "run":
            verdicts.append(
                budget.judge(document, phase=None, context=_errors_of(document, budget))
            )
            continue
        if not phases:
            verdicts.append(budget.judge({}, phase=None, context="the run has no gated phase"))
        for phase in phases:
            replicas = phase.get("replicas") or 1
            if replicas < budget.min_replicas:
                verdicts.append(
                    budget.not_run(
                        f"phase {phase.get('name')} ran {replicas} service replica(s); "
                        f"this budget needs {budget.min_replicas} (--replicas)",
                        phase=str(phase.get("name")),
                    )
                )
                continue
            error = phase.get("error")
            context = f"phase {phase.get('name')} failed: {error}" if error else ""
            verdicts.append(budget.judge(phase, phase=str(phase.get("name")), context=context))
    return verdicts
