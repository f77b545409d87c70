"""``python -m benchmarks faults``: the capped stack's bad days, measured.

Boots the optimised stack (every container capped at 1 GiB, host ports pinned so a
restarted container keeps its address), seeds it, and for each fault runs the standard
mix of diners (``FAULT_LOAD``: 50 users, 10 s warm-up, 50 s measured) on a freshly
restored database with the fault injected alone, mid-run: at 10 s into the measured
window, held for the fault's time, then healed (see ``containers.faults`` for how each
is done). Per fault the result document records the requests before, during and after
it (failures by kind, 5xx, p95, the longest request), the time to recover, and the
**acknowledged orders lost**: every ``201`` the load generator got for an order must be
in Postgres afterwards. The budgets with ``command = "faults"`` in ``budgets.toml``
judge them. A run of some faults only (``--only``) names the others in the document's
``faults_not_run``; the budgets that read only their entries are "not run" (neither
passed nor failed), every other budget is judged on the faults that ran.

Writes ``reports/out/<run-id>-faults/`` (``result.json``, ``index.html`` with each
fault on its load's timeline, ``faults.md``). Exit code 0 when every fault budget judged
held, 1 when one failed or the stack could not run, 2 on bad input.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from docker.errors import DockerException

from benchmarks.commands.cli import command_parser
from benchmarks.commands.endings import render_pages, stopped_by
from benchmarks.errors import BenchmarkError
from benchmarks.judge.budgets import DEFAULT_BUDGETS, load_budgets
from benchmarks.judge.document import judge_faults
from benchmarks.measure.environment import Dataset, document_head, environment, run_id, seed_dataset
from benchmarks.measure.phases import PhasePlan, run_phase
from benchmarks.measure.recovery import acknowledged_orders, fault_figures, lost_orders
from benchmarks.measure.samples import read_samples
from containers.definitions import POSTGRES_PORT
from containers.errors import StackError
from containers.faults import (
    Fault,
    FaultError,
    Kill,
    PacketDrop,
    Pause,
    Restart,
    TableLock,
    Throttle,
)
from containers.images import ImageBuildError, ensure_images
from containers.interrupts import ends_cleanly_on_signals
from containers.stack import Stack
from results import write
from scenarios.protocol import read_started_at
from scenarios.registry import get_scenario

__all__ = [
    "FAULTS",
    "FAULT_LOAD",
    "faults_markdown",
    "main",
    "run_faults",
]

ROOT = Path(__file__).resolve().parents[2]
FAULT_LOAD = get_scenario("standard").with_overrides(warmup_s=10, measure_s=50)
#: Seconds into the measured window at which each fault is injected.
INJECT_AFTER_S = 10.0

FAULTS: tuple[Fault, ...] = (
    Kill("redis-killed", "redis", "Redis SIGKILLed, started again 5 s later (empty)", 5),
    Pause("redis-paused", "redis", "Redis paused (docker pause) for 10 s", 10),
    Restart("postgres-restarted", "postgres", "Postgres stopped (fast shutdown), started again", 0),
    Pause("postgres-paused", "postgres", "Postgres paused (docker pause) for 5 s", 5),
    PacketDrop(
        "postgres-loss",
        "service-0",
        "5 % of the packets between the service and Postgres dropped, both ways, for 15 s",
        15,
        port=POSTGRES_PORT,
        probability=0.05,
    ),
    PacketDrop(
        "postgres-partition",
        "service-0",
        "every packet between the service and Postgres dropped for 10 s (a partition)",
        10,
        port=POSTGRES_PORT,
    ),
    Throttle(
        "postgres-throttled",
        "postgres",
        "everything Postgres sends shaped to 1 Mbit/s (tc tbf) for 15 s",
        15,
        rate="1mbit",
    ),
    Kill("service-killed", "service-0", "the service SIGKILLed mid-orders, started again", 2),
    TableLock(
        "pool-exhausted",
        "postgres",
        "restaurants locked for 12 s: the service's queries on it queue, holding its pool",
        12,
    ),
)

Log = Callable[[str], None]


class Injector(threading.Thread):
    """Injects ``fault`` ``after_s`` seconds after the load started, heals it after its
    hold, and keeps the times (epoch seconds) and what went wrong."""

    def __init__(self, stack: Stack, fault: Fault, samples_dir: Path, after_s: float) -> None:
        super().__init__(name=f"fault-{fault.name}", daemon=True)
        self.stack, self.fault, self.samples_dir, self.after_s = stack, fault, samples_dir, after_s
        self.injected_at: float | None = None
        self.healed_at: float | None = None
        self.error: str | None = None
        self._done = threading.Event()

    def _load_started(self) -> float | None:
        deadline = time.monotonic() + 120
        while not self._done.is_set() and time.monotonic() < deadline:
            started = read_started_at(self.samples_dir)
            if started is not None:
                return started
            self._done.wait(0.1)
        return None

    def run(self) -> None:
        try:
            started = self._load_started()
        except ValueError as error:  # written whole (renamed into place): malformed
            self.error = f"the load's start time is unreadable: {error}"
            return
        if started is None:
            self.error = "the load never started: fault not injected"
            return
        if self._done.wait(max(0.0, started + self.after_s - time.time())):
            self.error = "the load ended before the fault was due"
            return
        try:
            self.fault.inject(self.stack)
            self.injected_at = time.time()
            self._done.wait(self.fault.hold_s)
        except (FaultError, DockerException, psycopg.Error) as error:
            self.error = f"inject: {type(error).__name__}: {error}"
        finally:
            try:
                self.fault.heal(self.stack)
                self.healed_at = time.time()
            except (FaultError, DockerException, psycopg.Error, StackError) as error:
                self.error = (self.error or "") + f" heal: {type(error).__name__}: {error}"

    def finish(self) -> None:
        """Cut the waits short (the load ended) and wait for the heal."""
        self._done.set()
        self.join(timeout=180)


def _fault_phase(
    stack: Stack, fault: Fault, work_dir: Path, log: Log
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Restore the database, run the load with ``fault`` injected; (phase, fault entry)."""
    stack.restore_database()
    plan = PhasePlan(fault.name, "optimized", frozenset(), FAULT_LOAD, gated=False)
    injector = Injector(stack, fault, work_dir / "samples", FAULT_LOAD.warmup_s + INJECT_AFTER_S)
    log(f"fault {fault.name}: {fault.description}")
    injector.start()
    try:
        phase = run_phase(stack, plan, work_dir=work_dir)
    finally:
        injector.finish()
    _save_logs(stack, work_dir)
    entry: dict[str, Any] = {
        "name": fault.name,
        "target": fault.target,
        "description": fault.description,
        "hold_s": fault.hold_s,
        "error": injector.error,
        "measured": False,
    }
    started = phase.get("started_at")
    if injector.injected_at is not None and injector.healed_at is not None and started:
        samples = read_samples(work_dir / "samples")
        entry.update(
            fault_figures(
                samples,
                started_at=started,
                measured_from=started + phase["warmup_s"],
                end=started + phase["warmup_s"] + phase["measure_s"],
                injected_at=injector.injected_at,
                healed_at=injector.healed_at,
            ),
            measured=True,
        )
    acknowledged = acknowledged_orders(work_dir / "samples")
    try:
        lost = lost_orders(stack.postgres_libpq_url, acknowledged)
        entry["acknowledged_orders"] = {
            "acknowledged": len(set(acknowledged)),
            "lost": len(lost),
            "lost_ids": lost[:20],
        }
    except psycopg.Error as error:
        entry["acknowledged_orders"] = {"error": f"{type(error).__name__}: {error}"}
        entry["measured"] = False  # an unchecked loss is not a pass
    phase["fault"] = entry
    log(_line(entry))
    return phase, entry


