"""``python -m benchmarks run``: the gate (what ``make bench`` runs).

Boots Postgres, Redis and the service (each capped at 1 GiB), seeds the
dataset, runs the standard scenario on the chosen profile, the optimised and
baseline services side by side at a lighter load, the memray phase and the
micro-benchmarks, then judges every budget. Writes
``reports/out/<run-id>/result.json`` (``reports/out/latest`` points at it).
Exit code: 0 when every budget held, 1 when one failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import re

from benchmarks.commands.cli import command_parser
from benchmarks.commands.endings import render_pages, stopped_by
from benchmarks.commands.gate import GateOptions, run_gate
from benchmarks.errors import BenchmarkError
from benchmarks.judge.budgets import Verdict
from benchmarks.judge.summary import (
    failure_lines,
    not_run_lines,
    unstable_lines,
    verdict_table,
    versus_base_lines,
)
from benchmarks.measure.loadgen import check_workers
from containers.interrupts import ends_cleanly_on_signals
from containers.replicas import PROFILES
from scenarios.registry import SCENARIOS
from service.regressions import parse_regressions

__all__ = ["main"]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_seconds(text: str) -> float:
    value = float(text.removesuffix("s"))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text}")
    return value


def _load_workers(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    try:
        return check_workers(workers)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _regressions(text: str) -> frozenset[str]:
    try:
        return parse_regressions(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _setting(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE with KEY a variable name, got {text!r}"
        )
    return key, value


def _parser() -> argparse.ArgumentParser:
    run = command_parser("run", __doc__, out=True, budgets=True)
    run.add_argument("--profile", choices=PROFILES, default="optimized")
    run.add_argument(
        "--regressions",
        type=_regressions,
        default=frozenset(),
        help="comma list of R1..R8 switched on in the gated phase",
    )
    run.add_argument("--scenario", choices=sorted(SCENARIOS), default="standard")
    run.add_argument("--users", type=_positive_int, help="users of the gated phase")
    run.add_argument("--warmup", type=_positive_seconds, help="warm-up seconds (gated phase)")
    run.add_argument("--measure", type=_positive_seconds, help="measured seconds (gated phase)")
    run.add_argument("--compare-users", type=_positive_int)
    run.add_argument("--compare-warmup", type=_positive_seconds)
    run.add_argument("--compare-measure", type=_positive_seconds)
    run.add_argument(
        "--skip-baseline",
        action="store_true",
        help="no optimised-vs-baseline comparison (its budget then fails)",
    )
    run.add_argument(
        "--skip-memray", action="store_true", help="no memray phase (its budgets then fail)"
    )
    run.add_argument(
        "--skip-micro", action="store_true", help="no pytest-benchmark run (its budget then fails)"
    )
    run.add_argument(
        "--skip-saturation",
        action="store_true",
        help="no closed-loop phase near the service's capacity (its budgets then fail)",
    )
    run.add_argument(
        "--skip-pgbouncer",
        action="store_true",
        help="no second run of the gated load through PgBouncer (its budgets: not run)",
    )
    run.add_argument(
        "--no-tracing",
        action="store_true",
        help="do not trace the probes' requests (the span budgets then fail)",
    )
    run.add_argument(
        "--load-workers",
        type=_load_workers,
        default=0,
        metavar="N",
        help=(
            "run Locust distributed: a master and N worker processes, whose exact samples "
            "are merged (default 0: one Locust process; at most 2 per CPU)"
        ),
    )
    run.add_argument(
        "--replicas",
        type=_positive_int,
        default=GateOptions.replicas,
        help="service replicas sharing Redis, the load balanced across them at random "
        f"(default {GateOptions.replicas}, the fix plan's production)",
    )
    run.add_argument(
        "--base",
        metavar="REF",
        help="also run this git ref's service against the working tree's in interleaved "
        "rounds, and judge head against it (the [[relative]] limits of the budgets file)",
    )
    run.add_argument(
        "--base-rounds",
        type=_positive_int,
        default=GateOptions.base_rounds,
        help="rounds of each side with --base (default: %(default)s)",
    )
    for side in ("base", "head"):
        run.add_argument(
            f"--{side}-env",
            type=_setting,
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"with --base: a setting of {side}'s service only, on top of the stack's "
            "(repeatable); e.g. the same code with and without a feature",
        )
    return run


@ends_cleanly_on_signals
def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    gate = GateOptions(
        profile=options.profile,
        regressions=options.regressions,
        scenario=options.scenario,
        users=options.users,
        warmup_s=options.warmup,
        measure_s=options.measure,
        compare_users=options.compare_users,
        compare_warmup_s=options.compare_warmup,
        compare_measure_s=options.compare_measure,
        skip_baseline=options.skip_baseline,
        skip_memray=options.skip_memray,
        skip_micro=options.skip_micro,
        skip_saturation=options.skip_saturation,
        skip_pgbouncer=options.skip_pgbouncer,
        tracing=not options.no_tracing,
        load_workers=options.load_workers,
        replicas=options.replicas,
        base=options.base,
        base_rounds=options.base_rounds,
        base_env=tuple(options.base_env),
        head_env=tuple(options.head_env),
        out=options.out,
        budgets=options.budgets,
    )
    try:
        document, run_dir = run_gate(gate, log=lambda line: print(line, flush=True))
    except (BenchmarkError, ValueError) as error:  # e.g. a malformed budgets file, a bad --base
        return stopped_by(error)
    verdicts = [Verdict.model_validate(item) for item in document["verdicts"]]
    print(verdict_table(verdicts))
    for line in unstable_lines(verdicts) + failure_lines(verdicts) + not_run_lines(verdicts):
        print(line)
    for line in versus_base_lines(document.get("versus_base")):
        print(line)
    print(f"result: {run_dir / 'result.json'}")
    written = render_pages(run_dir)
    if written:
        print(f"report: {run_dir / 'index.html'} ({len(written)} files)")
    return 0 if document["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
