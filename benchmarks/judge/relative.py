"""Relative limits: head judged against base, both measured in the same run.

``budgets.toml`` holds them as ``[[relative]]`` tables beside the absolute budgets:

- ``kind = "latency"``: the requests of each endpoint matching ``metric`` (a glob), pooled
  over every round of a side. Head fails when its ``quantile`` exceeds base's by more than
  ``ratio`` *and* a one-sided Mann-Whitney U test says head's latencies are larger with
  ``p < alpha`` (the asv and Pinpoint way: an effect big enough to matter, and unlikely to
  be noise) *and* every pair of consecutive base/head rounds saw head slower by more
  than ``ratio`` *and*, with 3 pairs or more, the pairs agree: the one-sided lower
  ``1 - pairs_alpha`` confidence bound of the geometric mean of the pairs' ratios
  (Student's t on their logarithms) exceeds ``ratio``. The last two conditions are
  there because requests of one round are not independent (they share that minute of
  the machine): pooled, they make the test's p-value too small, and an A/A run then
  "finds" differences that are the rounds', not the revisions'. The round, not the
  request, is the unit that repeats, so the bound is taken over rounds. "Slower" alone
  was not enough: with two pairs an A/A run sees head slower in both a quarter of the
  time, and an A/A run's database micro-benchmark (``test_metadata_query_10k``, 5
  rounds a run) did, x1.19 and x1.09, x1.22 pooled. "Slower by more than the ratio in
  every pair" was not enough either: the 20-second rounds' p95 moves x0.4-x2.4 between
  rounds of one image, and the self-test's A/A control failed ``p95_vs_base`` once
  with all three pairs past x1.5.
  Endpoints with fewer than ``min_samples`` requests on a side are listed, not judged.
  With ``source = "microbenchmarks"`` the samples are the micro-benchmarks' round times
  instead, two runs a side paired as rounds are (the block's ``microbenchmarks``); a run
  without micro-benchmarks (``--skip-micro``) leaves such a limit out.
- ``kind = "value"``: a figure of each round (a dotted path, as in budgets, into the
  round's entry), the median over a side's rounds. With ``comparison = "<="`` head fails
  above ``base * ratio + slack``; with ``">="`` below ``base / ratio - slack``.

Every verdict carries one row per endpoint or concrete path, with base, head, their
ratio and (latency) the ratio's 95 % bootstrap confidence interval and the p-value.
"""

from __future__ import annotations

import fnmatch
import statistics
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import mannwhitneyu

from benchmarks.judge.budgets import DEFAULT_BUDGETS, BudgetError, resolve
from benchmarks.judge.ratios import as_array, pairs_lower_bound, ratio_ci95
from benchmarks.judge.units import UNITS, format_quantity, parse_quantity

__all__ = ["RelativeLimit", "judge_versus_base", "load_relative_limits"]

Side = Literal["base", "head"]
_FIELDS = frozenset(
    (
        "name",
        "description",
        "kind",
        "metric",
        "unit",
        "ratio",
        "slack",
        "comparison",
        "quantile",
        "alpha",
        "min_samples",
        "source",
        "pairs_alpha",
    )
)
Source = Literal["requests", "microbenchmarks"]


