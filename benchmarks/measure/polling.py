"""A probe that samples something at a fixed interval in a background thread."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

__all__ = ["Poller"]


class Poller:
    """Calls :meth:`poll` every ``interval_s`` from :meth:`start` until :meth:`stop`.

    :meth:`resource` opens what every poll uses (a connection, a client); an
    error of a type in ``errors_recorded`` ends the polling and is kept in
    ``errors`` rather than lost in a thread.
    """

    errors_recorded: tuple[type[Exception], ...] = ()

    def __init__(self, interval_s: float, *, name: str) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.interval_s = interval_s
        self.errors: list[str] = []
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def resource(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    def poll(self, resource: Any) -> bool:
        """Take one sample; return ``False`` to stop polling."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        try:
            with self.resource() as resource:
                while self.poll(resource) and not self._stop.wait(self.interval_s):
                    pass
        except self.errors_recorded as error:
            self.errors.append(f"{type(error).__name__}: {error}")
