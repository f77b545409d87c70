"""Runs a scenario as a headless Locust subprocess and reads back what it measured.

The subprocess is bounded three ways: the load shape stops itself after its
stages, ``--stop-timeout`` bounds the wind-down, and the runner interrupts (then
kills) the process tree if it outlives the shape by ``grace_s``. The Locust
processes' CPU is sampled at ~1 Hz so a saturated load generator is flagged.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from benchmarks.polling import Poller
from benchmarks.samples import Samples, read_samples
from scenarios.registry import Scenario
from scenarios.stages import Stage, total_duration

__all__ = ["LOCUSTFILE", "SATURATION_PERCENT", "CpuSample", "LoadRun", "run_scenario"]

LOCUSTFILE = Path(__file__).resolve().parent.parent / "scenarios" / "locustfile.py"

#: A Locust process is one gevent loop on one core: at this share of a core
#: its timers (and so the latencies it reports) start to lag.
SATURATION_PERCENT = 90.0


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
    processes: int

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
        """CPU summary over the measured window (see :data:`SATURATION_PERCENT`)."""
        start, end = self.started_at + self.warmup_s, self.started_at + self.end_s
        per_pid: dict[int, list[float]] = {}
        for sample in self.cpu:
            if start <= sample.t <= end:
                for pid, percent in sample.percent_by_pid.items():
                    per_pid.setdefault(pid, []).append(percent)
        means = [sum(values) / len(values) for values in per_pid.values() if values]
        peaks = [max(values) for values in per_pid.values() if values]
        mean = max(means) if means else None
        return {
            "cpu_percent_mean": None if mean is None else round(mean, 1),
            "cpu_percent_max": round(max(peaks), 1) if peaks else None,
            "saturated": None if mean is None else mean >= SATURATION_PERCENT,
            "processes": self.processes,
            "rule": (
                f"saturated when the busiest Locust process averages >= {SATURATION_PERCENT:g} % "
                "of one core over the measured window"
            ),
        }


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
        TASTEMATCH_REPLICA_URLS=",".join(replica_urls),
        TASTEMATCH_SCENARIO=scenario.name,
        TASTEMATCH_USERS=str(scenario.users),
        TASTEMATCH_WARMUP_S=str(scenario.warmup_s),
        TASTEMATCH_MEASURE_S=str(scenario.measure_s),
        TASTEMATCH_SAMPLES_DIR=str(samples_dir),
        PYTHONUNBUFFERED="1",
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
    processes: int = 0,
    grace_s: float = 45.0,
    replica_urls: Sequence[str] = (),
    on_tick: Callable[[float], None] | None = None,
) -> LoadRun:
    """Run ``scenario`` against ``host`` headless; samples and logs go to ``out_dir``.

    ``processes`` > 0 forks that many Locust worker processes (Locust's own
    distributed mode) under one master. With ``replica_urls``, every request
    goes to one of them chosen at random (no sticky sessions). ``on_tick`` is called
    about once a second with the seconds since Locust started (live progress).
    """
    stages = scenario.stages()
    out_dir.mkdir(parents=True, exist_ok=True)
    samples_dir = out_dir / "samples"
    samples_dir.mkdir(exist_ok=True)
    log_path = out_dir / "locust.log"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        host,
        "--only-summary",
        "--stop-timeout",
        "5",
        "--csv",
        str(out_dir / "locust"),
        *scenario.user_classes,
    ]
    if processes > 0:
        command += ["--processes", str(processes)]
    launched_at = time.time()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_environment(scenario, samples_dir, replica_urls),
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
    marker = samples_dir / "start.json"
    started_at = (
        float(json.loads(marker.read_text())["started_at"]) if marker.exists() else launched_at
    )
    return LoadRun(
        scenario=scenario,
        stages=stages,
        started_at=started_at,
        samples=read_samples(samples_dir),
        cpu=tuple(sampler.samples),
        exit_code=process.returncode,
        timed_out=timed_out,
        log_path=log_path,
        processes=processes,
    )
