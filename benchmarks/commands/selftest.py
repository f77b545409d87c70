"""``python -m benchmarks selftest``: prove the gate fails on every historical regression.

For each of R1..R8 the gate's budgets judge a short phase run with only that
regression switched on; the case is *caught* when at least one of the budgets
that the design names for it fails on a real measurement. The optimised
profile must pass every budget the self-test measures. One Postgres is booted
and seeded once; between cases only the service replicas are restarted (R6
restarts Postgres untuned, R7 runs two replicas).

Then the mutants (:mod:`benchmarks.commands.mutations`): code changes nobody wrote a switch
for, each applied to a copy of HEAD and judged against HEAD as ``make bench
BASE=HEAD`` judges a change; each must fail the budget named for it, and HEAD
against itself (A/A) must pass.

Budgets the self-test does not measure (the memray heap under load, the
optimised-vs-baseline comparison, the micro-benchmarks) are listed as not
measured for every case; they cannot catch anything here. A case whose expected
budget was not measured counts as not caught.

Writes ``reports/out/<run-id>-selftest/selftest.json`` (sorted keys),
``selftest.md`` and ``selftest.html``. Exit code: 0 when every regression and
mutant was caught and both controls passed, 1 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docker.errors import DockerException

from benchmarks.commands.cli import command_parser
from benchmarks.commands.endings import render_pages, stopped_by
from benchmarks.commands.mutations import (
    CONTROL,
    MUTANTS,
    Mutant,
    MutantResult,
    check_patches,
    run_mutants,
)
from benchmarks.errors import BenchmarkError
from benchmarks.judge.budgets import DEFAULT_BUDGETS, Budget, load_budgets
from benchmarks.judge.cases import (
    CASES,
    RUN_ORDER,
    Case,
    CaseResult,
    judge_case,
)
from benchmarks.judge.relative import RelativeLimit, load_relative_limits
from benchmarks.measure.environment import Dataset, document_head, environment, run_id, seed_dataset
from benchmarks.measure.memory import request_allocation
from benchmarks.measure.phase_entry import failed_phase
from benchmarks.measure.phases import PhasePlan, run_phase
from containers.errors import StackError
from containers.interrupts import ends_cleanly_on_signals
from containers.stack import Stack
from results import SelftestDocument, validate, write
from scenarios.registry import get_scenario

__all__ = [
    "SELFTEST_LOAD",
    "checked_document",
    "main",
    "matrix_table",
    "rejudge",
    "run_selftest",
    "select_cases",
    "selftest_document",
]

ROOT = Path(__file__).resolve().parents[2]

#: The load of every case: short, but long enough that each verdict is unambiguous
#: (the optimised service holds 50 users for a minute with wide margins).
SELFTEST_LOAD = get_scenario("standard").with_overrides(users=15, warmup_s=8, measure_s=20)


def _status(result: CaseResult | MutantResult) -> str:
    control = result.case.is_control if isinstance(result, CaseResult) else result.mutant.is_control
    if control:
        return "passed" if result.ok else "FAILED"
    return "yes" if result.ok else "NO"


Log = Callable[[str], None]


def _run_case(
    stack: Stack, case: Case, work_dir: Path, log: Log
) -> tuple[dict[str, Any], str | None]:
    """Boot ``case`` on ``stack``, run its phase; the document to judge and the phase error."""
    plan = PhasePlan(case.name, "optimized", case.regressions, SELFTEST_LOAD, gated=True)
    stack.replicas = case.replicas  # restart_services starts this many replicas
    try:
        phase = run_phase(stack, plan, work_dir=work_dir / case.name)
    except StackError as error:
        phase = failed_phase(plan, f"the stack could not run this phase: {error}")
    document: dict[str, Any] = {"phases": [phase], "memray": {"per_request_bytes": None}}
    if case.request_allocation:
        try:
            document["memray"] = request_allocation(
                stack.postgres_url,
                stack.redis_url,
                profile="optimized",
                regressions=case.regressions,
            )
        except Exception as error:  # the app's own failure is recorded, not a crash
            document["memray"]["errors"] = [f"{type(error).__name__}: {error}"]
            log(f"{case.name}: per-request allocation not measured: {error}")
    return document, phase["error"]


def run_selftest(
    out: Path = ROOT / "reports" / "out",
    *,
    budgets_path: Path = DEFAULT_BUDGETS,
    cases: Sequence[Case] = CASES,
    mutants: Sequence[Mutant] = (CONTROL, *MUTANTS),
    dataset: Dataset | None = None,
    log: Log = print,
) -> tuple[dict[str, Any], list[CaseResult], list[MutantResult], Path]:
    """Run every case, then every mutant, on one stack; return the self-test document, the
    results and its folder."""
    budgets = load_budgets(budgets_path)
    relative = load_relative_limits(budgets_path)
    dataset = dataset or Dataset()
    SELFTEST_LOAD.stages()
    now = datetime.now(UTC)
    started = time.monotonic()
    order = {name: index for index, name in enumerate(RUN_ORDER)}
    results: list[CaseResult] = []
    mutant_results: list[MutantResult] = []
    log(f"self-test: booting the capped stack, {len(cases)} case(s), {len(mutants)} mutant(s)")
    with Stack(profile="optimized", tracing=True) as stack:
        env = environment(stack, dataset, "python -m benchmarks selftest")
        run_dir = out / (run_id(now, env["commit"]) + "-selftest")
        work_dir = run_dir / "work"
        work_dir.mkdir(parents=True, exist_ok=True)
        seed_dataset(stack, dataset, log)
        if mutants:  # the rows every mutant round starts from, before any case adds some
            stack.snapshot_database()
        for case in sorted(cases, key=lambda c: order.get(c.name, len(order))):
            if case.name == _POSTGRES_UNTUNED and mutants and not mutant_results:
                mutant_results = _run_mutants(stack, mutants, budgets, relative, work_dir, log)
            case_began = time.monotonic()
            log(f"case {case.name}: {case.description} ({case.replicas} replica(s))")
            document, error = _run_case(stack, case, work_dir, log)
            result = judge_case(
                case,
                document,
                budgets,
                error=error,
                duration_s=round(time.monotonic() - case_began, 1),
            )
            results.append(result)
            log(
                f"case {case.name}: failed {', '.join(result.failed) or 'nothing'} -> "
                f"{_status(result)} ({result.duration_s:g} s)"
            )
        if mutants and not mutant_results:
            mutant_results = _run_mutants(stack, mutants, budgets, relative, work_dir, log)
    document = selftest_document(
        results,
        mutant_results,
        head=document_head("selftest", run_dir.name, now, env),
        duration_s=round(time.monotonic() - started, 1),
    )
    write(run_dir / "selftest.json", document)
    render_pages(run_dir)
    return document, results, mutant_results, run_dir


def selftest_document(
    results: Sequence[CaseResult],
    mutant_results: Sequence[MutantResult] = (),
    *,
    head: dict[str, Any] | None = None,
    duration_s: float | None = None,
) -> dict[str, Any]:
    """``selftest.json``: every case and mutant judged, and the tallies."""
    regressions = [r for r in results if not r.case.is_control]
    return {
        **(head or document_head("selftest", "", datetime.now(UTC), {})),
        "load": {
            "scenario": SELFTEST_LOAD.name,
            "users": SELFTEST_LOAD.users,
            "warmup_s": SELFTEST_LOAD.warmup_s,
            "measure_s": SELFTEST_LOAD.measure_s,
        },
        "cases": [result.to_json() for result in results],
        "caught": sum(r.ok for r in regressions),
        "regressions": len(regressions),
        "optimized_passed": all(r.ok for r in results if r.case.is_control),
        "mutants": _mutants_block(mutant_results),
        "passed": all(r.ok for r in results) and all(r.ok for r in mutant_results),
        "duration_s": duration_s,
    }


def checked_document(document: dict[str, Any]) -> SelftestDocument:
    """``document`` checked against the self-test's model (what the reports render)."""
    checked = validate(document, "selftest.json")
    if not isinstance(checked, SelftestDocument):
        raise ValueError(f"selftest.json: a {checked.kind} document, not a self-test's")
    return checked


