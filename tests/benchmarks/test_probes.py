"""HTTP probes against the stand-in API (which has no caching headers and no page cap)."""

from __future__ import annotations

import httpx

from benchmarks.probes import SQL_PROBES, http_contract, sql_probe


def test_contract_reports_what_the_api_does(fake_service: str) -> None:
    with httpx.Client(timeout=5) as client:
        checks = {check["check"]: check for check in http_contract(client, fake_service, {})}
    assert checks["Cache-Control on /api/restaurants"]["actual"] == "(none)"
    assert checks["default page size of /api/restaurants"]["passed"] is True
    assert checks["page cap: /api/restaurants?limit=1000 rejected"]["actual"] == "HTTP 200"
    assert checks["page cap: /api/restaurants?limit=51 rejected"]["actual"] == "HTTP 200"
    assert checks["page cap: /api/recommendations?limit=51 rejected"]["expected"] == "HTTP 422"
    assert [check["passed"] for check in checks.values()].count(False) == 6


def test_contract_names_an_unreachable_service() -> None:
    with httpx.Client(timeout=1) as client:
        checks = http_contract(client, "http://127.0.0.1:9", {})
    assert all(check["actual"].startswith("request failed: ConnectError") for check in checks)
    assert not any(check["passed"] for check in checks)


def test_sql_probe_measures_nothing_without_metrics(fake_service: str) -> None:
    with httpx.Client(timeout=5) as client:
        figures = sql_probe(client, [fake_service], [{}])
    assert set(figures) == {name for name, _, _ in SQL_PROBES}
    assert all(entry["max"] is None and entry["failed"] == 1 for entry in figures.values())
