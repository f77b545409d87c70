"""The parser every command starts from: its name, its module's docstring as its help, and
the options several commands share, each with one meaning and one default."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.judge.budgets import DEFAULT_BUDGETS

__all__ = ["REPORTS_OUT", "command_parser"]

#: Where a command writes its run folder unless ``--out`` names another.
REPORTS_OUT = Path(__file__).resolve().parents[2] / "reports" / "out"


def command_parser(
    name: str, doc: str | None, *, out: bool = False, budgets: bool = False
) -> argparse.ArgumentParser:
    """The parser of ``python -m benchmarks NAME``, ``doc`` (the command module's docstring)
    its description with its line breaks kept.

    ``out`` adds ``--out`` (the reports folder, default ``reports/out``); ``budgets`` adds
    ``--budgets`` (the budgets file, default ``benchmarks/budgets.toml``).
    """
    parser = argparse.ArgumentParser(
        prog=f"python -m benchmarks {name}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if out:
        parser.add_argument("--out", type=Path, default=REPORTS_OUT, help="reports folder")
    if budgets:
        parser.add_argument("--budgets", type=Path, default=DEFAULT_BUDGETS, help="budgets file")
    return parser
