"""The stack's error: the one exception the stack and its helpers raise for a stack that
could not be started or used. It lives apart from `containers.stack` so that the helper
modules the stack is built from (`containers.startup`, `containers.snapshots`, ...) can
raise it without importing the stack.
"""

from __future__ import annotations

__all__ = ["StackError"]


class StackError(RuntimeError):
    """The stack could not be started or used (bad settings, a container that failed)."""
