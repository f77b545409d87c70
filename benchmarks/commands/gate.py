"""The gate: boot the capped stack once, run every phase, judge the budgets, write the result.

Phases share one Postgres with one seeded dataset; only the service replicas are
restarted between them (``Stack.restart_services``). The result document is
written even when a phase fails, so every verdict can be explained and re-read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.judge.budgets import DEFAULT_BUDGETS, load_budgets
from benchmarks.judge.document import judge
from benchmarks.judge.relative import load_relative_limits
from benchmarks.measure.environment import (
    ROOT,
    Dataset,
    document_head,
    environment,
    git,
    run_id,
    seed_dataset,
)
from benchmarks.measure.loadgen import check_workers
from benchmarks.measure.memory import memory_phase
from benchmarks.measure.micro import run_microbenchmarks
from benchmarks.measure.pgbouncer import BUDGETS as PGBOUNCER_BUDGETS
from benchmarks.measure.pgbouncer import MEASURE_S as PGBOUNCER_MEASURE_S
from benchmarks.measure.pgbouncer import PHASE as PGBOUNCER
from benchmarks.measure.pgbouncer import POOL_SIZE as PGBOUNCER_POOL
from benchmarks.measure.pgbouncer import WARMUP_S as PGBOUNCER_WARMUP_S
from benchmarks.measure.pgbouncer import side_by_side
from benchmarks.measure.phase_entry import failed_phase
from benchmarks.measure.phases import PhasePlan, run_phase
from benchmarks.measure.revisions import Revision, base_revision
from benchmarks.measure.versus_base import VersusBasePlan, micro_versus_base, run_versus_base
from containers.errors import StackError
from containers.stack import Stack
from results import write
from scenarios.registry import Scenario, get_scenario

__all__ = [
    "Dataset",
    "GateOptions",
    "microbenchmarks_block",
    "new_document",
    "reproduce",
    "run_gate",
    "run_id",
]
COMPARED_ENDPOINT = "GET /api/recommendations"
#: The closed-loop phase (and its scenario): the service near its capacity.
SATURATION = "saturation"


@dataclass(frozen=True)
class GateOptions:
    """Everything ``python -m benchmarks run`` can change; defaults are the standard gate."""

    profile: str = "optimized"
    regressions: frozenset[str] = frozenset()
    scenario: str = "standard"
    users: int | None = None
    warmup_s: float | None = None
    measure_s: float | None = None
    compare_users: int | None = None
    compare_warmup_s: float | None = None
    compare_measure_s: float | None = None
    skip_baseline: bool = False
    skip_memray: bool = False
    skip_micro: bool = False
    #: No closed-loop phase near the service's capacity.
    skip_saturation: bool = False
    #: No phase through PgBouncer beside the gated one.
    skip_pgbouncer: bool = False
    #: Locust worker processes (0: Locust as one process; N: a master and N workers).
    load_workers: int = 0
    #: Service replicas sharing Redis, as the fix plan's production ran (two machines).
    replicas: int = 2
    #: Trace the probes' requests (not the load's) and judge their spans.
    tracing: bool = True
    #: A git ref: its service runs against the working tree's in interleaved rounds.
    base: str | None = None
    base_rounds: int = 3
    #: Settings only base's / head's service runs with (``--base-env``/``--head-env``).
    base_env: tuple[tuple[str, str], ...] = ()
    head_env: tuple[tuple[str, str], ...] = ()
    out: Path = ROOT / "reports" / "out"
    budgets: Path = DEFAULT_BUDGETS
    dataset: Dataset = field(default_factory=Dataset)

    def primary(self) -> Scenario:
        return get_scenario(self.scenario).with_overrides(
            users=self.users, warmup_s=self.warmup_s, measure_s=self.measure_s
        )

    def comparison(self) -> Scenario:
        return get_scenario("comparison").with_overrides(
            users=self.compare_users,
            warmup_s=self.compare_warmup_s,
            measure_s=self.compare_measure_s,
        )


def reproduce(options: GateOptions) -> str:
    """The shortest command that runs the gate again with ``options``."""
    if options == GateOptions(out=options.out, base=options.base):
        return "make bench" + (f" BASE={options.base}" if options.base else "")
    words = ["python -m benchmarks run", f"--profile {options.profile}"]
    if options.regressions:
        words.append(f"--regressions {','.join(sorted(options.regressions))}")
    if options.scenario != "standard":
        words.append(f"--scenario {options.scenario}")
    for flag, value in (
        ("--users", options.users),
        ("--warmup", options.warmup_s),
        ("--measure", options.measure_s),
    ):
        if value is not None:
            words.append(f"{flag} {value:g}")
    if options.load_workers:
        words.append(f"--load-workers {options.load_workers}")
    if options.replicas != GateOptions.replicas:
        words.append(f"--replicas {options.replicas}")
    for flag, skipped in (
        ("--skip-baseline", options.skip_baseline),
        ("--skip-memray", options.skip_memray),
        ("--skip-micro", options.skip_micro),
        ("--skip-saturation", options.skip_saturation),
        ("--skip-pgbouncer", options.skip_pgbouncer),
        ("--no-tracing", not options.tracing),
    ):
        if skipped:
            words.append(flag)
    if options.base:
        words.append(f"--base {options.base}")
        if options.base_rounds != GateOptions.base_rounds:
            words.append(f"--base-rounds {options.base_rounds}")
        for flag, pairs in (("--base-env", options.base_env), ("--head-env", options.head_env)):
            words += [f"{flag} {key}={value}" for key, value in pairs]
    return " ".join(words)


def comparison(phases: list[dict[str, Any]], scenario: Scenario) -> dict[str, Any]:
    """Optimised p95 over baseline p95 of the compared endpoint, both from this run."""
    by_name = {phase["name"]: phase for phase in phases}

    def p95(name: str) -> float | None:
        figures = by_name.get(name, {}).get("endpoints", {}).get(COMPARED_ENDPOINT, {})
        value = figures.get("p95_ms")
        return float(value) if isinstance(value, int | float) else None

    optimized, baseline = p95("compare-optimized"), p95("compare-baseline")
    ratio = optimized / baseline if optimized is not None and baseline else None
    return {
        "scenario": scenario.name,
        "endpoint": COMPARED_ENDPOINT,
        "users": scenario.users,
        "optimized_p95_ms": optimized,
        "baseline_p95_ms": baseline,
        "ratio": None if ratio is None else round(ratio, 4),
        "errors": {
            name: by_name[name]["error"]
            for name in ("compare-optimized", "compare-baseline")
            if name in by_name and by_name[name].get("error")
        },
    }


def new_document(run_name: str, now: datetime, kind: str = "gate") -> dict[str, Any]:
    """A gate document before any phase ran: what a --skip-* flag leaves unmeasured says so."""
    return {
        **document_head(kind, run_name, now, None),
        "phases": [],
        # Budgets on a block that was not measured fail, naming why.
        "memray": {
            "peak_heap_bytes": None,
            "per_request_bytes": None,
            "errors": ["not measured: --skip-memray"],
        },
        "microbenchmarks": [],
        "comparison": {"ratio": None, "errors": {"comparison": "not measured: --skip-baseline"}},
        "microbenchmarks_status": {"failed": None, "error": "not measured: --skip-micro"},
    }


def microbenchmarks_block(entries: list[dict[str, Any]], problem: str | None) -> dict[str, Any]:
    """The document's micro-benchmark entries and whether every one ran (and why not)."""
    return {
        "microbenchmarks": entries,
        "microbenchmarks_status": {"failed": problem is not None, "error": problem},
    }


