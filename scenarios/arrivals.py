"""Open-model arrivals as data: the ladder of rates and each arrival's due time.

No Locust import: the capacity command plans and judges a ladder with these, and the
open-model locustfile (``scenarios.open_model``) schedules from them.

An arrival ``k`` of a step starting at ``start`` at ``rate`` per second is due at
``start + k / rate``, whatever the service did with the ones before it: a slow answer
does not push later arrivals back (as a closed loop's next request would be), so the
latency counted from the due time includes any wait for a free user.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ANCHORED_MULTIPLIERS",
    "IN_FLIGHT_S",
    "LADDER_ENV",
    "PLAN_FILE",
    "STOP_FILE",
    "LadderConfig",
    "LadderPlan",
    "PlannedStep",
    "arrivals_due",
    "due_times",
    "pool_size",
]

#: The environment variable carrying a :class:`LadderConfig` (JSON) to the locustfile.
LADDER_ENV = "TASTEMATCH_OPEN_LADDER"
#: In the samples folder: the plan the load generator follows, and the file whose
#: presence ends the ladder early (the capacity command writes it at the first broken step).
PLAN_FILE = "ladder.json"
STOP_FILE = "stop"
#: Step rates as multiples of the closed-loop throughput ``X0`` measured in the warm-up.
ANCHORED_MULTIPLIERS = (0.5, 0.7, 0.85, 1.0, 1.1, 1.2, 1.35, 1.5, 1.75, 2.0, 2.5)
#: Users per arrival per second (Little's law): enough for answers taking this long on
#: average, so a pool of users is never what limits the rate.
IN_FLIGHT_S = 0.25


def _count(arrivals: float) -> int:
    # Arrivals k = 0, 1, ... with k / rate < elapsed: ceil(rate * elapsed), rounded first
    # so that 0.3/s for 40 s is 12 arrivals, not 13 (0.3 * 40 = 12.000000000000002).
    return math.ceil(round(arrivals, 9))


def pool_size(rate: float, *, minimum: int) -> int:
    """Users needed to keep ``rate`` arrivals/s in flight for :data:`IN_FLIGHT_S` each."""
    if rate <= 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    return max(minimum, math.ceil(rate * IN_FLIGHT_S))


def due_times(start: float, rate: float, duration_s: float) -> list[float]:
    """Every arrival of a step: ``start + k / rate`` for each ``k / rate < duration_s``."""
    if rate <= 0 or duration_s <= 0:
        raise ValueError(f"rate and duration must be > 0, got {rate} and {duration_s}")
    return [start + k / rate for k in range(_count(rate * duration_s))]


def arrivals_due(rate: float, elapsed_s: float, duration_s: float) -> int:
    """How many of a step's arrivals are due ``elapsed_s`` after its start (0 before it)."""
    if elapsed_s <= 0:
        return 0
    return _count(rate * min(elapsed_s, duration_s))


@dataclass(frozen=True)
class LadderConfig:
    """What the open-model load generator runs.

    ``rates`` fixed rates, or (when empty) ``multipliers`` of the closed-loop throughput
    measured over ``warmup_s`` with ``warmup_users`` users sending back to back.
    """

    path: str
    name: str
    step_s: float
    settle_s: float
    accounts: int
    min_pool: int
    rates: tuple[float, ...] = ()
    multipliers: tuple[float, ...] = ANCHORED_MULTIPLIERS
    warmup_s: float = 10.0
    warmup_users: int = 12

    def __post_init__(self) -> None:
        if self.settle_s < 0 or self.step_s <= self.settle_s:
            raise ValueError(
                f"a step ({self.step_s:g} s) must be longer than its settling time "
                f"({self.settle_s:g} s)"
            )
        if self.accounts < 1 or self.min_pool < 1 or self.warmup_users < 1:
            raise ValueError("accounts, min_pool and warmup_users must be >= 1")
        ladder = self.rates or self.multipliers
        if not ladder or any(value <= 0 for value in ladder):
            raise ValueError(f"rates or multipliers must be > 0, got {ladder}")
        if not self.rates and self.warmup_s <= 0:
            raise ValueError("an anchored ladder needs a warm-up to measure X0")

    @property
    def anchored(self) -> bool:
        """Whether the rates come from the warm-up's throughput."""
        return not self.rates

    def step_rates(self, x0: float | None) -> tuple[float, ...]:
        """The rate of each step (``x0``: the warm-up's requests/s, for an anchored ladder)."""
        if not self.anchored:
            return self.rates
        if x0 is None or x0 <= 0:
            raise ValueError(f"the warm-up measured no throughput (X0 = {x0})")
        return tuple(round(x0 * multiplier, 3) for multiplier in self.multipliers)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LadderConfig:
        fields: dict[str, Any] = json.loads(text)
        fields["rates"] = tuple(fields.get("rates", ()))
        fields["multipliers"] = tuple(fields.get("multipliers", ANCHORED_MULTIPLIERS))
        return cls(**fields)


@dataclass(frozen=True)
class PlannedStep:
    """One step as scheduled: ``rate`` arrivals/s from ``start`` to ``end`` (epoch seconds);
    the first ``settle_s`` seconds are left out of its figures."""

    name: str
    rate: float
    start: float
    end: float
    settle_s: float
    pool: int

    @property
    def measured_start(self) -> float:
        return self.start + self.settle_s

    @property
    def arrivals(self) -> int:
        """Arrivals due in the whole step."""
        return arrivals_due(self.rate, self.end - self.start, self.end - self.start)

    def arrivals_due_by(self, t: float) -> int:
        """This step's arrivals due before ``t`` (epoch seconds)."""
        return arrivals_due(self.rate, t - self.start, self.end - self.start)


@dataclass(frozen=True)
class LadderPlan:
    """The steps the load generator scheduled, and the warm-up throughput they hang on."""

    x0: float | None
    steps: tuple[PlannedStep, ...]

    @classmethod
    def build(cls, config: LadderConfig, *, x0: float | None, start: float) -> LadderPlan:
        rates = config.step_rates(x0)
        steps = tuple(
            PlannedStep(
                name=f"step-{index + 1}",
                rate=rate,
                start=start + index * config.step_s,
                end=start + (index + 1) * config.step_s,
                settle_s=config.settle_s,
                pool=pool_size(rate, minimum=config.min_pool),
            )
            for index, rate in enumerate(rates)
        )
        return cls(x0=x0, steps=steps)

    def step_at(self, t: float) -> PlannedStep | None:
        """The step running at ``t`` (epoch seconds); ``None`` outside the ladder."""
        return next((step for step in self.steps if step.start <= t < step.end), None)

    def arrivals_due_by(self, t: float) -> int:
        """Arrivals of every step due before ``t``."""
        return sum(step.arrivals_due_by(t) for step in self.steps)

    def write(self, path: Path) -> None:
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(
            json.dumps({"x0": self.x0, "steps": [asdict(s) for s in self.steps]}, sort_keys=True)
        )
        temporary.replace(path)

    @classmethod
    def read(cls, path: Path) -> LadderPlan | None:
        """The plan in ``path``, ``None`` while the load generator has not written it."""
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return cls(x0=content["x0"], steps=tuple(PlannedStep(**step) for step in content["steps"]))
