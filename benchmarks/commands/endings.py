"""How a command ends: its pages rendered from the document it wrote, or why it stopped,
and its exit code."""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.errors import BenchmarkError

__all__ = ["render_pages", "stopped_by"]


def stopped_by(error: Exception) -> int:
    """Print why a command stopped (one ``error:`` line on stderr); return its exit code.

    A :class:`~benchmarks.errors.BenchmarkError` carries its exit code (2 for bad input,
    1 for a failed run). Any other ``ValueError`` is bad input (2); anything else means
    the capped stack failed (1).
    """
    if isinstance(error, BenchmarkError):
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    if isinstance(error, ValueError):
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"error: the capped stack could not run: {error}", file=sys.stderr)
    return 1


def render_pages(run_dir: Path) -> list[Path]:
    """Render the pages of the document in ``run_dir`` (:func:`reports.render_run`).

    The measurement stands without its pages: a document the reports cannot render is
    said (and the pages left out), never a crash at the end of a long run.
    """
    from reports import render_run  # plotly and jinja2 load only once there is a page

    try:
        return render_run(run_dir)
    except Exception as error:  # the document is written; only its pages are missing
        print(f"report: not rendered ({type(error).__name__}: {error})")
        return []
