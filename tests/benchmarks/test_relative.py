"""Relative limits: head against base, from the raw latencies and the per-round figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.judge.budgets import BudgetError
from benchmarks.judge.ratios import pairs_lower_bound
from benchmarks.judge.relative import (
    RelativeLimit,
    judge_versus_base,
    load_relative_limits,
)
from benchmarks.measure.versus_base import round_order

P95 = RelativeLimit("p95", "why", "latency", "*", "ms", ratio=1.10, quantile=95, alpha=0.01)
SQL = RelativeLimit("sql", "why", "value", "sql_probe.*.max", "count", ratio=1.0)
MEMORY = RelativeLimit(
    "memory", "why", "value", "containers.service-*.peak", "bytes", ratio=1.10, slack=8 * 2**20
)
HIT_RATE = RelativeLimit(
    "hits", "why", "value", "cache.*.hit_rate", "ratio", ratio=1.0, slack=0.03, comparison=">="
)


def _latencies(scale: float, *, n: int = 1500, seed: int) -> list[float]:
    rng = np.random.default_rng(seed)
    values: list[float] = (rng.lognormal(mean=2.5, sigma=0.5, size=n) * scale).round(3).tolist()
    return values


ENDPOINT = "GET /api/recommendations"


def _block(base: list[float], head: list[float], rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Three pairs of rounds, each side's latencies dealt out over its three rounds."""
    samples = {}
    for side, values in (("base", base), ("head", head)):
        for index in range(3):
            samples[f"{side}-{index + 1}"] = {ENDPOINT: values[index::3]}
    pairs = [{"base": f"base-{index}", "head": f"head-{index}"} for index in (1, 2, 3)]
    return {"samples": samples, "pairs": pairs, "rounds": rounds}


def _round(side: str, sql: float, peak: float, hit_rate: float) -> dict[str, Any]:
    return {
        "side": side,
        "sql_probe": {"GET /api/orders": {"max": sql}},
        "containers": {"service-0": {"peak": peak}},
        "cache": {"recommendations": {"hit_rate": hit_rate}},
    }


def test_same_distribution_passes_and_reports_ratio_interval_and_p() -> None:
    (verdict,) = judge_versus_base(
        _block(_latencies(1.0, seed=1), _latencies(1.0, seed=2), []), [P95]
    )
    assert verdict["passed"] is True
    (row,) = verdict["rows"]
    assert 0.9 < row["ratio"] < 1.1
    assert row["ci95"][0] < row["ratio"] < row["ci95"][1]
    assert row["p_value"] > 0.01


def test_a_handler_thrice_as_slow_fails() -> None:
    (verdict,) = judge_versus_base(
        _block(_latencies(1.0, seed=1), _latencies(3.0, seed=2), []), [P95]
    )
    assert verdict["passed"] is False
    (row,) = verdict["rows"]
    assert row["ratio"] > 2.5
    assert row["p_value"] < 1e-6
    assert "GET /api/recommendations p95" in verdict["explanation"]


def test_a_slower_head_in_one_pair_of_rounds_only_passes() -> None:
    block = _block(_latencies(1.0, seed=1), _latencies(1.0, seed=2), [])
    # One pair's head round ran on a slow minute of the machine: pooled, head looks slower.
    block["samples"]["head-2"][ENDPOINT] = [
        3 * value for value in block["samples"]["head-2"][ENDPOINT]
    ]
    block["samples"]["head-1"][ENDPOINT] = block["samples"]["base-1"][ENDPOINT]
    (verdict,) = judge_versus_base(block, [P95])
    (row,) = verdict["rows"]
    assert row["ratio"] > 1.1
    assert row["p_value"] < 0.01
    assert row["pair_ratios"][0] == 1.0
    assert verdict["passed"] is True
    assert "not every pair of rounds saw head slower by more than x1.1" in row["explanation"]


def test_head_slower_in_every_pair_but_within_the_ratio_in_one_passes() -> None:
    """Two pairs see head slower by chance a quarter of the time: one must stay within."""
    values = [float(value) for value in range(1, 401)]
    scale = {"base-1": 1.0, "head-1": 1.05, "base-2": 1.0, "head-2": 1.30}
    block = {
        "samples": {name: {ENDPOINT: [v * f for v in values]} for name, f in scale.items()},
        "pairs": [{"base": "base-1", "head": "head-1"}, {"base": "base-2", "head": "head-2"}],
        "rounds": [],
    }
    (verdict,) = judge_versus_base(block, [P95])
    (row,) = verdict["rows"]
    assert row["ratio"] > 1.1
    assert row["p_value"] < 0.01
    assert row["pair_ratios"] == [1.05, 1.3]
    assert verdict["passed"] is True


