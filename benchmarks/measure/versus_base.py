"""Base vs head in one run: interleaved rounds of one load, each from the same rows.

Why this design: both revisions run on the same stack (the same Postgres and Redis
containers, the same machine, minutes apart), so the machine's drift and noise reach
both. Rounds alternate in pairs whose order flips (base head, head base, base head, ...),
so a slow trend favours neither side. Before every round the database is restored from a
snapshot of the seeded dataset and Redis is emptied: no round inherits the orders,
accounts or cache entries of another. Each round is a gated phase (load, memory
sampling, probes), so every figure the absolute budgets read exists per round; the
requests' latencies are kept raw, pooled per side, for the significance tests in
:mod:`benchmarks.judge.relative`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure.micro import MICRO_JSON, round_times_ms, run_microbenchmarks
from benchmarks.measure.phase_entry import failed_phase
from benchmarks.measure.phases import PhasePlan, run_phase
from benchmarks.measure.revisions import Revision, RevisionError, exported
from benchmarks.measure.samples import read_samples
from containers.errors import StackError
from containers.stack import Stack
from scenarios.registry import Scenario, get_scenario

__all__ = [
    "ROUND_SCENARIO",
    "VersusBasePlan",
    "block",
    "micro_versus_base",
    "round_entry",
    "round_order",
    "run_round",
    "run_versus_base",
]

#: Each round's load: the standard mix, shorter than the gated phase (rounds add up).
#: 10 s of warm-up as in the gated phase: the diners' logins (spawned over its first half)
#: end by about 7 s.
ROUND_SCENARIO = get_scenario("standard").with_overrides(warmup_s=10, measure_s=20)
#: The figures of a round's phase entry kept in the document (what relative limits read).
_KEPT = ("endpoints", "containers", "cache", "sql_probe", "work_probe", "load_generator")


@dataclass(frozen=True)
class VersusBasePlan:
    """What a base-vs-head run compares, and how long."""

    base: Revision
    head: Revision
    profile: str
    regressions: frozenset[str]
    rounds: int = 3
    scenario: Scenario = ROUND_SCENARIO


def round_order(rounds: int) -> list[str]:
    """``rounds`` runs of each side in pairs of alternating order: base head head base ..."""
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    order: list[str] = []
    for index in range(rounds):
        order += ["base", "head"] if index % 2 == 0 else ["head", "base"]
    return order


def _pairs(rounds: list[tuple[str, str]]) -> list[dict[str, str]]:
    """``[{"base": name, "head": name}, ...]`` of the rounds taken two by two."""
    pairs = []
    for first, second in zip(rounds[::2], rounds[1::2], strict=False):
        named = dict([first, second])
        if set(named) == {"base", "head"}:
            pairs.append(named)
    return pairs


def _measured_latencies(phase: dict[str, Any], samples_dir: Path) -> dict[str, list[float]]:
    """Per endpoint, every response time (ms) of the round's measured window."""
    started = phase.get("started_at")
    if started is None or not samples_dir.is_dir():
        return {}
    start = float(started) + float(phase["warmup_s"])
    window = read_samples(samples_dir).between(start, start + float(phase["measure_s"]))
    return {
        endpoint: np.round(window.response_ms[window.endpoint == endpoint], 3).tolist()
        for endpoint in sorted(set(window.endpoint.tolist()))
    }


def round_entry(phase: dict[str, Any], side: str, revision: Revision) -> dict[str, Any]:
    entry = {
        "name": phase["name"],
        "side": side,
        "commit": revision.commit,
        "service_image": revision.service_image,
        "error": phase.get("error"),
        **{key: phase.get(key) or {} for key in _KEPT},
    }
    for figures in entry["endpoints"].values():  # the report does not chart per round
        for key in ("p95_ms_windows", "p99_ms_windows"):
            figures.pop(key, None)
    return entry