def matrix_table(results: Sequence[CaseResult], mutant_results: Sequence[MutantResult] = ()) -> str:
    """The matrix as an aligned terminal table, with a closing tally."""
    from reports import selftest_table

    return selftest_table(checked_document(selftest_document(results, mutant_results)))


#: The case that restarts Postgres untuned: the mutants run before it.
_POSTGRES_UNTUNED = "R6"


def _run_mutants(
    stack: Stack,
    mutants: Sequence[Mutant],
    budgets: Sequence[Budget],
    relative: Sequence[RelativeLimit],
    work_dir: Path,
    log: Log,
) -> list[MutantResult]:
    log(f"mutants: {len(mutants)} variant(s) of HEAD, each judged against HEAD")
    results = run_mutants(stack, mutants, budgets, relative, work_dir=work_dir / "mutants", log=log)
    for result in results:
        log(
            f"mutant {result.mutant.name}: failed {', '.join(result.failed) or 'nothing'} -> "
            f"{_status(result)}"
        )
    return results


def _mutants_block(results: Sequence[MutantResult]) -> dict[str, Any] | None:
    if not results:
        return None
    changes = [r for r in results if not r.mutant.is_control]
    return {
        "results": [result.to_json() for result in results],
        "caught": sum(r.ok for r in changes),
        "mutants": len(changes),
        "control_passed": all(r.ok for r in results if r.mutant.is_control),
    }


