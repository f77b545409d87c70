"""Distributed load: the load generator's CPU record over every Locust process, and a real
distributed run against the containers whose merged samples are every request once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from benchmarks.measure.loadgen import (
    SATURATION_PERCENT,
    CpuSample,
    LoadRun,
    check_workers,
    max_workers,
    run_scenario,
)
from benchmarks.measure.samples import Samples, read_samples
from containers.stack import Stack
from scenarios.registry import get_scenario
from service.seed import seed

T0 = 1_800_000_000.0
MASTER, WORKER_A, WORKER_B = 4000, 4001, 4002


def _run(cpu: list[dict[int, float]], *, workers: int, host_cpus: int) -> LoadRun:
    """A finished run whose measured window (2 s warm-up, 3 s measured) holds ``cpu``."""
    scenario = get_scenario("standard").with_overrides(users=4, warmup_s=2, measure_s=3)
    empty: Samples = read_samples(Path("/nonexistent"))
    return LoadRun(
        scenario=scenario,
        stages=scenario.stages(),
        started_at=T0,
        # A sample before the measured window must not count.
        cpu=(
            CpuSample(T0 + 0.5, dict.fromkeys(cpu[0], 100.0)),
            *(CpuSample(T0 + 2.5 + i, percents) for i, percents in enumerate(cpu)),
        ),
        samples=empty,
        exit_code=0,
        timed_out=False,
        log_path=Path("locust.log"),
        workers=workers,
        locust_pid=MASTER,
        host_cpus=host_cpus,
    )


def test_the_cpu_record_names_the_master_and_every_worker() -> None:
    run = _run(
        [
            {MASTER: 4.0, WORKER_A: 50.0, WORKER_B: 40.0},
            {MASTER: 6.0, WORKER_A: 70.0, WORKER_B: 60.0},
        ],
        workers=2,
        host_cpus=4,
    )

    generator = run.load_generator()

    assert generator["cpu_percent_by_process"] == {
        "master": 5.0,
        "worker-0": 60.0,
        "worker-1": 50.0,
    }
    assert generator["cpu_percent_mean"] == 60.0  # the busiest process
    assert generator["cpu_percent_max"] == 70.0
    assert generator["cpu_percent_total_mean"] == 115.0  # (94 + 136) / 2
    assert (generator["workers"], generator["processes"], generator["host_cpus"]) == (2, 3, 4)
    assert generator["saturated"] is False


def test_one_busy_worker_saturates_the_generator() -> None:
    run = _run([{MASTER: 3.0, WORKER_A: 95.0, WORKER_B: 20.0}] * 2, workers=2, host_cpus=8)
    assert run.load_generator()["saturated"] is True


def test_workers_together_using_the_hosts_cores_saturate_the_generator() -> None:
    # No process reaches one core, but together they use the whole 2-CPU host.
    busy = {MASTER: 10.0, WORKER_A: 85.0, WORKER_B: 85.0}
    assert SATURATION_PERCENT > 85.0
    assert _run([busy] * 2, workers=2, host_cpus=2).load_generator()["saturated"] is True
    assert _run([busy] * 2, workers=2, host_cpus=4).load_generator()["saturated"] is False


def test_a_single_process_run_is_recorded_as_before() -> None:
    generator = _run([{MASTER: 30.0}, {MASTER: 50.0}], workers=0, host_cpus=2).load_generator()
    assert generator["cpu_percent_by_process"] == {"locust": 40.0}
    assert (generator["workers"], generator["processes"]) == (0, 1)
    assert generator["saturated"] is False


def test_no_cpu_sample_in_the_window_is_no_verdict() -> None:
    run = _run([{MASTER: 1.0}], workers=0, host_cpus=2)
    generator = dataclasses.replace(run, cpu=()).load_generator()
    assert (generator["cpu_percent_mean"], generator["saturated"]) == (None, None)


def test_worker_counts_are_checked() -> None:
    assert check_workers(0) == 0
    assert check_workers(max_workers()) == max_workers()
    with pytest.raises(ValueError, match="load workers must be 0 or more, not -2"):
        check_workers(-2)
    with pytest.raises(ValueError, match=r"\(2 per CPU\); more would only take turns"):
        check_workers(max_workers() + 1)


# -- a real distributed run --------------------------------------------------------------------

#: Seeded diners of the distributed run (its users log in as these accounts).
_ACCOUNTS = 60


def _summary_request_count(log: str) -> int:
    """The request count of the ``Aggregated`` row in the master's final summary."""
    rows = [line.split() for line in log.splitlines() if line.strip().startswith("Aggregated")]
    assert rows, log[-2000:]
    return int(rows[0][1])  # the first table: requests and failures


@pytest.mark.docker
@pytest.mark.slow
def test_a_distributed_run_merges_every_workers_samples_once(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(stack.postgres_url, restaurants=300, users=_ACCOUNTS, orders=600, seed=13)
    stack.restart_services()  # fresh replicas load the seeded restaurants at start-up
    monkeypatch.setenv("TASTEMATCH_ACCOUNTS", str(_ACCOUNTS))
    # 14 s of load in all (2 s warm-up, 12 s measured), bounded by run_scenario's grace.
    scenario = get_scenario("standard").with_overrides(users=8, warmup_s=2, measure_s=12)

    run = run_scenario(scenario, host=stack.service_url, out_dir=tmp_path, workers=2, grace_s=30)

    log = run.log_path.read_text()
    assert not run.timed_out, log[-4000:]
    assert run.exit_code == 0, log[-4000:]
    writers = [path for path in (tmp_path / "samples").glob("samples-*.csv") if path.stat().st_size]
    assert len(writers) == 2, log[-4000:]  # both workers sent requests
    # Every worker's file whole, and the merge is exactly what the master's statistics counted
    # (as written by the recorder and as printed in Locust's own final summary).
    assert run.accounting.problems() == []
    assert len(run.samples) == run.accounting.counted_by_locust == _summary_request_count(log)
    assert len(run.samples) > 100
    assert not run.samples.failed.any(), sorted(set(run.samples.error.tolist()))
    generator = run.load_generator()
    assert (generator["workers"], generator["processes"]) == (2, 3)
    assert generator["saturated"] is False
