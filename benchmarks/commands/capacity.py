"""``python -m benchmarks capacity``: the real capacity of each profile, under an open model.

On one capped stack, three ladders of constant arrival rates (``scenarios.open_model``:
arrivals are queued at their due times and never dropped; latency counts from the due
time, so a queue in front of the service is in it):

- ``optimized``: cached ``GET /api/recommendations`` (64 logged-in diners), rates
  anchored on ``X0``, the throughput of a 10 s closed-loop warm-up: X0 x 0.5, 0.7, 0.85,
  1.0, 1.1, 1.2, 1.35, 1.5, 1.75, 2.0, 2.5;
- ``live``: ``GET /health/live`` on the same optimised service (no I/O at all), anchored
  on its own warm-up: the ceiling of the service's HTTP overhead;
- ``baseline``: the pre-fix service at 0.1, 0.2, 0.3 requests/s (it needs seconds per
  request and is OOM-killed serving two at once).

Each step runs ``--step`` seconds; its first ``--settle`` seconds are left out of its
figures. A step *breaks* on any of: p95 (from the due time) above the
``recommendations_p95`` budget; any failed request; fewer than 97 % of its arrivals
answered; more than ``rate x 0.25 s`` arrivals waiting for a user at its end; the service's
working set at 95 % of its cap, or an OOM kill (:mod:`benchmarks.judge.ladder`). The ladder
stops at the first broken step. The ``optimized`` and ``live`` ladders then narrow their
limit: a second run (the service restarted, as for every ladder) steps at a quarter, half
and three quarters of the way from the highest held rate to the first broken one, and
stops at its first broken step. The *capacity* is the highest rate held below the lowest
broken one: its sustained requests/s, the users in flight there (Little's law) and the
pool of users. A limit found where the load generator was the bottleneck makes the
capacity a bound (``>=``).

Writes ``reports/out/<run-id>-capacity/`` (``capacity.json`` with sorted keys,
``capacity.md``, ``capacity.html``) with both capacities, their ratio, and cached
recommendations' ceiling as a fraction of ``/health/live``'s (goal >= 0.8). Exit code 0
when every ladder ran, 1 when one could not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from docker.errors import DockerException

from benchmarks.commands.cli import command_parser
from benchmarks.commands.endings import render_pages, stopped_by
from benchmarks.errors import BenchmarkError
from benchmarks.judge.budgets import DEFAULT_BUDGETS, load_budgets
from benchmarks.judge.ladder import (
    Ladder,
    comparisons,
)
from benchmarks.measure.environment import Dataset, document_head, environment, run_id, seed_dataset
from benchmarks.measure.ladders import SETTLE_S, STEP_S, Target, refined, run_ladder, targets
from containers.errors import StackError
from containers.interrupts import ends_cleanly_on_signals
from containers.stack import Stack
from results import write

__all__ = ["capacity_document", "main", "run_capacity"]

ROOT = Path(__file__).resolve().parents[2]

Log = Callable[[str], None]


def _p95_limit(budgets_path: Path) -> float:
    for budget in load_budgets(budgets_path):
        if budget.name == "recommendations_p95":
            return budget.limit
    raise ValueError(f"{budgets_path}: no recommendations_p95 budget")


def capacity_document(
    head: Mapping[str, Any],
    ladders: Sequence[Ladder],
    runs: Mapping[str, Any],
    *,
    duration_s: float,
) -> dict[str, Any]:
    """``capacity.json``: every ladder, the Locust run behind each, and the comparisons."""
    return {
        **head,
        "curves": [],
        "ladders": [ladder.to_json() for ladder in ladders],
        "ladder_runs": dict(runs),
        "comparisons": [asdict(item) for item in comparisons(ladders)],
        "duration_s": round(duration_s, 1),
    }


def run_capacity(
    out: Path = ROOT / "reports" / "out",
    *,
    ladders: Sequence[Target],
    budgets_path: Path = DEFAULT_BUDGETS,
    dataset: Dataset | None = None,
    reproduce: str = "python -m benchmarks capacity",
    log: Log = print,
) -> tuple[dict[str, Any], list[Ladder], Path]:
    """Run each ladder on one stack, in order; write the run folder."""
    p95_limit = _p95_limit(budgets_path)
    dataset = dataset or Dataset()
    now = datetime.now(UTC)
    started = time.monotonic()
    results: list[Ladder] = []
    details: dict[str, Any] = {}
    with Stack(profile="optimized") as stack:
        env = environment(stack, dataset, reproduce)
        run_dir = out / (run_id(now, env["commit"]) + "-capacity")
        seed_dataset(stack, dataset, log)
        for target in ladders:
            try:
                work_dir = run_dir / "work" / target.key
                ladder, detail = run_ladder(stack, target, work_dir, p95_limit, log)
                ladder, narrowing = refined(
                    stack, target, ladder, run_dir / "work" / f"{target.key}-refine", p95_limit, log
                )
                if narrowing is not None:
                    detail = {**detail, "refinement": narrowing}
            except StackError as error:
                ladder = Ladder(
                    target.key, target.profile, target.endpoint, None, (), p95_limit, str(error)
                )
                detail = {"error": str(error)}
            results.append(ladder)
            details[target.key] = detail
    document = capacity_document(
        document_head("capacity", run_dir.name, now, env),
        results,
        details,
        duration_s=time.monotonic() - started,
    )
    write(run_dir / "capacity.json", document)
    render_pages(run_dir)
    return document, results, run_dir


def _parser() -> argparse.ArgumentParser:
    parser = command_parser("capacity", __doc__, out=True)
    parser.add_argument("--step", type=float, default=STEP_S, help="seconds per step")
    parser.add_argument(
        "--settle", type=float, default=SETTLE_S, help="seconds of each step left out"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma list of ladders to run (optimized, live, baseline; default: all three)",
    )
    return parser


def _chosen(only: str, step_s: float, settle_s: float) -> tuple[Target, ...]:
    every = targets(step_s, settle_s)
    if not only:
        return every
    names = [name.strip() for name in only.split(",") if name.strip()]
    known = {target.key for target in every}
    unknown = sorted(set(names) - known)
    if unknown or not names:
        raise ValueError(f"--only: unknown ladder(s) {unknown} (known: {', '.join(sorted(known))})")
    return tuple(target for target in every if target.key in names)


@ends_cleanly_on_signals
def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    reproduce = "python -m benchmarks capacity"
    if options.step != STEP_S or options.settle != SETTLE_S:
        reproduce += f" --step {options.step:g} --settle {options.settle:g}"
    if options.only:
        reproduce += f" --only {options.only}"
    try:
        if options.step <= 0:
            raise ValueError(f"--step must be > 0, got {options.step:g}")
        chosen = _chosen(options.only, options.step, options.settle)
        document, ladders, run_dir = run_capacity(
            options.out,
            ladders=chosen,
            reproduce=reproduce,
            log=lambda line: print(line, flush=True),
        )
    except (BenchmarkError, ValueError, StackError, DockerException) as error:
        return stopped_by(error)
    markdown = run_dir / "capacity.md"
    if markdown.is_file():
        print(markdown.read_text(encoding="utf-8"))
    print(f"capacity: {run_dir / 'capacity.html'} ({document['duration_s']:g} s)")
    return 0 if all(ladder.steps for ladder in ladders) else 1


if __name__ == "__main__":
    raise SystemExit(main())