def _scaled_rounds(scale: dict[str, float]) -> dict[str, Any]:
    """Rounds of one latency distribution, each round's times multiplied by its factor."""
    values = [float(value) for value in range(1, 401)]
    pairs = [{"base": f"base-{index}", "head": f"head-{index}"} for index in (1, 2, 3)]
    return {
        "samples": {name: {ENDPOINT: [v * f for v in values]} for name, f in scale.items()},
        "pairs": pairs,
        "rounds": [],
    }


def test_head_past_the_ratio_in_every_pair_but_pairs_disagreeing_passes() -> None:
    """An A/A run's three pairs can all land past the ratio: x1.3, x1.6, x2.6 at ratio 1.1
    bound the pairs' geometric mean at no more than x1.1 with 95 % confidence."""
    block = _scaled_rounds(
        {"base-1": 1.0, "head-1": 1.3, "base-2": 1.0, "head-2": 1.6, "base-3": 1.0, "head-3": 2.6}
    )
    (verdict,) = judge_versus_base(block, [P95])
    (row,) = verdict["rows"]
    assert row["pair_ratios"] == [1.3, 1.6, 2.6]
    assert row["p_value"] < 0.01
    assert row["pairs_low"] is not None
    assert row["pairs_low"] < 1.1
    assert verdict["passed"] is True
    assert "not failed: the pairs of rounds put head/base at x" in row["explanation"]


def test_head_slower_by_the_same_factor_in_every_pair_fails() -> None:
    block = _scaled_rounds(
        {"base-1": 1.0, "head-1": 1.9, "base-2": 1.1, "head-2": 2.0, "base-3": 0.9, "head-3": 2.1}
    )
    (verdict,) = judge_versus_base(block, [P95])
    (row,) = verdict["rows"]
    assert row["pairs_low"] is not None
    assert row["pairs_low"] > 1.1
    assert verdict["passed"] is False


def test_the_pairs_bound_is_students_t_on_the_logs() -> None:
    # logs 0, ln 2, ln 4: mean ln 2, standard error ln 2 / sqrt(3); t(0.95, 2) = 2.919986.
    expected = 2 * np.exp(-2.919986 * np.log(2) / np.sqrt(3))
    assert pairs_lower_bound([1.0, 2.0, 4.0], 0.05) == pytest.approx(expected, abs=1e-4)
    assert pairs_lower_bound([3.0, 3.0, 3.0], 0.05) == pytest.approx(3.0)
    # Two pairs say too little about their spread; a missing pair leaves no bound.
    assert pairs_lower_bound([2.0, 2.0], 0.05) is None
    assert pairs_lower_bound([2.0, None, 2.0], 0.05) is None


def test_a_large_but_insignificant_ratio_passes() -> None:
    # Few, wildly spread samples: the p95 ratio is large, the test cannot tell them apart.
    rng = np.random.default_rng(5)
    base = rng.exponential(10, 120).tolist()
    head = (rng.exponential(10, 120) * 1.02).tolist()
    head[-8:] = [400.0] * 8
    (verdict,) = judge_versus_base(_block(base, head, []), [P95])
    (row,) = verdict["rows"]
    assert row["ratio"] > 1.1
    assert row["p_value"] >= 0.01
    assert verdict["passed"] is True


def test_too_few_samples_are_listed_not_judged_and_nothing_judged_fails() -> None:
    (verdict,) = judge_versus_base(_block([1.0] * 10, [9.0] * 10, []), [P95])
    assert verdict["rows"][0]["passed"] is None
    assert "not judged" in verdict["rows"][0]["explanation"]
    assert verdict["passed"] is False
    assert "nothing to compare" in verdict["explanation"]


def test_one_more_statement_fails_the_exact_limit() -> None:
    rounds = [_round("base", 2, 100e6, 0.9), _round("head", 3, 100e6, 0.9)]
    (verdict,) = judge_versus_base(_block([], [], rounds), [SQL])
    assert verdict["passed"] is False
    assert verdict["rows"][0]["base"] == 2
    assert verdict["rows"][0]["head"] == 3


