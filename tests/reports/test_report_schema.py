"""The report reads what the gate writes: keys from the result models, links from verdict paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reports import load_document, render_run
from reports._findings import budget_containers, budget_endpoints, verdict_findings

Document = dict[str, Any]
Maker = Callable[[str], Document]
Writer = Callable[[str, Document], Path]


def test_the_report_shows_why_microbenchmarks_failed(
    make_document: Maker, write_document: Writer
) -> None:
    document = make_document("passing")
    document["microbenchmarks"] = []
    why = "pytest-benchmark exited 4: no database to run against"
    document["microbenchmarks_status"] = {"failed": True, "error": why}
    run = write_document("micro-failed", document)

    assert load_document(run).microbenchmarks_error == why
    render_run(run)
    assert why in (run / "index.html").read_text()


def test_verdicts_link_to_what_their_paths_matched_not_to_their_names(
    make_document: Maker, write_document: Writer
) -> None:
    document = make_document("failing")
    for verdict in document["verdicts"]:
        verdict["budget"] = f"renamed {verdict['budget']}"  # names no longer say anything
    run = load_document(write_document("renamed", document))
    phase = run.phases[0]
    by_metric = {v.metric: v for v in run.verdicts if v.phase == phase.name}

    service = by_metric["containers.service-*.peak_working_set_bytes"]
    assert [c.name for c in budget_containers(service, phase.containers.values())] == ["service-0"]
    p95 = by_metric["endpoints.GET /api/recommendations.p95_ms"]
    assert budget_endpoints(p95, phase.endpoints) == ["GET /api/recommendations"]
    notes = verdict_findings(run, service)
    assert any(note.startswith("service-0 peaked at") for note in notes)
    assert any(note.startswith("largest allocation site (memray)") for note in notes)


def test_a_version_1_document_renders_without_links(
    make_document: Maker, write_document: Writer
) -> None:
    document = make_document("failing")
    document["schema_version"] = 1
    del document["kind"]
    for verdict in document["verdicts"]:
        del verdict["metric"], verdict["paths"]
    run_dir = write_document("version-1", document)
    run = load_document(run_dir)

    assert all(v.metric is None and v.paths == () for v in run.verdicts)
    assert budget_containers(run.verdicts[0], run.phases[0].containers.values()) == []
    render_run(run_dir)
    assert (run_dir / "index.html").exists()
