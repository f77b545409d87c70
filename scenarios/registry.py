"""Every scenario by name: its users, its load shape, its default durations."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from scenarios.stages import Stage, ramp, soak, spike, steady, step_ramp

__all__ = ["SCENARIOS", "Scenario", "get_scenario"]

ShapeBuilder = Callable[[int, float, float], tuple[Stage, ...]]


@dataclass(frozen=True)
class Scenario:
    """A named load test: which user classes, what shape, how long by default."""

    name: str
    description: str
    user_classes: tuple[str, ...]
    shape: ShapeBuilder
    users: int
    warmup_s: float
    measure_s: float

    def with_overrides(
        self,
        *,
        users: int | None = None,
        warmup_s: float | None = None,
        measure_s: float | None = None,
    ) -> Scenario:
        """A copy with any of the given values replaced (``None`` keeps the default)."""
        return replace(
            self,
            users=self.users if users is None else users,
            warmup_s=self.warmup_s if warmup_s is None else warmup_s,
            measure_s=self.measure_s if measure_s is None else measure_s,
        )

    def stages(self) -> tuple[Stage, ...]:
        """The load shape's stages for this scenario's users and durations."""
        if self.users < 1:
            raise ValueError(f"scenario {self.name!r}: users must be >= 1, got {self.users}")
        if self.warmup_s <= 0 or self.measure_s <= 0:
            raise ValueError(
                f"scenario {self.name!r}: warm-up and measured durations must be > 0 "
                f"(got {self.warmup_s} s and {self.measure_s} s)"
            )
        return self.shape(self.users, self.warmup_s, self.measure_s)


#: The standard mix; per 12 simulated users about 8 browse, 2 order, 1 is new (registers and
#: onboards) and 1 runs the demo simulator (see each class's ``weight``).
_MIXED = ("DinerUser", "OrderingDinerUser", "NewDinerUser", "SimulatorUser")

SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        scenario.name: scenario
        for scenario in (
            Scenario(
                "standard",
                "the gate's load: diners on dashboards, browsing and some ordering, steady",
                _MIXED,
                steady,
                users=50,
                warmup_s=10,
                measure_s=45,
            ),
            Scenario(
                "comparison",
                "one diner asking for recommendations: a load the baseline service survives",
                ("RecommendationsUser",),
                steady,
                # The baseline service peaks at ~860 MiB of its 1 GiB serving one such
                # request at a time (measured); two at once get it OOM-killed.
                users=1,
                # One request takes the baseline about 4.3 s: the first ends in the
                # warm-up, and the optimised p95 is ~1000x lower, so 12 s (two or three
                # baseline answers) decide it.
                warmup_s=5,
                measure_s=12,
            ),
            Scenario(
                "saturation",
                "diners asking for recommendations back to back (a closed loop): the "
                "service near its capacity, many requests for the leak test",
                ("SaturatingUser",),
                steady,
                # 12 closed-loop users keep one replica's worker busy on a 2-core machine
                # with the load generator beside it (measured: see README). 24 s gave
                # 16,403 requests (run 20261205T133025Z): the growth slope's 95 % interval
                # was -0.05 to 0.63 MiB per 10k requests, against a 16 MiB budget.
                users=12,
                warmup_s=6,
                measure_s=24,
            ),
            Scenario(
                "ramp",
                "the standard mix, users climbing linearly to the peak",
                _MIXED,
                ramp,
                users=50,
                warmup_s=10,
                measure_s=60,
            ),
            Scenario(
                "spike",
                "the standard mix with a sudden burst to the peak in the middle third",
                _MIXED,
                spike,
                users=80,
                warmup_s=10,
                measure_s=60,
            ),
            Scenario(
                "soak",
                "the standard mix held for ten minutes to expose slow memory growth",
                _MIXED,
                soak,
                users=30,
                warmup_s=15,
                measure_s=600,
            ),
            Scenario(
                "step-ramp",
                "the standard mix in five equal steps, to find the load where memory runs out",
                _MIXED,
                step_ramp,
                users=100,
                warmup_s=10,
                measure_s=100,
            ),
            Scenario(
                "recommendations-step-ramp",
                "recommendations only, one more diner each step: the load that OOM-killed the "
                "old service (python -m benchmarks oom)",
                ("RecommendationsUser",),
                step_ramp,
                # One user to warm up, then 1..5 users for 40 s each: the old service
                # holds one ~780 MB request at a time in its 1 GiB, not two.
                users=5,
                warmup_s=10,
                measure_s=200,
            ),
        )
    }
)


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; ``KeyError`` naming the known ones otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise KeyError(f"unknown scenario {name!r} (known: {known})") from None
