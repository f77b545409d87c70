"""Command line: ``python -m reports render <run dir | document> [--base <run | json>]``."""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

from reports._document import ReportError
from reports._render import render_run

__all__ = ["Render", "main"]


class Render:
    """Render a run's report into its folder, from its document alone.

    A gate, OOM or faults run's result.json gets index.html, summary.md and junit.xml;
    selftest.json gets selftest.md and selftest.html; capacity.json gets capacity.md
    and capacity.html. No containers, no network. With --base (gate runs), every
    figure also shows its delta against that run, marked "within noise" where it is.
    """

    name = "render"

    @staticmethod
    def prepare(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "run", type=Path, help="run folder, or its result.json, selftest.json or capacity.json"
        )
        parser.add_argument(
            "--base", type=Path, default=None, help="run folder or result.json to compare against"
        )

    @staticmethod
    def run(arguments: argparse.Namespace) -> int:
        written = render_run(arguments.run, base=arguments.base)
        for path in written:
            print(path)
        return 0


_COMMANDS = (Render,)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reports", description="TasteMatch Bench reports."
    )
    verbs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        doc = command.__doc__ or ""
        sub = verbs.add_parser(
            command.name,
            help=doc.splitlines()[0],
            description=inspect.cleandoc(doc),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.prepare(sub)
        sub.set_defaults(handler=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; 0 on success, 2 for bad usage or a missing/invalid document."""
    try:
        arguments = _parser().parse_args(argv)
    except SystemExit as exit_:
        # argparse has already printed the usage and the problem.
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        code: int = arguments.handler(arguments)
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
