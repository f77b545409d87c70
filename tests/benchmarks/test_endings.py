"""How a command ends: its pages, or the reason it has none; its exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.commands.endings import render_pages, stopped_by
from benchmarks.errors import BenchmarkError, InputError, RunError
from benchmarks.judge.budgets import BudgetError
from benchmarks.measure.memory import MemrayUnsupportedError
from benchmarks.measure.revisions import RevisionError
from benchmarks.measure.traces import TraceFileError

GOLDEN = Path(__file__).resolve().parent.parent / "results" / "golden"


def test_the_pages_of_a_written_document_are_rendered(tmp_path: Path) -> None:
    (tmp_path / "selftest.json").write_text((GOLDEN / "selftest.json").read_text())
    written = render_pages(tmp_path)
    assert [path.name for path in written] == ["selftest.md", "selftest.html"]


def test_a_document_the_reports_cannot_read_leaves_no_pages_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "selftest.json").write_text(json.dumps({"kind": "selftest"}))
    assert render_pages(tmp_path) == []
    said = capsys.readouterr().out
    assert said.startswith("report: not rendered (DocumentError: ")
    assert "selftest.json" in said
    assert not (tmp_path / "selftest.html").exists()


def test_bad_input_exits_2_and_a_failed_stack_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert stopped_by(ValueError("--step must be > 0")) == 2
    assert capsys.readouterr().err == "error: --step must be > 0\n"
    assert stopped_by(RuntimeError("no engine")) == 1
    assert "the capped stack could not run: no engine" in capsys.readouterr().err


def test_the_suite_s_errors_carry_their_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    for error in (BudgetError("budget 'x': no metric"), RevisionError("not a git ref: '-x'")):
        assert stopped_by(error) == 2
        assert capsys.readouterr().err == f"error: {error}\n"
    assert stopped_by(MemrayUnsupportedError("two workers")) == 1
    assert capsys.readouterr().err == "error: two workers\n"
    assert stopped_by(BenchmarkError("stopped")) == 1


def test_the_suite_s_errors_are_still_what_they_were() -> None:
    for bad_input in (BudgetError, RevisionError, TraceFileError):
        assert issubclass(bad_input, InputError)
        assert issubclass(bad_input, ValueError)  # every `except ValueError` still catches it
    assert issubclass(MemrayUnsupportedError, RunError)
    assert issubclass(MemrayUnsupportedError, RuntimeError)
    assert (InputError.exit_code, RunError.exit_code) == (2, 1)