@dataclass(frozen=True)
class RelativeLimit:
    """How much worse than base head may be on one kind of figure, with the reason."""

    name: str
    description: str
    kind: Literal["latency", "value"]
    metric: str
    unit: str
    ratio: float
    slack: float = 0.0
    comparison: Literal["<=", ">="] = "<="
    quantile: float = 95.0
    alpha: float = 0.01
    min_samples: int = 100
    #: Where latency samples come from: the rounds' requests or the micro-benchmarks.
    source: Source = "requests"
    #: With 3 pairs of rounds or more, the lower bound of the pairs' geometric mean ratio
    #: at confidence ``1 - pairs_alpha`` must exceed ``ratio`` for head to fail.
    pairs_alpha: float = 0.05

    def judge(self, block: Mapping[str, Any]) -> dict[str, Any]:
        """This limit's verdict on a ``versus_base`` block."""
        rows = self._latency_rows(block) if self.kind == "latency" else self._value_rows(block)
        judged = [row for row in rows if row["passed"] is not None]
        failed = [row for row in judged if not row["passed"]]
        if not judged:
            explanation = f"nothing to compare at {self.metric}: a limit without figures fails"
        elif failed:
            explanation = "; ".join(row["explanation"] for row in failed[:5])
        else:
            worst = max(judged, key=lambda row: row["ratio"] if row["ratio"] is not None else 0)
            explanation = f"held on {len(judged)} figure(s); largest: {worst['explanation']}"
        return {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "metric": self.metric,
            "unit": self.unit,
            "ratio_limit": self.ratio,
            "passed": bool(judged) and not failed,
            "explanation": explanation,
            "rows": rows,
        }

    # -- latency -------------------------------------------------------------------------

    def _latency_rows(self, block: Mapping[str, Any]) -> list[dict[str, Any]]:
        origin = block if self.source == "requests" else block.get(self.source) or {}
        samples: Mapping[str, Mapping[str, list[float]]] = origin.get("samples") or {}
        pairs = [pair for pair in origin.get("pairs") or [] if set(pair) == {"base", "head"}]
        endpoints = {endpoint for per_round in samples.values() for endpoint in per_round}
        rows = []
        for endpoint in sorted(endpoints):
            if not fnmatch.fnmatchcase(endpoint, self.metric):
                continue

            def pooled(side: Side, endpoint: str = endpoint) -> npt.NDArray[np.float64]:
                names = [pair[side] for pair in pairs]
                return as_array(
                    v for name in names for v in samples.get(name, {}).get(endpoint, [])
                )

            row = self._latency_row(endpoint, pooled("base"), pooled("head"))
            row["pair_ratios"] = [
                self._ratio(
                    as_array(samples.get(pair["base"], {}).get(endpoint)),
                    as_array(samples.get(pair["head"], {}).get(endpoint)),
                )
                for pair in pairs
            ]
            row["pairs_low"] = pairs_lower_bound(row["pair_ratios"], self.pairs_alpha)
            if row["passed"] is False and not all(
                ratio is not None and ratio > self.ratio for ratio in row["pair_ratios"]
            ):
                # Not every pair of rounds saw head slower by more than the ratio: a
                # difference between rounds (the machine's), not between revisions.
                row["passed"] = True
                row["explanation"] += (
                    f"; not failed: not every pair of rounds saw head slower by more than "
                    f"x{self.ratio:g}"
                )
            elif row["passed"] is False and not (
                row["pairs_low"] is None or row["pairs_low"] > self.ratio
            ):
                # Every pair past the ratio, but they disagree too much for the rounds'
                # spread to rule out a machine that was slower during head's rounds.
                row["passed"] = True
                confidence = round(100 * (1 - self.pairs_alpha))
                row["explanation"] += (
                    f"; not failed: the pairs of rounds put head/base at x{row['pairs_low']:.3f}"
                    f" or more ({confidence} % confidence), not beyond x{self.ratio:g}"
                )
            rows.append(row)
        return rows

    def _ratio(self, base: npt.NDArray[np.float64], head: npt.NDArray[np.float64]) -> float | None:
        """``quantile(head) / quantile(base)``, or ``None`` without both."""
        if not len(base) or not len(head):
            return None
        base_q = float(np.percentile(base, self.quantile))
        return None if base_q <= 0 else round(float(np.percentile(head, self.quantile)) / base_q, 4)

    def _latency_row(
        self, endpoint: str, base: npt.NDArray[np.float64], head: npt.NDArray[np.float64]
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "figure": f"{endpoint} p{self.quantile:g}",
            "n_base": len(base),
            "n_head": len(head),
            "base": None,
            "head": None,
            "ratio": None,
            "ci95": None,
            "p_value": None,
            "passed": None,
        }
        if min(len(base), len(head)) < self.min_samples:
            row["explanation"] = (
                f"{row['figure']}: not judged, {len(base)} base / {len(head)} head samples "
                f"(fewer than {self.min_samples})"
            )
            return row
        base_q = float(np.percentile(base, self.quantile))
        head_q = float(np.percentile(head, self.quantile))
        ratio = head_q / base_q if base_q > 0 else None
        p_value = float(mannwhitneyu(head, base, alternative="greater").pvalue)
        larger = ratio is None or ratio > self.ratio  # a zero base: any latency is larger
        passed = not (larger and p_value < self.alpha)
        row.update(
            base=round(base_q, 3),
            head=round(head_q, 3),
            ratio=None if ratio is None else round(ratio, 4),
            ci95=ratio_ci95(base, head, self.quantile),
            p_value=p_value,
            passed=passed,
        )
        verdict = "slower" if not passed else "within"
        row["explanation"] = (
            f"{row['figure']}: head {format_quantity(head_q, self.unit)} vs base "
            f"{format_quantity(base_q, self.unit)} = {_times(ratio)} ({verdict} x{self.ratio:g}; "
            f"Mann-Whitney p = {p_value:.2g}, fails below {self.alpha:g})"
        )
        return row

    # -- values --------------------------------------------------------------------------

    def _value_rows(self, block: Mapping[str, Any]) -> list[dict[str, Any]]:
        per_side: dict[Side, dict[str, list[float]]] = {"base": {}, "head": {}}
        for entry in block.get("rounds") or []:
            side = entry.get("side")
            if side not in per_side:
                continue
            for path, value in resolve(entry, self.metric):
                try:
                    number = parse_quantity(value, self.unit)
                except (TypeError, ValueError):
                    continue
                per_side[side].setdefault(path, []).append(number)
        rows = []
        for path in sorted(set(per_side["base"]) | set(per_side["head"])):
            rows.append(
                self._value_row(
                    path, per_side["base"].get(path, []), per_side["head"].get(path, [])
                )
            )
        return rows

    def _value_row(self, path: str, base: Sequence[float], head: Sequence[float]) -> dict[str, Any]:
        row: dict[str, Any] = {
            "figure": path,
            "n_base": len(base),
            "n_head": len(head),
            "base_values": list(base),
            "head_values": list(head),
            "base": None,
            "head": None,
            "ratio": None,
            "ci95": None,
            "p_value": None,
            "passed": None,
        }
        if not base or not head:
            missing = "base" if not base else "head"
            row["passed"] = False
            row["explanation"] = f"{path}: measured on one side only (no {missing} figure)"
            return row
        base_m, head_m = statistics.median(base), statistics.median(head)
        if self.comparison == "<=":
            allowed = base_m * self.ratio + self.slack
            passed = head_m <= allowed
        else:
            allowed = base_m / self.ratio - self.slack
            passed = head_m >= allowed
        ratio = head_m / base_m if base_m else (1.0 if head_m == base_m else None)
        row.update(
            base=base_m,
            head=head_m,
            ratio=None if ratio is None else round(ratio, 4),
            passed=passed,
        )
        relation = self.comparison if passed else {"<=": ">", ">=": "<"}[self.comparison]
        row["explanation"] = (
            f"{path}: head {format_quantity(head_m, self.unit)} {relation} "
            f"{format_quantity(allowed, self.unit)} allowed (base "
            f"{format_quantity(base_m, self.unit)})"
        )
        return row


