"""The Locust load shape that walks a tuple of :class:`~scenarios.stages.Stage`."""

from __future__ import annotations

import time

from locust import LoadTestShape

from scenarios.stages import Stage, stage_at

__all__ = ["StagedShape"]


class StagedShape(LoadTestShape):
    """Runs ``stages`` in order, then stops the test; subclasses set ``stages``."""

    abstract = True
    stages: tuple[Stage, ...] = ()

    def tick(self) -> tuple[int, float] | None:
        run_time_s: float = time.perf_counter() - self.start_time
        stage = stage_at(self.stages, run_time_s)
        if stage is None:
            return None
        return stage.users, stage.spawn_rate