def _save_logs(stack: Stack, work_dir: Path) -> None:
    """Keep every container's log of the phase (``<name>.log``): what the service said
    about the fault is the first thing to read when a budget failed."""
    for name, container in stack.docker_containers().items():
        try:
            (work_dir / f"{name}.log").write_bytes(container.logs())
        except DockerException:
            continue


def _line(entry: dict[str, Any]) -> str:
    if not entry["measured"]:
        return f"  {entry['name']}: not measured ({entry.get('error')})"
    orders = entry.get("acknowledged_orders", {})
    return (
        f"  {entry['name']}: failed {entry['failed']} ({entry['server_errors']} 5xx), "
        f"p95 during {entry['during']['p95_ms']} ms, after {entry['after']['p95_ms']} ms, "
        f"recovered in {entry['recovery_ms'] / 1000:.1f} s, orders acknowledged "
        f"{orders.get('acknowledged')}, lost {orders.get('lost')}"
    )


def faults_markdown(document: dict[str, Any]) -> str:
    """The run as a markdown table (one row per fault), its failed budgets and those not
    run (a run of some faults only)."""
    verdicts = document.get("verdicts", [])
    failed = [v for v in verdicts if v["passed"] is False]
    not_run = [v for v in verdicts if v["passed"] is None]
    left_out = document.get("faults_not_run") or []
    ran = len(document.get("faults", []))
    partial = f" (partial run: {ran} of {ran + len(left_out)} faults)" if left_out else ""
    lines = [f"# Faults: {'passed' if document.get('passed') else 'FAILED'}{partial}", ""]
    if left_out:
        lines += [f"Faults not run (--only): {', '.join(left_out)}", ""]
    lines += [
        "| fault | failed (5xx) during | after | p95 before / during / after (ms) | longest (ms) "
        "| recovery (s) | orders acknowledged / lost |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in document.get("faults", []):
        if not entry["measured"]:
            lines.append(f"| {entry['name']} | not measured: {entry.get('error')} ||||||")
            continue
        before, during, after = entry["before"], entry["during"], entry["after"]
        orders = entry.get("acknowledged_orders", {})
        lines.append(
            f"| {entry['name']} | {during['failed']} ({during['server_errors']}) "
            f"| {after['failed']} ({after['server_errors']}) "
            f"| {before['p95_ms']} / {during['p95_ms']} / {after['p95_ms']} "
            f"| {entry['longest_ms']} | {entry['recovery_ms'] / 1000:.1f} "
            f"| {orders.get('acknowledged')} / {orders.get('lost')} |"
        )
    held = len(verdicts) - len(failed) - len(not_run)
    lines += ["", f"Budgets: {held} held, {len(failed)} failed, {len(not_run)} not run."]
    if failed:
        lines += ["", "Failed budgets:"]
        lines += [f"- `{v['budget']}`: {v['explanation']}" for v in failed]
    if not_run:
        lines += ["", "Budgets not run (neither passed nor failed):"]
        lines += [f"- `{v['budget']}`: {v['explanation']}" for v in not_run]
    lines += ["", f"Run again: `{document['environment']['reproduce']}`"]
    return "\n".join(lines) + "\n"


def run_faults(
    faults: Sequence[Fault] = FAULTS,
    out: Path = ROOT / "reports" / "out",
    *,
    dataset: Dataset | None = None,
    reproduce: str = "python -m benchmarks faults",
    log: Log = print,
) -> tuple[dict[str, Any], Path]:
    """Boot, seed, run each of ``faults`` in turn; write and return the run's document
    (the catalogue's other faults named in ``faults_not_run``)."""
    budgets = load_budgets(DEFAULT_BUDGETS, command="faults")
    dataset = dataset or Dataset()
    now = datetime.now(UTC)
    started = time.monotonic()
    images = ensure_images(("postgres", "redis", "service", "netfault"))
    phases: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    with Stack(profile="optimized", images=images, pinned_ports=True) as stack:
        env = environment(stack, dataset, reproduce)
        run_dir = out / (run_id(now, env["commit"]) + "-faults")
        seed_dataset(stack, dataset, log)
        stack.snapshot_database()
        for index, fault in enumerate(faults, start=1):
            log(f"[{index}/{len(faults)}] {fault.name}")
            phase, entry = _fault_phase(stack, fault, run_dir / "work" / fault.name, log)
            phases.append(phase)
            entries.append(entry)
    chosen = {fault.name for fault in faults}
    document = {
        **document_head("faults", run_dir.name, now, env),
        "phases": phases,
        "faults": entries,
        "faults_not_run": [fault.name for fault in FAULTS if fault.name not in chosen],
    }
    judge_faults(document, budgets, duration_s=round(time.monotonic() - started, 1))
    write(run_dir / "result.json", document)
    (run_dir / "faults.md").write_text(faults_markdown(document), encoding="utf-8")
    return document, run_dir


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("faults", __doc__, out=True)
    parser.add_argument(
        "--only",
        metavar="NAME[,NAME]",
        help=f"run only these faults (of: {', '.join(f.name for f in FAULTS)})",
    )
    parser.add_argument("--list", action="store_true", help="list the faults and exit")
    return parser


def choose(only: str | None) -> tuple[Fault, ...]:
    """The faults named in ``only`` (comma list), in catalogue order; ValueError names a typo."""
    # Each run gets its own copies: a fault keeps state (a held lock) while injected.
    if not only:
        return tuple(replace(fault) for fault in FAULTS)
    names = {name.strip() for name in only.split(",") if name.strip()}
    if not names:  # a run of no fault would judge nothing
        raise ValueError(f"--only {only!r} names no fault")
    known = {fault.name for fault in FAULTS}
    unknown = sorted(names - known)
    if unknown:
        raise ValueError(
            f"unknown fault(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(f.name for f in FAULTS)}"
        )
    return tuple(replace(fault) for fault in FAULTS if fault.name in names)


@ends_cleanly_on_signals
def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    if options.list:
        for fault in FAULTS:
            print(f"{fault.name:20} {fault.description}")
        return 0
    reproduce = "python -m benchmarks faults" + (f" --only {options.only}" if options.only else "")
    try:
        faults = choose(options.only)
        document, run_dir = run_faults(
            faults, options.out, reproduce=reproduce, log=lambda line: print(line, flush=True)
        )
    except (BenchmarkError, ValueError, StackError, DockerException, ImageBuildError) as error:
        return stopped_by(error)
    if render_pages(run_dir):
        print(f"report: {run_dir / 'index.html'}")
    print(faults_markdown(document))
    return 0 if document["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