def test_values_are_the_median_of_each_side_and_slack_applies() -> None:
    mib = 2**20
    rounds = [
        _round("base", 2, 100 * mib, 0.90),
        _round("base", 2, 104 * mib, 0.90),
        _round("base", 2, 300 * mib, 0.91),  # one outlier round: the median ignores it
        _round("head", 2, 118 * mib, 0.88),
        _round("head", 2, 117 * mib, 0.88),
        _round("head", 2, 119 * mib, 0.88),
    ]
    memory, hits = judge_versus_base(_block([], [], rounds), [MEMORY, HIT_RATE])
    assert memory["rows"][0]["base"] == 104 * mib
    assert memory["passed"] is True  # 118 MiB <= 104 * 1.1 + 8 = 122.4 MiB
    assert hits["passed"] is True  # 0.88 >= 0.90 - 0.03
    rounds[3]["cache"]["recommendations"]["hit_rate"] = 0.80
    rounds[4]["cache"]["recommendations"]["hit_rate"] = 0.80
    (hits,) = judge_versus_base(_block([], [], rounds), [HIT_RATE])
    assert hits["passed"] is False


def test_a_figure_on_one_side_only_fails() -> None:
    rounds = [_round("base", 2, 1.0, 0.9), {"side": "head", "sql_probe": {}}]
    (verdict,) = judge_versus_base(_block([], [], rounds), [SQL])
    assert verdict["passed"] is False
    assert "no head figure" in verdict["explanation"]


def test_the_shipped_relative_limits_load() -> None:
    names = {limit.name for limit in load_relative_limits()}
    assert {"p95_vs_base", "sql_vs_base", "redis_vs_base", "pg_bytes_vs_base"} <= names
    assert "micro_vs_base" in names


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('kind = "latency"\nratio = 0.9', "'ratio' must be a number >= 1"),
        ('kind = "speed"\nratio = 1.1', "kind must be"),
        ('kind = "value"\nratio = 1.1\nlimt = 3', "unknown field"),
        ('kind = "latency"\nratio = 1.1\nalpha = 2', "0 < alpha < 1"),
        ('kind = "latency"\nratio = 1.1\npairs_alpha = 0', "0 < pairs_alpha < 1"),
        ('kind = "value"\nratio = 1.1\nsource = "microbenchmarks"', "source must be"),
    ],
)
def test_a_malformed_relative_limit_is_named(tmp_path: Path, table: str, message: str) -> None:
    path = tmp_path / "budgets.toml"
    path.write_text(
        f'[[relative]]\nname = "x"\ndescription = "d"\nmetric = "*"\nunit = "ms"\n{table}\n'
    )
    with pytest.raises(BudgetError, match=message):
        load_relative_limits(path)


def test_rounds_alternate_in_pairs_of_flipped_order() -> None:
    assert round_order(3) == ["base", "head", "head", "base", "base", "head"]
    assert round_order(1) == ["base", "head"]
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        round_order(0)


MICRO = RelativeLimit(
    "micro",
    "why",
    "latency",
    "*",
    "ms",
    ratio=1.20,
    quantile=50,
    min_samples=5,
    source="microbenchmarks",
)


def _micro(base: dict[str, list[float]], head: dict[str, list[float]]) -> dict[str, Any]:
    return {
        "samples": {},
        "pairs": [],
        "rounds": [],
        "microbenchmarks": {
            "samples": {"micro-base": base, "micro-head": head},
            "pairs": [{"base": "micro-base", "head": "micro-head"}],
        },
    }


def test_a_slower_micro_benchmark_fails_and_a_steady_one_holds() -> None:
    base = {"scoring": _latencies(1.0, n=300, seed=1), "cache": _latencies(1.0, n=300, seed=3)}
    head = {"scoring": _latencies(1.5, n=300, seed=2), "cache": _latencies(1.0, n=300, seed=4)}
    (verdict,) = judge_versus_base(_micro(base, head), [MICRO])
    assert verdict["passed"] is False
    rows = {row["figure"]: row for row in verdict["rows"]}
    assert rows["scoring p50"]["passed"] is False
    assert rows["cache p50"]["passed"] is True


def test_a_micro_benchmark_of_three_rounds_is_listed_not_judged() -> None:
    (verdict,) = judge_versus_base(_micro({"q": [1.0, 1.1, 1.2]}, {"q": [5.0, 5.1, 5.2]}), [MICRO])
    (row,) = verdict["rows"]
    assert row["passed"] is None
    assert "not judged" in row["explanation"]


def test_a_run_without_micro_benchmarks_leaves_their_limit_out() -> None:
    block = _block(_latencies(1.0, seed=1), _latencies(1.0, seed=2), [])
    assert [v["name"] for v in judge_versus_base(block, [P95, MICRO])] == ["p95"]
