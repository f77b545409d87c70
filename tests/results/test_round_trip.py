"""What the gate writes is what the report reads: a recorded run through writer, loader, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import results
from benchmarks.commands.evaluate import main as evaluate_main
from benchmarks.judge.result import write_result
from reports import load_document, render_run
from tests.results.recorded_run import GOLDEN, recorded_document


def test_the_writer_produces_the_golden_document() -> None:
    produced = results.dumps(recorded_document())
    expected = (GOLDEN / "gate.json").read_text(encoding="utf-8")
    assert produced == expected, (
        "the gate's document changed: check it, then `python -m tests.results.recorded_run`"
    )


def test_the_writer_output_fits_the_schema_with_no_unknown_key() -> None:
    document = results.validate(recorded_document(), "recorded run")

    assert isinstance(document, results.RunDocument)
    assert (document.schema_version, document.kind) == (results.SCHEMA_VERSION, "gate")
    assert results.unknown_keys(document) == []


def test_hand_checked_figures_of_the_golden_document() -> None:
    document = results.load_run(GOLDEN / "gate.json")
    (phase,) = document.phases

    # 60 requests over 6 s, every third to /api/orders; 4 s measured after 2 s warm-up.
    assert phase.endpoints["GET /api/recommendations"].count == 27
    assert phase.endpoints["GET /api/recommendations"].failures == 1
    assert phase.endpoints["GET /api/orders"].rps == 3.25
    assert phase.cache["recommendations"].hit_rate == 0.931  # 27 hits of 29 lookups
    assert phase.db.connections_per_replica == 4.0
    assert phase.containers["service-0"].peak_working_set_bytes == 162 * 1024**2
    assert [s.name for s in phase.stages] == ["warm-up", "measured"]
    assert document.microbenchmarks_error is None
    failed = sorted(v.budget for v in document.verdicts if v.failed)
    # The recording's 4 s window: the service still grew (162 -> 169 MiB) over only 40
    # requests, which the leak test reads as certain growth per request. The recording has
    # no saturation or PgBouncer phase and predates tracing and the pool-capacity figure:
    # those budgets fail for want of a measurement. It ran one replica: the cross-replica
    # budget is not run.
    assert failed == [
        "db_pool_capacity_per_replica",
        "failed_requests",
        "optimized_vs_baseline_p95",
        "pgbouncer_failed_requests",
        "pgbouncer_postgres_backends",
        "saturation_failed_requests",
        "saturation_load_generator_not_saturated",
        "service_memory_growth",
        "trace_db_spans_per_order_list",
        "trace_db_spans_per_request",
        "traced_probe_requests",
    ]
    assert [v.budget for v in document.verdicts if v.not_run] == [
        "recommendations_cross_replica_hit_share"
    ]
    growth = phase.containers["service-0"].growth
    assert growth is not None
    assert growth.requests == 40
    p95 = next(v for v in document.verdicts if v.budget == "recommendations_p95")
    assert p95.metric == "endpoints.GET /api/recommendations.p95_ms"
    assert p95.paths == ("endpoints.GET /api/recommendations.p95_ms",)


def test_the_report_renders_what_the_gate_wrote(tmp_path: Path) -> None:
    write_result(recorded_document(), tmp_path / "result.json")
    run = load_document(tmp_path)
    render_run(tmp_path)

    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert run.run_id == "TEST-RECORDED-RUN"
    assert "failed\\_requests" in (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "test_rank_one_user_over_10k_restaurants" in html
    assert "Cache-Control /api/restaurants" in html


def test_the_report_shows_why_the_gates_microbenchmarks_failed(tmp_path: Path) -> None:
    why = "pytest-benchmark exited 1 (see work/micro/pytest.log)"
    write_result(recorded_document(micro_problem=why), tmp_path / "result.json")
    render_run(tmp_path)

    assert load_document(tmp_path).microbenchmarks_error == why
    assert why in (tmp_path / "index.html").read_text(encoding="utf-8")


def test_stored_verdicts_are_reproduced_from_the_written_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_result(recorded_document(), tmp_path / "result.json")

    assert evaluate_main([str(tmp_path)]) == 1  # failed_requests and the skipped baseline
    assert "differ" not in capsys.readouterr().out
    stored = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert stored["kind"] == "gate"
