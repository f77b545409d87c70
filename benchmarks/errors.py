"""The suite's errors: one root, each class carrying the exit code its command ends with.

A command that stops on a :class:`BenchmarkError` ends through
:func:`benchmarks.commands.endings.stopped_by`, which prints ``error: <message>`` and
returns the error's :attr:`~BenchmarkError.exit_code`:

- :class:`InputError` (2): an input the command was given or reads is malformed or names
  nothing (a flag, ``budgets.toml``, a git ref, a span file). It is a ``ValueError`` too,
  so ``except ValueError`` still catches it.
- :class:`RunError` (1): the run itself could not do what was asked. It is a
  ``RuntimeError`` too.

Each module keeps its own subclass (``BudgetError``, ``RevisionError``, ...), whose
message says what was wrong and where.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["BenchmarkError", "InputError", "RunError"]


class BenchmarkError(Exception):
    """Root of the suite's errors: a command stopped, with :attr:`exit_code`."""

    #: What the command exits with when this error stops it.
    exit_code: ClassVar[int] = 1


class InputError(BenchmarkError, ValueError):
    """Bad input: the message names the input and what is wrong with it (exit code 2)."""

    exit_code = 2


class RunError(BenchmarkError, RuntimeError):
    """The run could not do what was asked; the message says why (exit code 1)."""

    exit_code = 1
