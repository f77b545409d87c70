"""Load shapes as data: typed tuples of stages (no Locust import, so the gate can use them).

A stage says how many users run for how long and whether its requests count
towards the measured figures (warm-up stages do not).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Stage",
    "ramp",
    "soak",
    "spike",
    "stage_at",
    "steady",
    "step_ramp",
    "total_duration",
]


@dataclass(frozen=True)
class Stage:
    """``users`` users (reached at ``spawn_rate`` per second) for ``duration_s`` seconds."""

    name: str
    duration_s: float
    users: int
    spawn_rate: float
    measured: bool = True

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ValueError(f"stage {self.name!r}: duration_s must be > 0, got {self.duration_s}")
        if self.users < 0:
            raise ValueError(f"stage {self.name!r}: users must be >= 0, got {self.users}")
        if self.spawn_rate <= 0:
            raise ValueError(f"stage {self.name!r}: spawn_rate must be > 0, got {self.spawn_rate}")


def total_duration(stages: tuple[Stage, ...]) -> float:
    """Seconds from the start of the first stage to the end of the last."""
    return sum(stage.duration_s for stage in stages)


def stage_at(stages: tuple[Stage, ...], run_time_s: float) -> Stage | None:
    """The stage running ``run_time_s`` seconds after the start, or ``None`` once all ended."""
    end = 0.0
    for stage in stages:
        end += stage.duration_s
        if run_time_s < end:
            return stage
    return None


def _spawn_rate(users: int, over_s: float) -> float:
    # Every user logs in as it starts (bcrypt on the service, holding a pooled
    # connection): spreading the logins over half the warm-up keeps a start-up
    # storm from exhausting the pool, as real diners do not all log in at once.
    return max(1.0, users / max(1.0, over_s / 2))


def steady(users: int, warmup_s: float, measure_s: float) -> tuple[Stage, ...]:
    """Constant load: warm-up then one measured stage at the same user count."""
    rate = _spawn_rate(users, warmup_s)
    return (
        Stage("warm-up", warmup_s, users, rate, measured=False),
        Stage("measured", measure_s, users, rate),
    )


def ramp(users: int, warmup_s: float, measure_s: float) -> tuple[Stage, ...]:
    """Users climb linearly to ``users`` across the measured window (warm-up at 10 %)."""
    base = max(1, users // 10)
    return (
        Stage("warm-up", warmup_s, base, _spawn_rate(base, warmup_s), measured=False),
        Stage("ramp", measure_s, users, max(0.1, (users - base) / measure_s)),
    )


def spike(users: int, warmup_s: float, measure_s: float) -> tuple[Stage, ...]:
    """A quarter of ``users`` steadily, a burst to ``users`` in the middle third, then back."""
    base = max(1, users // 4)
    third = measure_s / 3
    return (
        Stage("warm-up", warmup_s, base, _spawn_rate(base, warmup_s), measured=False),
        Stage("before-spike", third, base, _spawn_rate(base, warmup_s)),
        Stage("spike", third, users, float(users)),
        Stage("after-spike", third, base, float(users)),
    )


def soak(users: int, warmup_s: float, measure_s: float) -> tuple[Stage, ...]:
    """Constant load held long (a slow leak shows as a rising memory line)."""
    stages = steady(users, warmup_s, measure_s)
    return (stages[0], Stage("soak", measure_s, users, stages[1].spawn_rate))


def step_ramp(
    users: int, warmup_s: float, measure_s: float, *, steps: int = 5
) -> tuple[Stage, ...]:
    """``steps`` equal steps up to ``users``, each held ``measure_s / steps`` seconds.

    Used to find the load at which a capped container runs out of memory: the
    step during which the OOM kill lands names the load it could not hold.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    first = max(1, users // steps)
    warm = (Stage("warm-up", warmup_s, first, _spawn_rate(first, warmup_s), measured=False),)
    hold = measure_s / steps
    return warm + tuple(
        Stage(f"step-{i}", hold, max(1, users * i // steps), _spawn_rate(users, hold))
        for i in range(1, steps + 1)
    )
