"""How a command ends: its pages, or the reason it has none; its exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.commands.endings import render_pages, stopped_by

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
