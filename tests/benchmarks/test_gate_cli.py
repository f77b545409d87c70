"""The gate's command line and the pieces of a run that need no containers."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from benchmarks.__main__ import main
from benchmarks.commands.gate import GateOptions, comparison, reproduce, run_gate, run_id
from benchmarks.measure.loadgen import max_workers
from scenarios.registry import get_scenario


def _phase(name: str, p95: float | None, error: str | None = None) -> dict[str, Any]:
    endpoints = {} if p95 is None else {"GET /api/recommendations": {"p95_ms": p95}}
    return {"name": name, "endpoints": endpoints, "error": error}


def test_comparison_ratio_of_the_same_runs_phases() -> None:
    block = comparison(
        [
            _phase("optimized", 10.0),
            _phase("compare-optimized", 8.0),
            _phase("compare-baseline", 80.0),
        ],
        get_scenario("comparison"),
    )
    assert block["ratio"] == pytest.approx(0.1)
    assert (block["optimized_p95_ms"], block["baseline_p95_ms"]) == (8.0, 80.0)


def test_comparison_without_a_baseline_figure_has_no_ratio() -> None:
    block = comparison(
        [
            _phase("compare-optimized", 8.0),
            _phase("compare-baseline", None, "service-0 was OOM-killed"),
        ],
        get_scenario("comparison"),
    )
    assert block["ratio"] is None
    assert block["errors"] == {"compare-baseline": "service-0 was OOM-killed"}


def test_run_id_names_time_and_commit() -> None:
    from datetime import UTC, datetime

    when = datetime(2026, 11, 29, 5, 1, 2, tzinfo=UTC)
    assert run_id(when, "1a2b3c4d5e") == "20261129T050102Z-1a2b3c4"
    assert run_id(when, None) == "20261129T050102Z"


def test_overrides_reach_the_scenarios() -> None:
    options = GateOptions(users=7, measure_s=20, compare_users=2)
    assert (options.primary().users, options.primary().measure_s) == (7, 20)
    assert options.primary().warmup_s == 10
    assert options.comparison().users == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--regressions", "R9"], "unknown regression id(s) R9"),
        (["run", "--users", "0"], "must be >= 1"),
        (["run", "--measure", "-5"], "must be > 0 seconds"),
        (["run", "--profile", "fast"], "invalid choice: 'fast'"),
        (["run", "--scenario", "nope"], "invalid choice: 'nope'"),
        (["run", "--load-workers", "two"], "--load-workers: must be a whole number, got 'two'"),
        (["run", "--load-workers", "-1"], "--load-workers: load workers must be 0 or more, not -1"),
        (["run", "--load-workers", "1000"], "1000 load workers on"),
        (
            ["run", "--head-env", "A B=1"],
            "expected KEY=VALUE with KEY a variable name, got 'A B=1'",
        ),
        (["run", "--base-env", "NOEQUALS"], "expected KEY=VALUE"),
    ],
)
def test_bad_arguments_are_named(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_budget_file_stops_before_booting_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    budgets = tmp_path / "budgets.toml"
    budgets.write_text("[[budget]]\nname = 'x'\n")
    assert main(["run", "--budgets", str(budgets), "--out", str(tmp_path / "out")]) == 2
    assert "'description' must be a non-empty string" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_unknown_base_ref_is_refused_before_anything_boots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--base", "no-such-ref-anywhere", "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "git ref 'no-such-ref-anywhere' names no commit" in error
    assert not list(tmp_path.iterdir())


def test_the_base_ref_is_part_of_the_reproduce_command() -> None:
    from benchmarks.commands.gate import reproduce

    assert reproduce(GateOptions(base="main")) == "make bench BASE=main"
    assert reproduce(GateOptions(base="main", base_rounds=5, users=9)).endswith(
        "--base main --base-rounds 5"
    )


def test_side_settings_need_a_base_and_are_part_of_the_reproduce_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--head-env", "OTEL_SDK_DISABLED=true", "--out", str(tmp_path)]) == 2
    assert "--base-env and --head-env need --base" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    options = GateOptions(
        base="HEAD",
        base_env=(("OTEL_SDK_DISABLED", "true"),),
        head_env=(("OTEL_TRACES_SAMPLER", "always_on"), ("X", "a=b")),
    )
    assert reproduce(options).endswith(
        "--base HEAD --base-env OTEL_SDK_DISABLED=true "
        "--head-env OTEL_TRACES_SAMPLER=always_on --head-env X=a=b"
    )
    assert "--no-tracing" in reproduce(GateOptions(tracing=False))
    assert reproduce(GateOptions()) == "make bench"


def test_load_workers_reach_the_gate_and_its_reproduction_command() -> None:
    from benchmarks.commands.run import _parser

    options = _parser().parse_args(["--load-workers", "2"])
    assert options.load_workers == 2
    assert _parser().parse_args([]).load_workers == 0  # one Locust process, as before
    assert "--load-workers 2" in reproduce(GateOptions(load_workers=2))
    assert "--load-workers" not in reproduce(GateOptions(load_workers=0, users=3))


def test_too_many_load_workers_stop_the_gate_before_booting_anything(tmp_path: Path) -> None:
    options = GateOptions(load_workers=max_workers() + 1, out=tmp_path / "out")
    with pytest.raises(ValueError, match=f"at most {max_workers()}"):
        run_gate(options)
    assert not (tmp_path / "out").exists()


def test_make_passes_load_workers_to_the_gate() -> None:
    root = Path(__file__).resolve().parents[2]
    planned = subprocess.run(
        ["make", "-n", "--no-print-directory", "bench", "LOAD_WORKERS=2", "BENCH_ARGS=--users 3"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    commands = [" ".join(line.split()) for line in planned]
    assert any(line.endswith("-m benchmarks run --load-workers 2 --users 3") for line in commands)