def run_round(
    stack: Stack,
    name: str,
    revision: Revision,
    plan: PhasePlan,
    *,
    work_dir: Path,
    load_workers: int = 0,
    log: Callable[[str], None] = print,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """One round from the seeded rows: its phase and, per endpoint, its measured latencies."""
    began = time.monotonic()
    try:
        stack.restore_database()
        phase = run_phase(
            stack,
            plan,
            work_dir=work_dir / name,
            load_workers=load_workers,
            service_image=revision.service_image,
            service_env=dict(revision.service_env),
        )
    except StackError as error:
        phase = failed_phase(plan, f"the stack could not run this round: {error}")
    log(f"versus base: {name} done in {time.monotonic() - began:.0f} s")
    if phase.get("error"):
        log(f"versus base: {name}: {phase['error']}")
    return phase, _measured_latencies(phase, work_dir / name / "samples")


def block(
    base: Revision,
    head: Revision,
    scenario: Scenario,
    rounds: list[dict[str, Any]],
    latencies: dict[str, dict[str, list[float]]],
) -> dict[str, Any]:
    """The ``versus_base`` block (not yet judged) of ``rounds`` in the order they ran."""
    return {
        "base": {
            "ref": base.ref,
            "commit": base.commit,
            "image": base.service_image,
            "env": base.env_text(),
        },
        "head": {
            "ref": head.ref,
            "commit": head.commit,
            "image": head.service_image,
            "env": head.env_text(),
        },
        "same_image": base.service_image == head.service_image,
        "scenario": scenario.name,
        "users": scenario.users,
        "warmup_s": scenario.warmup_s,
        "measure_s": scenario.measure_s,
        "order": [entry["name"] for entry in rounds],
        # Consecutive base/head rounds: each pair's ratio says whether the rounds agree.
        "pairs": _pairs([(entry["side"], entry["name"]) for entry in rounds]),
        "rounds": rounds,
        "samples": {entry["name"]: latencies.get(entry["name"], {}) for entry in rounds},
        "errors": [f"{entry['name']}: {entry['error']}" for entry in rounds if entry["error"]],
        "verdicts": [],
        "passed": None,
    }


def run_versus_base(
    stack: Stack,
    plan: VersusBasePlan,
    *,
    work_dir: Path,
    load_workers: int = 0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the interleaved rounds; the document's ``versus_base`` block (not yet judged)."""
    sides = {"base": plan.base, "head": plan.head}
    #: Per round, per endpoint: the measured window's response times (ms).
    latencies: dict[str, dict[str, list[float]]] = {}
    rounds: list[dict[str, Any]] = []
    stack.snapshot_database()
    count = {"base": 0, "head": 0}
    order = round_order(plan.rounds)
    for position, side in enumerate(order, start=1):
        count[side] += 1
        revision = sides[side]
        name = f"{side}-{count[side]}"
        phase_plan = PhasePlan(name, plan.profile, plan.regressions, plan.scenario, gated=True)
        log(
            f"versus base: round {position}/{len(order)}, {name} "
            f"({revision.ref}, {revision.service_image})"
        )
        phase, latencies[name] = run_round(
            stack, name, revision, phase_plan, work_dir=work_dir, load_workers=load_workers, log=log
        )
        rounds.append(round_entry(phase, side, revision))
    # The phases after this one find the seeded rows, not the last round's.
    stack.restore_database()
    return block(plan.base, plan.head, plan.scenario, rounds, latencies)


def micro_versus_base(
    database_url: str,
    base: Revision,
    head_dir: Path,
    *,
    work_dir: Path,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The base revision's micro-benchmarks beside head's: the block's ``microbenchmarks``.

    Head's first run is the gate's own (already in ``head_dir``); then base runs twice
    from its exported tree and head once more, against ``database_url``: head, base,
    base, head. Each run is a pair's side (``micro-base-1`` with ``micro-head-1``,
    ``micro-base-2`` with ``micro-head-2``), so a slow spell of the machine that reaches
    one run (the containers of the phase before settling, for one) makes one pair, not
    both, see a difference, and the latency limits' rule that every pair must see head
    slower by more than the ratio keeps it from failing the gate. Measured: an A/A run
    whose first head run overlapped the memray phase's teardown saw its medians x1.5-1.9
    those of base.
    """
    log(f"micro-benchmarks: those of {base.ref}, from its own tree, twice; then head's again")
    problems: list[str] = []
    entries: list[dict[str, Any]] = []
    try:
        if base.commit is None:
            raise RevisionError(f"{base.ref} names no commit")
        with exported(base.commit) as tree:
            for number in (1, 2):
                run_entries, problem = run_microbenchmarks(
                    database_url, work_dir / f"micro-base-{number}", root=tree
                )
                entries = entries or run_entries
                if problem:
                    problems.append(f"micro-benchmarks of the base (run {number}): {problem}")
    except RevisionError as error:
        problems.append(f"micro-benchmarks of the base: {error}")
    _, problem = run_microbenchmarks(database_url, work_dir / "micro-head-2")
    if problem:
        problems.append(f"micro-benchmarks of head (run 2): {problem}")
    for problem in problems:
        log(problem)
    return {
        "base": entries,
        "samples": {
            "micro-base-1": round_times_ms(work_dir / "micro-base-1" / MICRO_JSON),
            "micro-head-1": round_times_ms(head_dir / MICRO_JSON),
            "micro-base-2": round_times_ms(work_dir / "micro-base-2" / MICRO_JSON),
            "micro-head-2": round_times_ms(work_dir / "micro-head-2" / MICRO_JSON),
        },
        "pairs": [
            {"base": "micro-base-1", "head": "micro-head-1"},
            {"base": "micro-base-2", "head": "micro-head-2"},
        ],
        "errors": problems,
    }
