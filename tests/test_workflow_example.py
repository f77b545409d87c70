"""The GitHub Actions example for users (`.github/workflows/bench.yml`) parses and runs
README's two commands, keeps the report and writes the job summary; README links it.

It is not run here: no GitHub runner is reachable. What can be checked offline is checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "bench.yml"


@pytest.fixture(scope="module")
def steps() -> list[dict[str, Any]]:
    document = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(document, dict), "the workflow is not a YAML mapping"
    # YAML 1.1 reads the bare key `on` as the boolean True.
    assert "on" in document or True in document, "the workflow has no trigger"
    jobs = document["jobs"]
    assert list(jobs) == ["bench"]
    job = jobs["bench"]
    assert job["runs-on"]
    assert job["env"]["TC_HOST"] == "127.0.0.1"
    found: list[dict[str, Any]] = job["steps"]
    return found


def _run_lines(steps: list[dict[str, Any]]) -> list[str]:
    return [line.strip() for step in steps for line in str(step.get("run", "")).splitlines()]


def test_it_runs_readmes_two_commands_in_order(steps: list[dict[str, Any]]) -> None:
    commands = [line.split()[:2] for line in _run_lines(steps) if line.startswith("make ")]
    assert commands == [["make", "test"], ["make", "bench"]]


def test_it_checks_out_before_running_anything(steps: list[dict[str, Any]]) -> None:
    assert str(steps[0].get("uses", "")).startswith("actions/checkout@")


def test_the_report_is_uploaded_even_when_the_gate_fails(steps: list[dict[str, Any]]) -> None:
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert len(uploads) == 1
    assert uploads[0]["with"]["path"].rstrip("/") == "reports/out/latest"
    assert uploads[0]["if"] == "always()"


def test_the_summary_is_appended_to_the_job_summary(steps: list[dict[str, Any]]) -> None:
    summary_steps = [s for s in steps if "GITHUB_STEP_SUMMARY" in str(s.get("run", ""))]
    assert len(summary_steps) == 1
    assert summary_steps[0]["if"] == "always()"
    assert 'cat reports/out/latest/summary.md >> "$GITHUB_STEP_SUMMARY"' in summary_steps[0]["run"]


def test_readme_links_the_workflow() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(.github/workflows/bench.yml)" in readme