def rejudge(path: Path, budgets_path: Path = DEFAULT_BUDGETS) -> list[CaseResult]:
    """Judge the cases recorded in a ``selftest.json`` again (no containers needed)."""
    budgets = load_budgets(budgets_path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        entries = document["cases"]
        known = {case.name: case for case in CASES}
        return [
            judge_case(
                known[entry["case"]],
                entry["document"],
                budgets,
                error=entry.get("error"),
                duration_s=entry.get("duration_s"),
            )
            for entry in entries
        ]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a self-test document ({error!r})") from None


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("selftest", __doc__, out=True, budgets=True)
    parser.add_argument(
        "--cases",
        default="",
        help="comma list of cases to run (optimized, R1..R8, and mutants by name, or "
        "'mutants' for all of them); default: all",
    )
    parser.add_argument(
        "--rejudge",
        type=Path,
        metavar="SELFTEST_JSON",
        help="judge a recorded selftest.json again and print its matrix (boots nothing)",
    )
    return parser


def select_cases(text: str) -> tuple[Case, ...]:
    """The cases named in ``text`` (all when empty); ``ValueError`` names an unknown one."""
    return select(text)[0]


def select(text: str) -> tuple[tuple[Case, ...], tuple[Mutant, ...]]:
    """The cases and mutants named in ``text`` (all when empty; ``mutants``: every mutant).

    The A/A control runs whenever a mutant does. ``ValueError`` names an unknown name.
    """
    given = [item.strip() for item in text.split(",") if item.strip()]
    names = [name.lower() for name in given]
    if not names:
        return CASES, (CONTROL, *MUTANTS)
    known = {case.name.lower(): case for case in CASES}
    changes = {mutant.name: mutant for mutant in MUTANTS}
    every = "mutants"
    unknown = [
        name
        for name in given
        if name.lower() not in known and name.lower() not in changes and name.lower() != every
    ]
    if unknown:
        raise ValueError(
            f"unknown case(s) {', '.join(unknown)}; expected some of "
            f"{', '.join([*(case.name for case in CASES), every, *changes])}"
        )
    mutants = MUTANTS if every in names else tuple(changes[n] for n in names if n in changes)
    return (
        tuple(known[name] for name in names if name in known),
        (CONTROL, *mutants) if mutants else (),
    )


@ends_cleanly_on_signals
def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    try:
        if options.rejudge is not None:
            results = rejudge(options.rejudge, options.budgets)
            print(matrix_table(results))
            return 0 if all(result.ok for result in results) else 1
        cases, mutants = select(options.cases)
        if mutants:  # a patch that no longer applies: before anything boots
            check_patches(ROOT, [m for m in mutants if m.patch is not None])
        document, results, mutant_results, run_dir = run_selftest(
            options.out,
            budgets_path=options.budgets,
            cases=cases,
            mutants=mutants,
            log=lambda line: print(line, flush=True),
        )
    except (BenchmarkError, ValueError, StackError, DockerException) as error:
        return stopped_by(error)
    try:
        print(matrix_table(results, mutant_results))
    except ValueError as error:  # selftest.json holds every figure; only the table is missing
        print(f"matrix: not rendered ({error})")
    print(f"wall time: {document['duration_s']:g} s")
    print(f"self-test: {run_dir / 'selftest.html'}")
    return 0 if document["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
