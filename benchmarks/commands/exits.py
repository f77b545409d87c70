"""How a command that boots the stack stops on an error, and its exit code."""

from __future__ import annotations

import sys

__all__ = ["stopped_by"]


def stopped_by(error: Exception) -> int:
    """Print why a command stopped; its exit code: 2 for bad input, 1 when the stack failed."""
    if isinstance(error, ValueError):
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"error: the capped stack could not run: {error}", file=sys.stderr)
    return 1
