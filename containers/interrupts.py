"""Stopping a command the way CI and Docker stop it: SIGTERM is handled like Ctrl-C.

Python turns SIGINT into ``KeyboardInterrupt``, so every ``with Stack(...)`` and
``finally`` on the way out removes what it started. SIGTERM (``docker stop``, ``kill``,
a cancelled CI job) would end the process on the spot and leave the capped stack and
the load generator behind, with Ryuk off. :func:`ends_cleanly_on_signals` makes both
signals unwind the same way and end the command with one line and the shell's code.
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import ParamSpec

__all__ = ["CommandInterrupted", "ends_cleanly_on_signals"]

P = ParamSpec("P")


class CommandInterrupted(KeyboardInterrupt):
    """SIGTERM arrived; unwinds like Ctrl-C. ``signum`` says which signal it was."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    # A second SIGTERM (a supervisor that repeats itself) must not cut the cleanup short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise CommandInterrupted(signum)


def ends_cleanly_on_signals(main: Callable[P, int]) -> Callable[P, int]:
    """Wrap a command's ``main``: SIGINT and SIGTERM unwind it (cleanup runs), then it
    returns 128 + the signal number (130, 143) after one line on stderr, no traceback."""

    @functools.wraps(main)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> int:
        previous = signal.signal(signal.SIGTERM, _raise_interrupted)
        try:
            return main(*args, **kwargs)
        except KeyboardInterrupt as interrupted:
            signum = getattr(interrupted, "signum", signal.SIGINT)
            name = signal.Signals(signum).name
            print(
                f"\ninterrupted by {name}: containers and load generators started by this "
                "command were stopped",
                file=sys.stderr,
                flush=True,
            )
            return 128 + signum
        finally:
            signal.signal(signal.SIGTERM, previous)

    return wrapper