def _point_latest(out: Path, run_dir: Path) -> None:
    link = out / "latest"
    temporary = out / f".latest-{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(run_dir.name)
    os.replace(temporary, link)


Log = Callable[[str], None]


def run_gate(options: GateOptions, log: Log = print) -> tuple[dict[str, Any], Path]:
    """Run every phase and return the judged result document and its run folder."""
    budgets = load_budgets(options.budgets)  # a malformed budget file fails before any boot
    relative = load_relative_limits(options.budgets)
    if options.base_rounds < 1:
        raise ValueError(f"--base-rounds must be >= 1, got {options.base_rounds}")
    if (options.base_env or options.head_env) and not options.base:
        raise ValueError("--base-env and --head-env need --base (they set one side's service)")
    primary, compared = options.primary(), options.comparison()
    primary.stages()  # validate overrides before booting anything
    compared.stages()
    check_workers(options.load_workers)
    base: Revision | None = None
    if options.base:  # an unknown ref or a base that does not build: before any boot
        log(f"versus base: building the service of {options.base}")
        base = replace(base_revision(options.base, log), service_env=options.base_env)
    now = datetime.now(UTC)
    run_dir = options.out / run_id(now, git("rev-parse", "HEAD") or None)
    work_dir = run_dir / "work"
    work_dir.mkdir(parents=True, exist_ok=True)
    document = new_document(run_dir.name, now)
    plans = [PhasePlan(options.profile, options.profile, options.regressions, primary, gated=True)]
    if not options.skip_pgbouncer:
        # The gated load again through PgBouncer: side by side with the gated phase.
        plans.append(
            PhasePlan(
                PGBOUNCER,
                options.profile,
                options.regressions,
                primary.with_overrides(
                    warmup_s=min(primary.warmup_s, PGBOUNCER_WARMUP_S),
                    measure_s=min(primary.measure_s, PGBOUNCER_MEASURE_S),
                ),
                gated=False,
            )
        )
    if not options.skip_saturation:
        # Not gated (its latencies are queueing by design); its own budgets read it by name.
        plans.append(
            PhasePlan(
                SATURATION,
                options.profile,
                options.regressions,
                get_scenario(SATURATION),
                gated=False,
                leak_test=True,
            )
        )
    if not options.skip_baseline:
        plans += [
            PhasePlan("compare-optimized", "optimized", frozenset(), compared, gated=False),
            PhasePlan("compare-baseline", "baseline", frozenset(), compared, gated=False),
        ]
    started = time.monotonic()
    generator = (
        f"Locust: a master and {options.load_workers} worker(s)"
        if options.load_workers
        else "Locust: one process"
    )
    log(
        f"gate {run_dir.name}: booting the capped stack ({options.replicas} replica(s)); "
        f"{generator}"
    )
    with Stack(
        profile=options.profile,
        regressions=options.regressions,
        replicas=options.replicas,
        tracing=options.tracing,
    ) as stack:
        document["environment"] = environment(stack, options.dataset, reproduce(options))
        seed_dataset(stack, options.dataset, log)
        for plan in plans:
            log(
                f"phase {plan.name}: {plan.scenario.name}, {plan.scenario.users} users, "
                f"{plan.scenario.warmup_s:g} s warm-up + {plan.scenario.measure_s:g} s measured"
            )
            through_pgbouncer = plan.name == PGBOUNCER
            try:
                if through_pgbouncer:
                    log(f"phase {plan.name}: PgBouncer before Postgres, {PGBOUNCER_POOL} backends")
                    stack.add_pgbouncer(PGBOUNCER_POOL)
                phase = run_phase(
                    stack,
                    plan,
                    work_dir=work_dir / plan.name,
                    load_workers=options.load_workers,
                    service_env=stack.through_pgbouncer() if through_pgbouncer else None,
                    traces_dir=run_dir / "traces" / plan.name,
                )
            except StackError as error:  # e.g. the service would not start: a verdict
                phase = failed_phase(plan, f"the stack could not run this phase: {error}")
            finally:
                if through_pgbouncer:
                    stack.remove_pgbouncer()
            document["phases"].append(phase)
            if phase["error"]:
                log(f"phase {plan.name}: {phase['error']}")
        if not options.skip_pgbouncer:
            document["pgbouncer"] = side_by_side(document["phases"], options.profile)
        if not options.skip_baseline:
            document["comparison"] = comparison(document["phases"], compared)
        if base is not None:
            head = Revision(
                _working_tree(),
                git("rev-parse", "HEAD") or None,
                stack.images.service,
                service_env=options.head_env,
            )
            document["versus_base"] = run_versus_base(
                stack,
                VersusBasePlan(
                    base, head, options.profile, options.regressions, rounds=options.base_rounds
                ),
                work_dir=work_dir / "versus-base",
                load_workers=options.load_workers,
                log=log,
            )
        if not options.skip_memray:
            log("memray: the service under memray run, and one uncached request in-process")
            document["memray"] = memory_phase(
                stack, options.profile, options.regressions, run_dir, log
            )
        if not options.skip_micro:
            log("micro-benchmarks: pytest-benchmark against the seeded Postgres")
            try:
                entries, problem = run_microbenchmarks(stack.postgres_url, work_dir / "micro")
            except StackError as error:
                entries, problem = [], f"no database to run against: {error}"
            document.update(microbenchmarks_block(entries, problem))
            if problem:
                log(f"micro-benchmarks: {problem}")
            if base is not None:
                document["versus_base"]["microbenchmarks"] = micro_versus_base(
                    stack.postgres_url,
                    base,
                    work_dir / "micro",
                    work_dir=work_dir / "versus-base" / "micro",
                    log=log,
                )
    skipped = dict.fromkeys(PGBOUNCER_BUDGETS, "not run: --skip-pgbouncer")
    judge(
        document,
        budgets,
        duration_s=round(time.monotonic() - started, 1),
        relative=relative,
        not_run=skipped if options.skip_pgbouncer else None,
    )
    write(run_dir / "result.json", document)
    _point_latest(options.out, run_dir)
    return document, run_dir


def _working_tree() -> str:
    """Head's name: the working tree, saying whether it differs from its commit."""
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return "working tree" + (" (uncommitted changes)" if dirty else "")
