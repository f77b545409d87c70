"""Micro-benchmarks of base and head: round times kept for the test, the order of the
runs and their pairs, where each tree keeps them, a base without them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from benchmarks.measure import versus_base as versus_base_module
from benchmarks.measure.micro import (
    FORMER_MICRO_PATH,
    MICRO_JSON,
    MICRO_PATH,
    micro_path,
    round_times_ms,
    run_microbenchmarks,
)
from benchmarks.measure.micro import ROOT as MICRO_ROOT
from benchmarks.measure.revisions import Revision
from benchmarks.measure.versus_base import micro_versus_base


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
    assert (
        "has no benchmarks/micro/test_hot_code.py "
        "(nor tests/benchmarks/test_hot_code.py, where older revisions keep it)"
    ) in problem


def _tree(root: Path, *paths: Path) -> Path:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("")
    return root


def test_head_keeps_its_micro_benchmarks_with_the_gate() -> None:
    assert micro_path(MICRO_ROOT) == MICRO_ROOT / "benchmarks" / "micro" / "test_hot_code.py"
    assert not (MICRO_ROOT / FORMER_MICRO_PATH).exists()


def test_a_tree_from_before_the_move_runs_its_former_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = _tree(tmp_path / "old", FORMER_MICRO_PATH)
    both = _tree(tmp_path / "both", FORMER_MICRO_PATH, MICRO_PATH)
    assert micro_path(old) == old / "tests" / "benchmarks" / "test_hot_code.py"
    assert micro_path(both) == both / MICRO_PATH
    commands: list[list[str]] = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        commands.append(command)
        assert kwargs["cwd"] == old  # the base's own packages first on the path
        return subprocess.CompletedProcess(command, 5)

    monkeypatch.setattr(subprocess, "run", fake_run)
    entries, problem = run_microbenchmarks("postgresql://unused", tmp_path / "work", root=old)
    assert str(old / FORMER_MICRO_PATH) in commands[0]
    assert entries == []
    assert problem is not None
    assert problem.startswith("micro-benchmarks wrote no JSON (exit code 5")


def test_runs_go_head_base_base_head_and_pair_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Base runs twice from its exported tree, then head again; the pairs are (1, 1), (2, 2)."""
    calls: list[tuple[str, Path]] = []

    def fake_run(
        database_url: str, work_dir: Path, root: Path = MICRO_ROOT
    ) -> tuple[list[dict[str, Any]], str | None]:
        calls.append((work_dir.name, root))
        work_dir.mkdir(parents=True)
        data = {"benchmarks": [{"name": "rank", "stats": {"data": [0.001]}}]}
        (work_dir / MICRO_JSON).write_text(json.dumps(data))
        return [{"name": "rank"}], None

    @contextmanager
    def fake_export(commit: str) -> Iterator[Path]:
        yield tmp_path / f"tree-{commit}"

    monkeypatch.setattr(versus_base_module, "run_microbenchmarks", fake_run)
    monkeypatch.setattr(versus_base_module, "exported", fake_export)
    head_dir = tmp_path / "head"
    fake_run("postgresql://unused", head_dir)
    calls.clear()
    block = micro_versus_base(
        "postgresql://unused",
        Revision("HEAD", "abc", "image"),
        head_dir,
        work_dir=tmp_path / "micro",
        log=lambda _: None,
    )
    assert [name for name, _ in calls] == ["micro-base-1", "micro-base-2", "micro-head-2"]
    assert calls[0][1] == tmp_path / "tree-abc"
    assert calls[2][1] == MICRO_ROOT
    assert block["pairs"] == [
        {"base": "micro-base-1", "head": "micro-head-1"},
        {"base": "micro-base-2", "head": "micro-head-2"},
    ]
    assert block["samples"]["micro-head-1"] == {"rank": [1.0]}
    assert block["errors"] == []


def test_a_base_without_a_commit_is_an_error_and_head_still_reruns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names: list[str] = []

    def fake_run(
        database_url: str, work_dir: Path, root: Path = MICRO_ROOT
    ) -> tuple[list[dict[str, Any]], str | None]:
        names.append(work_dir.name)
        return [], None

    monkeypatch.setattr(versus_base_module, "run_microbenchmarks", fake_run)
    block = micro_versus_base(
        "postgresql://unused",
        Revision("nowhere", None, "image"),
        tmp_path / "head",
        work_dir=tmp_path / "micro",
        log=lambda _: None,
    )
    assert names == ["micro-head-2"]
    assert block["errors"] == ["micro-benchmarks of the base: nowhere names no commit"]
