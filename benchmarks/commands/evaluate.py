"""``python -m benchmarks evaluate``: re-judge saved results, without booting anything.

Usage: ``python -m benchmarks evaluate RESULT [RESULT ...] [--budgets budgets.toml]``
where RESULT is a ``result.json`` or a run folder. Prints the verdict table and
every failure; with several results, also the spread of each measured value
across them. Exit code: 0 when every budget held in every result, 1 when one
failed, 2 when an input could not be read.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.commands.cli import command_parser
from benchmarks.judge.budgets import BudgetError, Verdict, evaluate, load_budgets
from benchmarks.judge.relative import judge_versus_base, load_relative_limits
from benchmarks.judge.result import ResultError, load_result
from benchmarks.judge.summary import (
    failure_lines,
    spread_lines,
    unstable_lines,
    verdict_table,
    versus_base_lines,
)

__all__ = ["main"]


def _stored_differences(stored: object, fresh: list[Verdict]) -> list[str]:
    if not isinstance(stored, list):
        return []
    before = {
        (item.get("budget"), item.get("phase")): item.get("passed")
        for item in stored
        if isinstance(item, dict)
    }
    return [
        f"{verdict.budget} [{verdict.phase or '-'}]: stored "
        f"{'pass' if before.get((verdict.budget, verdict.phase)) else 'fail/absent'}, "
        f"now {'pass' if verdict.passed else 'fail'}"
        for verdict in fresh
        if before.get((verdict.budget, verdict.phase)) is not verdict.passed
    ]


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("evaluate", __doc__, budgets=True)
    parser.add_argument("results", nargs="+", type=Path, help="result.json files or run folders")
    options = parser.parse_args(argv)
    try:
        budgets = load_budgets(options.budgets)
        relative = load_relative_limits(options.budgets)
        documents = [(path, load_result(path)) for path in options.results]
    except (BudgetError, ResultError) as error:  # on stdout, where the verdicts would be
        print(f"error: {error}")
        return 2
    runs: list[list[Verdict]] = []
    failed_relative = False
    for path, document in documents:
        verdicts = evaluate(document, budgets)
        runs.append(verdicts)
        print(f"== {path} (run {document.get('run_id')})")
        print(verdict_table(verdicts))
        for line in unstable_lines(verdicts) + failure_lines(verdicts):
            print(line)
        versus = document.get("versus_base")
        if isinstance(versus, dict):  # a base-vs-head run: its relative limits, judged anew
            verdicts_vs = judge_versus_base(versus, relative)
            for line in versus_base_lines({**versus, "verdicts": verdicts_vs}):
                print(line)
            relative_failed = not all(verdict["passed"] for verdict in verdicts_vs)
            failed_relative = failed_relative or relative_failed or bool(versus.get("errors"))
        changed = _stored_differences(document.get("verdicts"), verdicts)
        if changed:
            print("verdicts differ from those stored in the document:")
            for line in changed:
                print(f"  {line}")
    if len(runs) > 1:
        print("== spread across runs ((max - min) / median)")
        for line in spread_lines(runs):
            print(line)
    held = all(verdict.passed for verdicts in runs for verdict in verdicts)
    return 0 if held and not failed_relative else 1


if __name__ == "__main__":
    raise SystemExit(main())
