"""``python -m benchmarks COMMAND [ARGS]``: every command of TasteMatch Bench.

Each command is a module of :mod:`benchmarks.commands` whose docstring is its help
(``python -m benchmarks COMMAND --help``). A command is imported only when it runs,
so ``evaluate`` never loads Locust or the containers machinery.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from typing import Protocol, cast

__all__ = ["COMMANDS", "main", "summary"]

#: Command name -> the module that runs it (its ``main(argv) -> int``).
COMMANDS = {
    "run": "benchmarks.commands.run",
    "evaluate": "benchmarks.commands.evaluate",
    "selftest": "benchmarks.commands.selftest",
    "oom": "benchmarks.commands.oom",
    "capacity": "benchmarks.commands.capacity",
    "faults": "benchmarks.commands.faults",
}


class _Command(Protocol):
    def main(self, argv: list[str] | None = None) -> int: ...


def summary(name: str) -> str:
    """The first line of a command's docstring, read without importing the command."""
    spec = importlib.util.find_spec(COMMANDS[name])
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as source:
        doc = ast.get_docstring(ast.parse(source.read())) or ""
    first = doc.splitlines()[0] if doc else ""
    # "``python -m benchmarks oom``: watch ..." -> "watch ..."
    text = first.split(": ", 1)[1] if first.startswith("``") and ": " in first else first
    return text.replace("``", "")


def _usage() -> str:
    lines = ["usage: python -m benchmarks COMMAND [ARGS]  (COMMAND --help for its options)", ""]
    width = max(len(name) for name in COMMANDS)
    lines += [f"  {name.ljust(width)}  {summary(name)}" for name in COMMANDS]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the named command; 2 (with the usage) for a missing or unknown one."""
    arguments = sys.argv[1:] if argv is None else argv
    if not arguments or arguments[0] in ("-h", "--help"):
        print(_usage(), file=sys.stdout if arguments else sys.stderr)
        return 0 if arguments else 2
    name, rest = arguments[0], arguments[1:]
    if name not in COMMANDS:
        print(_usage(), file=sys.stderr)
        print(
            f"\nerror: unknown command {name!r}; expected one of {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    command = cast(_Command, importlib.import_module(COMMANDS[name]))
    return command.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
