"""``python -m benchmarks oom``: watch the old TasteMatch get OOM-killed in its 1 GiB.

Boots the capped stack with the pre-fix behaviour, seeds the dataset, and runs
the ``recommendations-step-ramp`` scenario (one more diner asking for
recommendations every step) until the service container is OOM-killed — then
stops the load. If no kill comes before the ramp ends, it says plainly that the
kill did not reproduce.

By default the service runs under ``memray run``, so the report names the
allocation sites that filled the heap. ``memray run`` follows one process, and
R2 (two uvicorn workers) forks two, so the traced service runs every regression
*but R2* (the baseline with one worker; Postgres untuned). ``--baseline`` runs
the exact ``baseline`` profile (R2 included) without memray instead: a worker's
kill then shows in the cgroup's OOM counter while uvicorn restarts the worker.

Writes ``reports/out/<run-id>-oom/`` (``result.json``, ``index.html`` with the
memory timeline and the kill on the load's timeline, ``memray-flamegraph.html``,
``oom.md``) and prints one line:
``OOM-killed at t=…s, users=…, peak=… MiB``. Exit code: 0 when the kill
reproduced, 1 when it did not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import memray
import psutil
from docker.errors import DockerException

from benchmarks.commands.cli import command_parser
from benchmarks.commands.endings import render_pages, stopped_by
from benchmarks.commands.gate import new_document
from benchmarks.errors import BenchmarkError
from benchmarks.judge.budgets import DEFAULT_BUDGETS, load_budgets
from benchmarks.judge.document import judge
from benchmarks.judge.kill import COMPARED_ENDPOINT, kill_report
from benchmarks.measure.environment import Dataset, environment, run_id, seed_dataset
from benchmarks.measure.loadgen import LOCUSTFILE
from benchmarks.measure.memory import FLAMEGRAPH, service_sites, top_allocations
from benchmarks.measure.phases import PhasePlan, run_phase
from containers.errors import StackError
from containers.interrupts import ends_cleanly_on_signals
from containers.memory_readings import locate_cgroup
from containers.replicas import MEMRAY_CAPTURE
from containers.stack import Stack
from results import write
from scenarios.registry import Scenario, get_scenario
from service.regressions import REGRESSION_IDS

__all__ = [
    "OOM_LOAD",
    "TRACED_REGRESSIONS",
    "main",
    "ramp_text",
    "run_oom",
]

ROOT = Path(__file__).resolve().parents[2]
OOM_LOAD = get_scenario("recommendations-step-ramp")
#: Every regression but R2: the old code in one process, so memray can trace it.
TRACED_REGRESSIONS = frozenset(REGRESSION_IDS) - {"R2"}
_MIB = 2**20
_POLL_S = 0.25
_MEMRAY_TIMEOUT_S = 300

Log = Callable[[str], None]


def _locust_groups() -> list[int]:
    """Process groups of the Locust runs this process started (see ``run_scenario``)."""
    groups = []
    for child in psutil.Process().children(recursive=False):
        with contextlib.suppress(psutil.Error):
            if str(LOCUSTFILE) in child.cmdline():
                groups.append(child.pid)
    return groups


class KillWatch:
    """Stops the load as soon as the service is OOM-killed (container or one worker)."""

    def __init__(self, stack: Stack, log: Log) -> None:
        self.stack = stack
        self.log = log
        self.seen_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="oom-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _killed(self, container: Any, reader: Any) -> bool:
        if reader is not None:
            with contextlib.suppress(OSError):
                if (reader.read().oom_kill_count or 0) > 0:
                    return True
        with contextlib.suppress(Exception):
            container.reload()
            state = container.attrs["State"]
            return bool(state.get("OOMKilled")) or state.get("Status") != "running"
        return False

    def _run(self) -> None:
        # Wait for the load to start: the phase restarts the service before it.
        groups: list[int] = []
        while not self._stop.wait(_POLL_S) and not groups:
            groups = _locust_groups()
        if not groups:
            return
        try:
            container = self.stack.docker_containers()["service-0"]
            container.reload()
            reader = locate_cgroup(container.id, int(container.attrs["State"]["Pid"]))
        except (KeyError, StackError) as error:
            self.log(f"oom watch: cannot watch the service ({error}); the ramp runs to its end")
            return
        while not self._stop.wait(_POLL_S):
            if self._killed(container, reader):
                self.seen_at = time.time()
                self.log("oom watch: the service was OOM-killed (or exited); stopping the load")
                for group in groups:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(group, signal.SIGINT)  # Locust writes its results and exits
                return


def _memray_block(stack: Stack, run_dir: Path, log: Log) -> dict[str, Any]:
    """Peak heap, top sites and flamegraph of the traced service up to its kill."""
    service = stack.docker_containers()["service-0"]
    service.reload()
    if service.status == "running":
        service.stop(timeout=20)  # a clean exit lets memray finish its capture
    capture = stack.copy_from("service-0", MEMRAY_CAPTURE, run_dir / "work" / "memray")
    with memray.FileReader(str(capture)) as reader:
        peak = int(reader.metadata.peak_memory)
        total = int(reader.metadata.total_allocations)
    log(f"memray: peak heap {peak / _MIB:.0f} MiB over {total} allocations; flamegraph ...")
    flamegraph = ["flamegraph", "--force", "-o", str(run_dir / FLAMEGRAPH), str(capture)]
    subprocess.run(
        [sys.executable, "-m", "memray", *flamegraph],
        check=True,
        capture_output=True,
        timeout=_MEMRAY_TIMEOUT_S,
    )
    return {
        "peak_heap_bytes": peak,
        "per_request_bytes": None,
        "total_allocations": total,
        # The service's own call sites lead (they say which code filled the heap);
        # memray's innermost frames (drivers, the JSON decoder) are kept beside them.
        "top_allocations": service_sites(capture),
        "innermost_allocations": top_allocations(capture),
        "flamegraph": FLAMEGRAPH,
        "errors": ["per-request allocation: not measured by python -m benchmarks oom"],
    }


def ramp_text(scenario: Scenario) -> str:
    """``name: users 1 -> 2 -> 3, 40 s per step`` (warm-up first)."""
    stages = scenario.stages()
    users = " -> ".join(str(stage.users) for stage in stages)
    return f"{scenario.name}: users {users}, {stages[-1].duration_s:g} s per step"


def reproduce_command(*, baseline: bool, scenario: Scenario) -> str:
    words = ["python -m benchmarks oom"]
    if baseline:
        words.append("--baseline")
    if scenario != OOM_LOAD:
        words += [f"--users {scenario.users}", f"--measure {scenario.measure_s:g}"]
    return " ".join(words)


def _ms(kill: Mapping[str, Any]) -> str:
    value = kill.get("p95_ms_before_kill")
    return "not measured" if value is None else f"{float(value):.0f} ms"


def oom_markdown(document: Mapping[str, Any]) -> str:
    """``oom.md``: the one-line outcome, what ran, and the top allocation sites."""
    oom = document["oom"]
    lines = [
        "## TasteMatch Bench: OOM reproduction",
        "",
        f"**{oom['kill']['summary']}**",
        "",
        f"- service: {oom['service']}",
        f"- load: {oom['load']}",
        f"- p95 of {COMPARED_ENDPOINT} just before the kill: {_ms(oom['kill'])}",
        f"- run again: `{oom['reproduce']}`",
        "",
    ]
    memray_block = document.get("memray") or {}
    sites = memray_block.get("top_allocations") or []
    if sites:
        lines += ["| service code that allocated (at the heap's peak) | MiB | allocations |"]
        lines += ["|---|---|---|"]
        lines += [
            f"| `{site['location']}` | {site['bytes'] / _MIB:.1f} | {site['count']} |"
            for site in sites
        ]
    else:
        lines.append(f"memray: not measured ({'; '.join(memray_block.get('errors') or [])})")
    return "\n".join(lines) + "\n"


def run_oom(
    out: Path = ROOT / "reports" / "out",
    *,
    baseline: bool = False,
    scenario: Scenario = OOM_LOAD,
    dataset: Dataset | None = None,
    log: Log = print,
) -> tuple[dict[str, Any], Path]:
    """Boot, ramp until the kill (or the ramp's end), and write the run folder."""
    budgets = load_budgets(DEFAULT_BUDGETS)
    scenario.stages()
    dataset = dataset or Dataset()
    profile, regressions = (
        ("baseline", frozenset()) if baseline else ("optimized", TRACED_REGRESSIONS)
    )
    service = (
        "profile baseline (every regression, 2 uvicorn workers), not traced by memray"
        if baseline
        else "every regression but R2 (R1, R3-R8: the baseline with 1 uvicorn worker, "
        "untuned Postgres), traced by memray run"
    )
    now = datetime.now(UTC)
    started = time.monotonic()
    log(f"oom: {service}")
    with Stack(profile=profile, regressions=regressions, memray=not baseline) as stack:
        env = environment(stack, dataset, reproduce_command(baseline=baseline, scenario=scenario))
        run_dir = out / (run_id(now, env["commit"]) + "-oom")
        (run_dir / "work").mkdir(parents=True, exist_ok=True)
        seed_dataset(stack, dataset, log)
        plan = PhasePlan("oom", profile, regressions, scenario, gated=True)
        stages = scenario.stages()
        log(f"load: {ramp_text(scenario)}, {sum(s.duration_s for s in stages):g} s at most")
        watch = KillWatch(stack, log)
        watch.start()
        try:
            phase = run_phase(stack, plan, work_dir=run_dir / "work" / "oom")
        finally:
            watch.stop()
        kill = kill_report(phase)
        memray_block: dict[str, Any] = {
            "peak_heap_bytes": None,
            "per_request_bytes": None,
            "errors": ["not measured: --baseline runs without memray"],
        }
        if not baseline:
            try:
                memray_block = _memray_block(stack, run_dir, log)
            except (StackError, OSError, subprocess.SubprocessError, KeyError) as error:
                memray_block["errors"] = [f"memray: {type(error).__name__}: {error}"]
    document = new_document(run_dir.name, now, kind="oom")
    document.update(
        environment=env,
        phases=[phase],
        memray=memray_block,
        microbenchmarks_status={"failed": None, "error": "not measured by the OOM run"},
        comparison={"ratio": None, "errors": {"comparison": "not measured by the OOM run"}},
    )
    document["oom"] = {
        "kill": kill.to_json(),
        "service": service,
        "profile": profile,
        "regressions": sorted(regressions),
        "memray": not baseline,
        "load": ramp_text(scenario),
        "reproduce": env["reproduce"],
    }
    # The gate's other phases (saturation, pgbouncer) are not part of this run.
    not_run = {
        budget.name: f"not run: make oom runs one phase ({plan.name}), not {budget.phase_name}"
        for budget in budgets
        if budget.phase_name not in (None, plan.name)
    }
    judge(document, budgets, duration_s=round(time.monotonic() - started, 1), not_run=not_run)
    write(run_dir / "result.json", document)
    (run_dir / "oom.md").write_text(oom_markdown(document), encoding="utf-8")
    return document, run_dir


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("oom", __doc__, out=True)
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="the exact baseline profile (R2's two workers), without memray",
    )
    parser.add_argument("--users", type=int, help=f"peak users (default {OOM_LOAD.users})")
    parser.add_argument(
        "--measure", type=float, help=f"seconds of the steps (default {OOM_LOAD.measure_s:g})"
    )
    return parser


@ends_cleanly_on_signals
def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    try:
        scenario = OOM_LOAD.with_overrides(users=options.users, measure_s=options.measure)
        scenario.stages()
        document, run_dir = run_oom(
            options.out,
            baseline=options.baseline,
            scenario=scenario,
            log=lambda line: print(line, flush=True),
        )
    except (BenchmarkError, ValueError, StackError, DockerException) as error:
        return stopped_by(error)
    oom = document["oom"]
    for site in (document["memray"].get("top_allocations") or [])[:5]:
        print(f"  {site['bytes'] / _MIB:8.1f} MiB  {site['location']}")
    if render_pages(run_dir):
        print(f"report: {run_dir / 'index.html'}")
    print(f"flamegraph: {run_dir / FLAMEGRAPH}" if oom["memray"] else "flamegraph: none")
    print(oom["kill"]["summary"])
    print(f"run again: {oom['reproduce']}")
    return 0 if oom["kill"]["reproduced"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
