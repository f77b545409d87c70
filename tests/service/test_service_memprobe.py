"""The memray probe measures one uncached recommendation request, optimised or pre-fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service import memprobe
from service.seed import seed

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def seeded(database_url: str) -> str:
    seed(database_url, restaurants=400, users=3, orders=40, seed=8)
    return database_url


def test_probe_shows_the_pre_fix_request_allocating_far_more(seeded: str, tmp_path: Path) -> None:
    database_url = seeded
    fixed = memprobe.measure_recommendation_request(database_url, capture=tmp_path / "fixed.bin")
    before_fix = memprobe.measure_recommendation_request(
        database_url, regressions="R1", capture=tmp_path / "r1.bin"
    )
    assert (fixed.status, before_fix.status) == (200, 200)
    assert fixed.restaurants == before_fix.restaurants == 400
    assert fixed.regressions == ["R3"]  # no Redis given: the cache is off
    assert before_fix.regressions == ["R1", "R3"]
    assert 0 < fixed.allocated_bytes < 20 * 1024 * 1024
    assert before_fix.allocated_bytes > 10 * fixed.allocated_bytes
    assert before_fix.peak_bytes > fixed.peak_bytes
    assert before_fix.top_allocations
    assert all({"location", "bytes", "count"} == set(site) for site in before_fix.top_allocations)


def test_probe_cli_prints_json_and_names_bad_input(
    seeded: str, capsys: pytest.CaptureFixture[str]
) -> None:
    database_url = seeded
    assert memprobe.main(["--database-url", database_url, "--regressions", "R11"]) == 2
    assert "unknown regression id(s) R11" in capsys.readouterr().err
    assert memprobe.main(["--database-url", database_url]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == 200
    assert printed["allocated_bytes"] > 0
