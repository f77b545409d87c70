"""What the report makes of each document: bad ones (a clear error, exit code 2), every
document kind, faults runs, and the command line."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reports import OUTPUTS, DocumentError, load_document, render_run
from reports.__main__ import main
from tests.reports.page import page_figures, script

MAX_REPORT_BYTES = 5_000_000
Document = dict[str, Any]
Maker = Callable[[str], Document]
Writer = Callable[[str, Document], Path]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema_version=99), "field 'schema_version' is 99: this report reads"),
        (lambda d: d.pop("run_id"), "field 'run_id' is missing"),
        (lambda d: d["verdicts"][3].pop("passed"), "field 'verdicts[3].passed' is missing"),
        (
            lambda d: d["verdicts"][0].update(measured="big"),
            "field 'verdicts[0].measured' must be a number, got \"big\"",
        ),
        (
            lambda d: d["phases"][0]["endpoints"].update(x=[]),
            "field 'phases[0].endpoints.x' must be an object, got []",
        ),
        (
            lambda d: d["phases"][1]["timeline"]["memory"]["redis"][5].update(t=None),
            "field 'phases[1].timeline.memory.redis[5].t' must be a number, got null",
        ),
        (lambda d: d["verdicts"][0].update(comparison="<"), "must be '<=' or '>='"),
    ],
)
def test_bad_documents_name_the_file_and_the_field(
    passing_document: Document, write_document: Writer, change: Any, message: str
) -> None:
    change(passing_document)
    run = write_document("bad", passing_document)

    with pytest.raises(DocumentError) as caught:
        load_document(run)
    assert str(caught.value).startswith(f"{run / 'result.json'}: ")
    assert message in str(caught.value)


def test_cli_renders_and_lists_the_files(
    passing_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(passing_run)]) == 0
    assert capsys.readouterr().out.split() == [str(passing_run / name) for name in OUTPUTS]


@pytest.mark.parametrize("content", [None, "{not json", "[1, 2]"])
def test_cli_bad_input_exits_2_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None
) -> None:
    if content is not None:
        (tmp_path / "result.json").write_text(content)

    assert main(["render", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {tmp_path / 'result.json'}: ")
    assert "Traceback" not in error


def test_cli_bad_base_exits_2(passing_run: Path, tmp_path: Path) -> None:
    assert main(["render", str(passing_run), "--base", str(tmp_path / "missing")]) == 2


def test_cli_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["paint"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_minimal_document_renders_without_charts(write_document: Writer) -> None:
    run = write_document(
        "minimal",
        {"schema_version": 1, "run_id": "r", "environment": {}, "phases": [], "verdicts": []},
    )
    render_run(run)
    html = (run / "index.html").read_text()

    assert page_figures(html) == {}
    assert script(html, "plotly-js-gzip") == ""  # no charts: the library is left out
    assert 'data-verdict="fail"' in html


def test_faults_run_shows_a_fault_table_and_each_fault_on_its_timeline(
    make_document: Maker, write_document: Writer
) -> None:
    document = make_document("passing")
    document["kind"] = "faults"
    phase = document["phases"][0]
    fault = {
        "name": "postgres-paused",
        "description": "Postgres paused (docker pause) for 5 s",
        "measured": True,
        "injected_at_s": 25.0,
        "healed_at_s": 30.0,
        "before": {"failed": 0, "server_errors": 0, "errors": {}, "p95_ms": 20.0},
        "during": {"failed": 3, "server_errors": 3, "errors": {"HTTP 503": 3}, "p95_ms": 4900.0},
        "after": {"failed": 0, "server_errors": 0, "errors": {}, "p95_ms": 22.0},
        "longest_ms": 5169.9,
        "recovery_ms": 150.0,
        "acknowledged_orders": {"acknowledged": 52, "lost": 0},
    }
    phase["fault"] = fault
    document["faults"] = [fault, {"name": "redis-killed", "measured": False, "error": "boom"}]
    run = write_document("faults", document)

    render_run(run)
    html = (run / "index.html").read_text()

    section = html.split('<section id="faults">', 1)[1].split("</section>", 1)[0]
    assert "postgres-paused" in section
    assert "HTTP 503 3" in section
    assert "52 / 0" in section
    assert "not measured: boom" in section
    figure = page_figures(html)["chart-latency-0"]
    texts = [a.get("text", "") for a in figure["layout"]["annotations"]]
    assert "fault: postgres-paused" in texts
    bands = [s for s in figure["layout"]["shapes"] if s.get("x0") == 25.0]
    assert bands
    assert bands[0]["x1"] == 30.0


def test_a_partial_faults_run_shows_budgets_not_run_as_neither_pass_nor_fail(
    make_document: Maker, write_document: Writer
) -> None:
    document = make_document("passing")
    document["kind"] = "faults"
    document["faults"] = [{"name": "redis-paused", "measured": False, "error": "boom"}]
    document["faults_not_run"] = ["postgres-paused", "pool-exhausted"]
    skipped = document["verdicts"][0]
    skipped.update(
        passed=None,
        measured=None,
        explanation="it reads only postgres-paused, which this run left out (--only)",
    )
    judged = len(document["verdicts"]) - 1
    run = write_document("partial", document)

    render_run(run)
    html = (run / "index.html").read_text()
    summary = (run / "summary.md").read_text()
    junit = ET.parse(run / "junit.xml").getroot()

    assert 'data-verdict="pass"' in html
    assert f"all {judged} budgets held, 1 not run" in html
    assert '<tr class="not-run">' in html
    assert html.count('<span class="badge info">not run</span>') == 2  # its row, the faults
    assert "Left out of this run (<code>--only</code>): postgres-paused, pool-exhausted." in html
    assert summary.startswith(f"## ✅ TasteMatch Bench: all {judged} budgets held, 1 not run")
    assert f"| ⏭️ not run | {skipped['budget'].replace('_', chr(92) + '_')} |" in summary
    assert "### Budgets not run (neither passed nor failed)" in summary
    assert "which this run left out (--only)" in summary
    suite = junit.find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("skipped")) == ("0", "1")
    (case,) = [c for c in junit.iter("testcase") if c.get("name") == skipped["budget"]]
    not_run = case.find("skipped")
    assert not_run is not None
    assert case.find("failure") is None
    assert not_run.get("message") == f"not run: {skipped['explanation']}"


GOLDEN = Path(__file__).resolve().parent.parent / "results" / "golden"


@pytest.mark.parametrize(
    ("golden", "name", "pages", "says"),
    [
        (
            "selftest.json",
            "selftest.json",
            ["selftest.md", "selftest.html"],
            "caught 1/1 regressions; optimised profile not run",
        ),
        (
            "capacity-v1.json",
            "capacity.json",
            ["capacity.md", "capacity.html"],
            "baseline: capacity 0 users; at 60 users OOM-killed",
        ),
    ],
)
def test_every_document_kind_is_rendered_from_its_folder(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    golden: str,
    name: str,
    pages: list[str],
    says: str,
) -> None:
    (tmp_path / name).write_text((GOLDEN / golden).read_text(encoding="utf-8"), encoding="utf-8")

    assert main(["render", str(tmp_path)]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / page) for page in pages]
    run_id = json.loads((tmp_path / name).read_text(encoding="utf-8"))["run_id"]
    assert says in (tmp_path / pages[0]).read_text(encoding="utf-8")
    page = (tmp_path / pages[1]).read_text(encoding="utf-8")
    assert run_id in page
    assert says in page
    # --base compares two gate runs; any other kind is refused with the reason.
    assert main(["render", str(tmp_path / name), "--base", str(tmp_path)]) == 2
    assert "--base compares gate runs, not" in capsys.readouterr().err
