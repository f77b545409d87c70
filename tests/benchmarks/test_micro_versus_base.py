"""Micro-benchmarks of base and head: round times kept for the test, a base without them."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.micro import MICRO_JSON, round_times_ms, run_microbenchmarks


def test_round_times_are_kept_in_ms_and_thinned_evenly(tmp_path: Path) -> None:
    data = {
        "benchmarks": [
            {"name": "fast", "stats": {"data": [0.000001 * i for i in range(1, 1001)]}},
            {"name": "slow", "stats": {"data": [0.5, 0.6, 0.7]}},
        ]
    }
    path = tmp_path / MICRO_JSON
    path.write_text(json.dumps(data))
    times = round_times_ms(path)
    assert times["slow"] == [500.0, 600.0, 700.0]
    assert len(times["fast"]) == 200
    assert times["fast"][:2] == [0.001, 0.006]


def test_a_missing_or_broken_json_gives_no_times(tmp_path: Path) -> None:
    assert round_times_ms(tmp_path / "absent.json") == {}
    (tmp_path / "bad.json").write_text("{")
    assert round_times_ms(tmp_path / "bad.json") == {}


def test_a_tree_without_micro_benchmarks_is_named(tmp_path: Path) -> None:
    entries, problem = run_microbenchmarks("postgresql://unused", tmp_path / "work", root=tmp_path)
    assert entries == []
    assert problem is not None
    assert "has no tests/benchmarks/test_hot_code.py" in problem
