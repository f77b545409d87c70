"""The Locust load shape that walks a tuple of :class:`~scenarios.stages.Stage`.

A distributed run's master counts only what its workers report, every 3 s
(Locust's ``WORKER_REPORT_INTERVAL``), and waits just 0.5 s for their last
report when it quits: requests made in the workers' wind-down would be in the
samples but missing from its totals. So after the last stage the master first
holds 0 users until the workers have stopped theirs and reported once more,
for at most :data:`DRAIN_MAX_S`; only then does the shape end the test.
"""

from __future__ import annotations

import time

from locust import LoadTestShape
from locust.runners import MasterRunner

from scenarios.stages import Stage, stage_at, total_duration

__all__ = ["DRAIN_MAX_S", "DRAIN_REPORT_S", "StagedShape"]

#: Seconds the master waits once its workers run no user: one worker report (3 s) and a margin.
DRAIN_REPORT_S = 4.0
#: The longest wind-down of a distributed run (users get ``--stop-timeout`` to finish a task).
DRAIN_MAX_S = 15.0
#: Users stopped per second during the wind-down: all at once.
_STOP_RATE = 10_000.0


class StagedShape(LoadTestShape):
    """Runs ``stages`` in order, then stops the test; subclasses set ``stages``."""

    abstract = True
    stages: tuple[Stage, ...] = ()
    _idle_since: float | None = None

    def tick(self) -> tuple[int, float] | None:
        run_time_s: float = time.perf_counter() - self.start_time
        stage = stage_at(self.stages, run_time_s)
        if stage is not None:
            return stage.users, stage.spawn_rate
        if not isinstance(self.runner, MasterRunner):
            return None
        return self._drain(run_time_s - total_duration(self.stages))

    def _drain(self, since_end_s: float) -> tuple[int, float] | None:
        """0 users until the workers have none and reported it, then the end (bounded)."""
        assert self.runner is not None
        if since_end_s >= DRAIN_MAX_S:
            return None
        now = time.perf_counter()
        if self.runner.user_count > 0:
            self._idle_since = None
        elif self._idle_since is None:
            self._idle_since = now
        elif now - self._idle_since >= DRAIN_REPORT_S:
            return None
        return 0, _STOP_RATE