def _times(ratio: float | None) -> str:
    return "x?" if ratio is None else f"x{ratio:.3f}"


def _number(table: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BudgetError(f"{where}: '{key}' must be a number, got {value!r}")
    return float(value)


def _limit_from_table(table: Mapping[str, Any], index: int) -> RelativeLimit:
    name = table.get("name")
    where = f"relative limit #{index + 1}" + (f" ({name})" if isinstance(name, str) else "")
    for key in ("name", "description", "metric", "unit", "kind"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise BudgetError(f"{where}: '{key}' must be a non-empty string")
    unknown = set(table) - _FIELDS
    if unknown:
        raise BudgetError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    kind = table["kind"]
    if kind not in ("latency", "value"):
        raise BudgetError(f"{where}: kind must be 'latency' or 'value', got {kind!r}")
    if table["unit"] not in UNITS:
        raise BudgetError(f"{where}: unit {table['unit']!r} is not one of {', '.join(UNITS)}")
    comparison = table.get("comparison", "<=")
    if comparison not in ("<=", ">="):
        raise BudgetError(f"{where}: comparison must be '<=' or '>=', got {comparison!r}")
    ratio = _number(table, "ratio", where, float("nan"))
    if not ratio >= 1.0:
        raise BudgetError(f"{where}: 'ratio' must be a number >= 1 (head/base tolerated)")
    try:
        slack = parse_quantity(table.get("slack", 0), table["unit"])
    except (TypeError, ValueError) as error:
        raise BudgetError(f"{where}: slack: {error}") from None
    quantile = _number(table, "quantile", where, 95.0)
    alpha = _number(table, "alpha", where, 0.01)
    min_samples = _number(table, "min_samples", where, 100)
    pairs_alpha = _number(table, "pairs_alpha", where, 0.05)
    source = table.get("source", "requests")
    if source not in ("requests", "microbenchmarks") or (
        source != "requests" and kind != "latency"
    ):
        raise BudgetError(
            f"{where}: source must be 'requests' or (latency only) 'microbenchmarks', "
            f"got {source!r}"
        )
    if not 0 < quantile < 100 or not 0 < alpha < 1 or not 0 < pairs_alpha < 1 or min_samples < 2:
        raise BudgetError(
            f"{where}: need 0 < quantile < 100, 0 < alpha < 1, 0 < pairs_alpha < 1, "
            "min_samples >= 2"
        )
    return RelativeLimit(
        name=table["name"],
        description=table["description"],
        kind=kind,
        metric=table["metric"],
        unit=table["unit"],
        ratio=ratio,
        slack=slack,
        comparison=comparison,
        quantile=quantile,
        alpha=alpha,
        min_samples=int(min_samples),
        source=source,
        pairs_alpha=pairs_alpha,
    )


def load_relative_limits(path: Path = DEFAULT_BUDGETS) -> tuple[RelativeLimit, ...]:
    """The ``[[relative]]`` tables of ``path``; :class:`BudgetError` names a problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise BudgetError(f"{path}: cannot read ({error.strerror or error})") from None
    except tomllib.TOMLDecodeError as error:
        raise BudgetError(f"{path}: not valid TOML ({error})") from None
    tables = data.get("relative", [])
    if not isinstance(tables, list):
        raise BudgetError(f"{path}: 'relative' must be an array of tables ([[relative]])")
    limits = tuple(_limit_from_table(table, index) for index, table in enumerate(tables))
    names = [limit.name for limit in limits]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise BudgetError(f"{path}: duplicate relative limit name(s) {', '.join(duplicates)}")
    return limits


def judge_versus_base(
    block: Mapping[str, Any], limits: Iterable[RelativeLimit]
) -> list[dict[str, Any]]:
    """Every relative limit judged on a ``versus_base`` block (those of the micro-benchmarks
    only when the run measured them)."""
    return [
        limit.judge(block)
        for limit in limits
        if limit.source == "requests" or limit.source in block
    ]
