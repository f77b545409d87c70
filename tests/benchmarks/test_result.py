"""Reading, writing and re-evaluating result documents without containers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.commands.evaluate import main as evaluate_main
from benchmarks.judge.budgets import evaluate, load_budgets
from benchmarks.judge.result import ResultError, load_result, parse_result, write_result
from tests.benchmarks.healthy import (
    TRACE_PROBE,
    WORK_PROBE,
    growth,
    pgbouncer_phase,
    saturation_phase,
)

MiB = 1024**2


def _document(**phase_overrides: Any) -> dict[str, Any]:
    phase: dict[str, Any] = {
        "name": "optimized",
        "profile": "optimized",
        "gated": True,
        "error": None,
        "containers": {
            "service-0": {
                "peak_working_set_bytes": 150 * MiB,
                "oom_killed": False,
                "growth": growth(2),
            },
            "postgres": {"peak_working_set_bytes": 200 * MiB, "oom_killed": False},
            "redis": {"peak_working_set_bytes": 10 * MiB, "oom_killed": False},
        },
        "endpoints": {
            "GET /api/recommendations": {
                "failures": 0,
                "p95_ms": 40.0,
                "p99_ms": 80.0,
                "p95_ms_windows": [39.0, 40.0, 41.0],
                "p99_ms_windows": [79.0, 80.0, 81.0],
            }
        },
        "replicas": 2,
        "cache": {"recommendations": {"hit_rate": 0.93, "cross_replica_hit_share": 0.5}},
        "db": {
            "connections_per_replica": 4.0,
            "pool_capacity_per_replica": 4.0,
            "settings": {"max_connections": "20", "effective_cache_size": "768MB"},
        },
        "sql_per_request": {"/api/recommendations": {"hit": {"max": 1}, "miss": {"max": 3}}},
        "sql_probe": {
            "GET /api/orders": {"max": 2},
            "GET /api/recommendations uncached": {"max": 4},
            "GET /api/recommendations repeated": {"max": 0},
            "GET /api/recommendations/{restaurant_id}/insight uncached": {"max": 2},
            "GET /api/recommendations/{restaurant_id}/insight repeated": {"max": 0},
            "POST /api/onboarding/complete": {"max": 2},
            "DELETE /api/orders/simulation": {"max": 3},
        },
        "work_probe": WORK_PROBE,
        "trace_probe": TRACE_PROBE,
        "http_contract": [{"check": "Cache-Control", "passed": True}],
        "load_generator": {"saturated": False},
    }
    phase.update(phase_overrides)
    document: dict[str, Any] = {
        "schema_version": 1,
        "run_id": "20261129T050102Z-abc1234",
        "created_at": "2026-11-29T05:01:02Z",
        "environment": {},
        "phases": [phase, pgbouncer_phase(), saturation_phase()],
        "memray": {
            "peak_heap_bytes": 90 * MiB,
            "per_request_bytes": 4 * MiB,
            "per_endpoint_bytes": {"insight": 64 * 1024, "onboarding": 256 * 1024},
            "heap_growth": growth(-5),
        },
        "comparison": {"ratio": 0.3},
        "microbenchmarks_status": {"failed": False, "error": None},
        "verdicts": [],
    }
    return document


def test_a_healthy_document_passes_every_shipped_budget() -> None:
    verdicts = evaluate(_document(), load_budgets())
    assert [verdict.explanation for verdict in verdicts if not verdict.passed] == []


def test_http_contract_list_is_judged_per_check() -> None:
    checks = [{"check": "a", "passed": True}, {"check": "b", "passed": False}]
    document = _document(http_contract=checks)
    (verdict,) = [v for v in evaluate(document, load_budgets()) if v.budget == "http_contract"]
    assert not verdict.passed
    assert "http_contract.b.passed" in verdict.explanation


def test_write_then_load_round_trips_with_sorted_keys(tmp_path: Path) -> None:
    document = _document()
    path = tmp_path / "result.json"
    write_result(document, path)
    text = path.read_text()
    assert text.index('"comparison"') < text.index('"created_at"') < text.index('"phases"')
    assert load_result(tmp_path) == document  # a run folder is accepted too


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[]", "expected a JSON object"),
        ('{"schema_version": 99}', "schema_version 99 is not supported"),
        ('{"schema_version": 1}', "missing keys run_id"),
    ],
)
def test_bad_documents_are_rejected_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ResultError, match=message):
        parse_result(text)


def test_evaluate_cli_reproduces_stored_verdicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _document(endpoints={})
    document["verdicts"] = [v.to_json() for v in evaluate(document, load_budgets())]
    path = tmp_path / "result.json"
    write_result(document, path)

    assert evaluate_main([str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAILED recommendations_p95 [optimized]: measured n/a, limit <= 150.0 ms" in out
    assert "differ" not in out


def test_evaluate_cli_passes_and_reports_spread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = []
    for index, p95 in enumerate((40.0, 41.0, 60.0)):
        document = _document()
        document["phases"][0]["endpoints"]["GET /api/recommendations"]["p95_ms"] = p95
        paths.append(tmp_path / f"r{index}.json")
        paths[-1].write_text(json.dumps(document))

    assert evaluate_main([str(path) for path in paths]) == 0
    out = capsys.readouterr().out
    assert "recommendations_p95 [optimized]: 40.0 ms, 41.0 ms, 60.0 ms" in out
    assert "UNSTABLE" in out


def test_evaluate_cli_unreadable_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate_main([str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().out
