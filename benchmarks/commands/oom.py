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
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import memray
import psutil
from docker.errors import DockerException

from benchmarks.commands.gate import judge, new_document, seed_dataset
from benchmarks.judge.budgets import DEFAULT_BUDGETS, load_budgets
from benchmarks.measure.environment import Dataset, environment, run_id
from benchmarks.measure.loadgen import LOCUSTFILE
from benchmarks.measure.memory import FLAMEGRAPH, top_allocations
from benchmarks.measure.phases import PhasePlan, run_phase
from containers.interrupts import ends_cleanly_on_signals
from containers.memory import locate_cgroup
from containers.stack import MEMRAY_CAPTURE, REGRESSION_IDS, Stack, StackError
from results import write
from scenarios.registry import Scenario, get_scenario

__all__ = [
    "OOM_LOAD",
    "TRACED_REGRESSIONS",
    "KillReport",
    "kill_report",
    "main",
    "ramp_text",
    "run_oom",
    "service_sites",
    "stopped_by",
]

ROOT = Path(__file__).resolve().parents[2]
OOM_LOAD = get_scenario("recommendations-step-ramp")
#: Every regression but R2: the old code in one process, so memray can trace it.
TRACED_REGRESSIONS = frozenset(REGRESSION_IDS) - {"R2"}
COMPARED_ENDPOINT = "GET /api/recommendations"
_MIB = 2**20
_POLL_S = 0.25
_MEMRAY_TIMEOUT_S = 300
#: Path fragment of the service's own code inside the image's stack traces.
_SERVICE_CODE = "/service/"

Log = Callable[[str], None]


class KillReport:
    """Where on the load's timeline a kill landed (all from a phase entry of ``result.json``)."""

    def __init__(self, phase: Mapping[str, Any], container: str = "service-0") -> None:
        figures = (phase.get("containers") or {}).get(container) or {}
        self.container = container
        self.killed = bool(figures.get("oom_killed"))
        kill_t = figures.get("oom_kill_t")
        self.t: float | None = float(kill_t) if isinstance(kill_t, int | float) else None
        peaks = [
            figures.get(key)
            for key in ("cgroup_peak_bytes", "peak_usage_bytes", "peak_working_set_bytes")
        ]
        known = [int(value) for value in peaks if isinstance(value, int | float)]
        self.peak_bytes: int | None = max(known) if known else None
        self.cap_bytes = figures.get("cap_bytes")
        at = self.t if self.t is not None else float("inf")
        self.stage_users = _stage_users(phase.get("stages") or [], at)
        self.running_users = _last_before(
            (phase.get("timeline") or {}).get("users") or [], at, "users"
        )
        requests = [
            entry
            for entry in (phase.get("timeline") or {}).get("requests") or []
            if entry.get("endpoint") == COMPARED_ENDPOINT
        ]
        # Per-second buckets of request starts: the last one wholly before the kill.
        self.p95_ms = _last_before(requests, at - 1.0, "p95_ms")

    @property
    def users(self) -> int | None:
        """Users running when the kill landed (Locust's count, else the stage's plan)."""
        value = self.running_users if self.running_users is not None else self.stage_users
        return None if value is None else int(value)

    def line(self) -> str:
        """``OOM-killed at t=…s, users=…, peak=… MiB`` (or that it did not reproduce)."""
        peak = "?" if self.peak_bytes is None else f"{self.peak_bytes / _MIB:.0f}"
        if not self.killed:
            return (
                f"NOT reproduced: {self.container} was not OOM-killed "
                f"(users up to {self.users}, peak={peak} MiB)"
            )
        when = "?" if self.t is None else f"{self.t:.1f}"
        return f"OOM-killed at t={when}s, users={self.users}, peak={peak} MiB"

    def to_json(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "reproduced": self.killed,
            "t": self.t,
            "users": self.users,
            "stage_users": self.stage_users,
            "peak_bytes": self.peak_bytes,
            "cap_bytes": self.cap_bytes,
            "p95_ms_before_kill": self.p95_ms,
            "summary": self.line(),
        }


def _stage_users(stages: Sequence[Mapping[str, Any]], t: float) -> int | None:
    users = None
    for stage in stages:
        if float(stage.get("start_t", 0)) <= t:
            users = stage.get("users")
    return None if users is None else int(users)


def _last_before(entries: Sequence[Mapping[str, Any]], t: float, key: str) -> Any:
    value = None
    for entry in entries:
        if isinstance(entry.get("t"), int | float) and float(entry["t"]) <= t:
            value = entry.get(key, value)
    return value


def kill_report(phase: Mapping[str, Any]) -> KillReport:
    """The kill of ``service-0`` (or of the first service replica that was killed)."""
    names = sorted(n for n in (phase.get("containers") or {}) if n.startswith("service-"))
    for name in names:
        report = KillReport(phase, name)
        if report.killed:
            return report
    return KillReport(phase, names[0] if names else "service-0")


def service_sites(capture: Path, count: int = 10) -> list[dict[str, Any]]:
    """The service's own lines that allocated most of the heap at its peak.

    memray's innermost frame is usually a library (the JSON decoder, SQLAlchemy);
    the first frame in TasteMatch's code says which call made it allocate.
    """
    sites: dict[str, dict[str, Any]] = {}
    with memray.FileReader(str(capture)) as reader:
        for record in reader.get_high_watermark_allocation_records(merge_threads=True):
            frames = record.stack_trace()
            own = next((frame for frame in frames if _SERVICE_CODE in frame[1]), None)
            if own is None:
                location = "(no frame in the service's code)"
            else:
                function, filename, line = own
                location = f"service/{filename.rpartition(_SERVICE_CODE)[2]}:{line} {function}"
            site = sites.setdefault(location, {"location": location, "bytes": 0, "count": 0})
            site["bytes"] += int(record.size)
            site["count"] += int(record.n_allocations)
    return sorted(sites.values(), key=lambda site: -int(site["bytes"]))[:count]


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


def stopped_by(error: Exception) -> int:
    """Print why a command stopped; its exit code: 2 for bad input, 1 when the stack failed."""
    if isinstance(error, ValueError):
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"error: the capped stack could not run: {error}", file=sys.stderr)
    return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks oom", description=__doc__)
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="the exact baseline profile (R2's two workers), without memray",
    )
    parser.add_argument("--users", type=int, help=f"peak users (default {OOM_LOAD.users})")
    parser.add_argument(
        "--measure", type=float, help=f"seconds of the steps (default {OOM_LOAD.measure_s:g})"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "out")
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
    except (ValueError, StackError, DockerException) as error:
        return stopped_by(error)
    oom = document["oom"]
    for site in (document["memray"].get("top_allocations") or [])[:5]:
        print(f"  {site['bytes'] / _MIB:8.1f} MiB  {site['location']}")
    try:
        from reports import render_run

        render_run(run_dir)
        print(f"report: {run_dir / 'index.html'}")
    except Exception as error:  # the measurement stands without its HTML
        print(f"report: not rendered ({type(error).__name__}: {error})")
    print(f"flamegraph: {run_dir / FLAMEGRAPH}" if oom["memray"] else "flamegraph: none")
    print(oom["kill"]["summary"])
    print(f"run again: {oom['reproduce']}")
    return 0 if oom["kill"]["reproduced"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
