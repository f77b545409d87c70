"""The Locust runner against a stand-in API on 127.0.0.1 (bounded: a few seconds of load)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.measure.loadgen import run_scenario
from benchmarks.measure.samples import endpoint_figures
from scenarios.registry import SCENARIOS, get_scenario

pytestmark = pytest.mark.slow


def test_runner_records_exact_samples_and_cpu(fake_service: str, tmp_path: Path) -> None:
    scenario = get_scenario("standard").with_overrides(users=3, warmup_s=2, measure_s=3)

    run = run_scenario(scenario, host=fake_service, out_dir=tmp_path, grace_s=30)

    assert not run.timed_out, run.log_path.read_text()
    assert run.exit_code == 0, run.log_path.read_text()
    assert len(run.samples) > 0
    assert "POST /auth/login" in set(run.samples.endpoint.tolist())
    measured = endpoint_figures(
        run.samples, start=run.started_at + run.warmup_s, end=run.started_at + run.end_s
    )
    assert "GET /api/recommendations" in measured or "GET /api/restaurants" in measured
    for figures in measured.values():
        assert figures["failures"] == 0
        assert int(str(figures["count"])) > 0
        p50, p95, slowest = (float(str(figures[key])) for key in ("p50_ms", "p95_ms", "max_ms"))
        assert 0 < p50 <= p95 <= slowest
    # Logins happen as users start, within the warm-up, so the measured window has none.
    assert "POST /auth/login" not in measured
    generator = run.load_generator()
    assert generator["cpu_percent_mean"] is not None
    assert generator["saturated"] is False


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_registered_scenario_runs(fake_service: str, tmp_path: Path, name: str) -> None:
    scenario = SCENARIOS[name].with_overrides(users=2, warmup_s=1, measure_s=2)

    run = run_scenario(scenario, host=fake_service, out_dir=tmp_path, grace_s=30)

    assert run.exit_code == 0, run.log_path.read_text()
    assert len(run.samples.between(run.started_at + run.warmup_s, run.started_at + run.end_s)) > 0


def test_worker_processes_each_record_their_samples(fake_service: str, tmp_path: Path) -> None:
    scenario = get_scenario("standard").with_overrides(users=4, warmup_s=2, measure_s=3)
    # An earlier run's file in the same folder must not be merged into this one.
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "samples-1.csv").write_text("1.0,GET,/stale,1.0,0,\n")

    run = run_scenario(scenario, host=fake_service, out_dir=tmp_path, workers=2, grace_s=30)

    assert run.exit_code == 0, run.log_path.read_text()
    writers = [path for path in (tmp_path / "samples").glob("samples-*.csv") if path.stat().st_size]
    assert len(writers) == 2  # the two workers; the master sends no requests
    assert "GET /stale" not in set(run.samples.endpoint.tolist())
    # Every worker's rows once: what each wrote, and what the master's statistics counted.
    assert run.accounting.problems() == []
    assert run.accounting.counted_by_locust == len(run.samples) == run.accounting.rows
    generator = run.load_generator()
    assert generator["workers"] == 2
    assert generator["samples_complete"] is True
    # The CPU record covers the master and both workers.
    by_process = generator["cpu_percent_by_process"]
    assert isinstance(by_process, dict)
    assert set(by_process) == {"master", "worker-0", "worker-1"}
    assert generator["processes"] == 3
    assert len(run.samples.between(run.started_at + run.warmup_s, run.started_at + run.end_s)) > 0
