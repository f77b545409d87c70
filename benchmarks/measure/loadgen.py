"""Runs a scenario as a headless Locust subprocess and reads back what it measured.

The subprocess is bounded three ways: the load shape stops itself after its
stages, ``--stop-timeout`` bounds the wind-down, and the runner interrupts (then
kills) the process tree if it outlives the shape by ``grace_s``. The Locust
processes' CPU is sampled at ~1 Hz so a saturated load generator is flagged.

With ``workers`` > 0 Locust runs distributed on this machine (``--processes N``:
one master that only coordinates and collects statistics, N forked workers that
send the requests). Every worker writes its own sample file; they are merged,
and checked against what each worker says it wrote and what the master counted,
so percentiles stay exact and a lost or doubled sample is noticed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from benchmarks.measure.polling import Poller
from benchmarks.measure.samples import (
    SampleAccounting,
    Samples,
    account_samples,
    clear_samples,
    read_samples,
)
from containers.ports import free_port
from scenarios.protocol import (
    MEASURE_ENV,
    REPLICA_URLS_ENV,
    SAMPLES_DIR_ENV,
    SCENARIO_ENV,
    USERS_ENV,
    WARMUP_ENV,
    read_started_at,
)
from scenarios.registry import Scenario
from scenarios.stages import Stage, total_duration

__all__ = [
    "LOCUSTFILE",
    "MAX_WORKERS_PER_CPU",
    "SATURATION_PERCENT",
    "CpuSample",
    "LoadRun",
    "check_workers",
    "max_workers",
    "run_scenario",
]

LOCUSTFILE = Path(__file__).resolve().parents[2] / "scenarios" / "locustfile.py"

#: A Locust process is one gevent loop on one core: at this share of a core
#: its timers (and so the latencies it reports) start to lag.
SATURATION_PERCENT = 90.0

#: Seconds Locust lets users finish their task once the shape stops (``--stop-timeout``).
#: The simulator's task paces itself over many seconds and never finishes in time, so
#: every phase waited the whole timeout (it was 5 s); a request cut off here is outside
#: the measured window, and an order it created without its 201 being received is not
#: counted as acknowledged.
STOP_TIMEOUT_S = 1

#: Worker processes per logical CPU beyond which more workers only take turns on the same
#: cores (and take them from the service under test when it runs on this machine too).
MAX_WORKERS_PER_CPU = 2


def max_workers() -> int:
    """The most Locust workers this machine is allowed (see :data:`MAX_WORKERS_PER_CPU`)."""
    return MAX_WORKERS_PER_CPU * (psutil.cpu_count() or 1)


def check_workers(workers: int) -> int:
    """``workers`` if this machine can run that many Locust workers, else ``ValueError`` naming why.

    0 and 1 are both one process's worth of load: 0 runs Locust as a single
    process, 1 as a master with one worker.
    """
    if workers < 0:
        raise ValueError(f"load workers must be 0 or more, not {workers}")
    if workers > max_workers():
        raise ValueError(
            f"{workers} load workers on {psutil.cpu_count() or 1} CPUs: at most {max_workers()} "
            f"({MAX_WORKERS_PER_CPU} per CPU); more would only take turns on the same cores"
        )
    return workers


@dataclass(frozen=True)
class CpuSample:
    """CPU use of every Locust process at ``t`` (epoch), in percent of one core, keyed by pid."""

    t: float
    percent_by_pid: dict[int, float]


@dataclass(frozen=True)
class LoadRun:
    """What one Locust run produced."""

    scenario: Scenario
    stages: tuple[Stage, ...]
    started_at: float
    samples: Samples
    cpu: tuple[CpuSample, ...]
    exit_code: int | None
    timed_out: bool
    log_path: Path
    #: Locust worker processes (0: Locust ran as one process, without a master).
    workers: int = 0
    #: The sample files' merge checked against their writers and Locust's own count.
    accounting: SampleAccounting = field(default_factory=SampleAccounting)
    #: The process Locust was started as (the master when ``workers`` > 0).
    locust_pid: int | None = None
    #: Logical CPUs of the machine the load generator ran on.
    host_cpus: int = field(default_factory=lambda: psutil.cpu_count() or 1)

    @property
    def warmup_s(self) -> float:
        """Seconds of unmeasured stages before the first measured one."""
        warm = 0.0
        for stage in self.stages:
            if stage.measured:
                break
            warm += stage.duration_s
        return warm

    @property
    def end_s(self) -> float:
        return total_duration(self.stages)

    def load_generator(self) -> dict[str, object]:
        """CPU of every Locust process over the measured window (see :data:`SATURATION_PERCENT`).

        ``cpu_percent_mean`` / ``cpu_percent_max`` are the busiest process's;
        ``cpu_percent_total_mean`` adds every process (master and workers) up, against
        ``host_cpus`` cores. Either limit reached flags the run as saturated.
        """
        start, end = self.started_at + self.warmup_s, self.started_at + self.end_s
        window = [sample for sample in self.cpu if start <= sample.t <= end]
        per_pid: dict[int, list[float]] = {}
        for sample in window:
            for pid, percent in sample.percent_by_pid.items():
                per_pid.setdefault(pid, []).append(percent)
        means = {pid: sum(values) / len(values) for pid, values in per_pid.items() if values}
        peaks = [max(values) for values in per_pid.values() if values]
        totals = [sum(sample.percent_by_pid.values()) for sample in window]
        busiest = max(means.values()) if means else None
        total = sum(totals) / len(totals) if totals else None
        host_cpus = self.host_cpus
        saturated = None
        if busiest is not None and total is not None:
            saturated = busiest >= SATURATION_PERCENT or total >= SATURATION_PERCENT * host_cpus
        return {
            "cpu_percent_mean": None if busiest is None else round(busiest, 1),
            "cpu_percent_max": round(max(peaks), 1) if peaks else None,
            "cpu_percent_total_mean": None if total is None else round(total, 1),
            "cpu_percent_by_process": {
                role: round(means[pid], 1) for role, pid in self._roles(means).items()
            },
            "host_cpus": host_cpus,
            "saturated": saturated,
            "workers": self.workers,
            "processes": len(means),
            "rule": (
                f"saturated when the busiest Locust process averages >= {SATURATION_PERCENT:g} % "
                f"of one core, or all of them together >= {SATURATION_PERCENT:g} % of the "
                "host's cores, over the measured window"
            ),
            **self.accounting.as_dict(),
        }

    def _roles(self, pids: dict[int, float]) -> dict[str, int]:
        """``master`` (or ``locust`` when it ran alone) and ``worker-<i>`` by pid order."""
        if not pids:
            return {}
        root = self.locust_pid if self.locust_pid in pids else None
        others = sorted(pid for pid in pids if pid != root)
        if self.workers == 0:
            lone = {} if root is None else {"locust": root}
            return {**lone, **{f"child-{i}": pid for i, pid in enumerate(others)}}
        master = {} if root is None else {"master": root}
        return {**master, **{f"worker-{i}": pid for i, pid in enumerate(others)}}


class _CpuSampler(Poller):
    """CPU of the Locust process tree rooted at ``pid``, about once a second."""

    def __init__(self, pid: int) -> None:
        super().__init__(1.0, name="locust-cpu")
        self.pid = pid
        self.samples: list[CpuSample] = []
        self._tracked: dict[int, psutil.Process] = {}

    def poll(self, resource: Any) -> bool:
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return False
        percents: dict[int, float] = {}
        for process in processes:
            known = self._tracked.setdefault(process.pid, process)
            try:
                # The first call per process only primes the counter (returns 0.0).
                percents[process.pid] = known.cpu_percent(interval=None)
            except psutil.NoSuchProcess:
                continue
        self.samples.append(CpuSample(time.time(), percents))
        return True


def _environment(
    scenario: Scenario, samples_dir: Path, replica_urls: Sequence[str]
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            REPLICA_URLS_ENV: ",".join(replica_urls),
            SCENARIO_ENV: scenario.name,
            USERS_ENV: str(scenario.users),
            WARMUP_ENV: str(scenario.warmup_s),
            MEASURE_ENV: str(scenario.measure_s),
            SAMPLES_DIR_ENV: str(samples_dir),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _stop_process_tree(process: subprocess.Popen[bytes], wait_s: float) -> None:
    """SIGINT (Locust writes its results), then SIGKILL whatever is left."""
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=wait_s)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=wait_s)


def run_scenario(
    scenario: Scenario,
    *,
    host: str,
    out_dir: Path,
    workers: int = 0,
    grace_s: float = 45.0,
    replica_urls: Sequence[str] = (),
    on_tick: Callable[[float], None] | None = None,
    locustfile: Path = LOCUSTFILE,
    extra_env: Mapping[str, str] | None = None,
) -> LoadRun:
    """Run ``scenario`` against ``host`` headless; samples and logs go to ``out_dir``.

    ``workers`` > 0 runs Locust distributed: a master and that many forked worker
    processes (``locust --processes N``), each worker writing its own sample file
    (``ValueError`` beyond :func:`max_workers`). With ``replica_urls``, every request
    goes to one of them chosen at random (no sticky sessions). ``on_tick`` is called
    about once a second with the seconds since Locust started (live progress).
    ``locustfile`` and ``extra_env`` run another locustfile (the open model) with its settings.
    """
    check_workers(workers)
    stages = scenario.stages()
    out_dir.mkdir(parents=True, exist_ok=True)
    samples_dir = out_dir / "samples"
    samples_dir.mkdir(exist_ok=True)
    # Sample files are appended to and merged by name: an earlier run's would be counted too.
    clear_samples(samples_dir)
    log_path = out_dir / "locust.log"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(locustfile),
        "--headless",
        "--host",
        host,
        "--only-summary",
        "--stop-timeout",
        str(STOP_TIMEOUT_S),
        "--csv",
        str(out_dir / "locust"),
        *scenario.user_classes,
    ]
    if workers > 0:
        # The master listens on loopback, on a port of its own: Locust's default (5557 on
        # every interface) lets a second distributed run on the machine fail to start.
        port = free_port()
        command += ["--processes", str(workers), "--master-bind-host", "127.0.0.1"]
        command += ["--master-bind-port", str(port), "--master-port", str(port)]
    launched_at = time.time()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**_environment(scenario, samples_dir, replica_urls), **(extra_env or {})},
            start_new_session=True,  # its own process group, so the whole tree can be stopped
        )
        sampler = _CpuSampler(process.pid)
        sampler.start()
        timed_out = False
        deadline = time.monotonic() + total_duration(stages) + grace_s
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(command, total_duration(stages) + grace_s)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=1.0)
                if on_tick is not None:
                    on_tick(time.time() - launched_at)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop_process_tree(process, wait_s=10)
        except BaseException:
            # Ctrl-C or SIGTERM of the command: Locust runs in its own session, so no
            # signal reaches it unless it is sent here.
            _stop_process_tree(process, wait_s=10)
            raise
        finally:
            sampler.stop()
    started_at = read_started_at(samples_dir)
    return LoadRun(
        scenario=scenario,
        stages=stages,
        started_at=launched_at if started_at is None else started_at,
        samples=read_samples(samples_dir),
        cpu=tuple(sampler.samples),
        exit_code=process.returncode,
        timed_out=timed_out,
        log_path=log_path,
        workers=workers,
        accounting=account_samples(samples_dir),
        locust_pid=process.pid,
    )
