"""The open model's verdicts: each step of a ladder judged from its exact samples, the
capacity the ladder shows, and the ratios between ladders (``python -m benchmarks
capacity`` measures them).

A step *breaks* on any of: p95 (from the due time) above the ``recommendations_p95``
budget; any failed request; fewer than 97 % of its arrivals answered; more than
``rate x 0.25 s`` arrivals waiting for a user at its end; the service's working set at
95 % of its cap, or an OOM kill. The *capacity* is the highest rate held before the first
broken step. A step is *generator-bound* when the Locust process averaged >= 90 % of a
core, or its arrivals' p95 wait to be sent reached the service's p95 answer time while
users were free: a limit found there is the load generator's, and the capacity a bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from benchmarks.measure.loadgen import SATURATION_PERCENT
from benchmarks.measure.samples import Samples
from scenarios.arrivals import IN_FLIGHT_S, LadderPlan, PlannedStep

__all__ = [
    "CAP_FRACTION",
    "GOAL_FRACTION",
    "SERVING_REASONS",
    "Comparison",
    "Ladder",
    "StepResult",
    "ceiling_fraction",
    "comparisons",
    "judge_step",
    "profile_ratio",
]

_MIB = 2**20


#: A working set this close to the cap counts as reaching it.
CAP_FRACTION = 0.95


#: The share of a step's arrivals that must be answered for it to hold.
MIN_ANSWERED = 0.97


#: Cached recommendations' ceiling over ``/health/live``'s that the service aims for.
GOAL_FRACTION = 0.8


#: Users in flight below this share of the pool mean free users (for the dispatch-lag rule).
_FREE_USERS = 0.8


#: The resolution of the due times in the sample files (microseconds): an arrival due
#: exactly at a step's end may be written a hair before it.
_DUE_RESOLUTION_S = 1e-6


#: Reasons that say the service could not serve (not merely slowly).
SERVING_REASONS = frozenset({"errors", "answered", "memory", "oom"})


@dataclass(frozen=True)
class StepResult:
    """What one step of a ladder measured, over its window after the settling time."""

    name: str
    rate: float
    pool: int
    arrivals: int
    answered: int
    failures: int
    sustained_rps: float
    p50_ms: float | None
    p95_ms: float | None
    service_p95_ms: float | None
    dispatch_lag_p95_ms: float | None
    backlog_at_end: int
    users_in_flight: float
    load_generator_cpu_percent: float | None
    peak_working_set_bytes: int | None
    oom_killed: bool
    #: ``{kind: explanation}`` of every rule the step broke (kinds: ``p95``, ``errors``,
    #: ``answered``, ``backlog``, ``memory``, ``oom``).
    broken: dict[str, str]
    generator_bound: bool

    @property
    def held(self) -> bool:
        return not self.broken

    def reasons(self) -> str:
        return ", ".join(self.broken.values())


def _percentile(values: np.ndarray[Any, Any], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if len(values) else None


def judge_step(
    step: PlannedStep,
    samples: Samples,
    plan: LadderPlan,
    *,
    endpoint: str,
    p95_limit_ms: float,
    cpu_percent: float | None = None,
    peak_working_set_bytes: int | None = None,
    cap_bytes: int | None = None,
    oom_killed: bool = False,
) -> StepResult:
    """A step's figures from the samples (arrivals due in its measured window) and its verdict."""
    start, end = step.measured_start, step.end
    ours = samples.endpoint == endpoint
    half = _DUE_RESOLUTION_S / 2
    window = samples.where(ours).scheduled_between(start - half, end - half)
    duration = end - start
    arrivals = step.arrivals - step.arrivals_due_by(start)
    answered = len(window)
    failures = int(window.failed.sum())
    from_schedule = window.from_schedule_ms
    p95 = _percentile(from_schedule, 95)
    service_p95 = _percentile(window.response_ms, 95)
    lag_p95 = _percentile(window.dispatch_lag_ms, 95)
    sent_by_end = int((ours & ~np.isnan(samples.scheduled) & (samples.t < end)).sum())
    backlog = max(0, plan.arrivals_due_by(end) - sent_by_end)
    in_flight = float(window.response_ms.sum()) / 1000.0 / duration
    broken: dict[str, str] = {}
    if p95 is not None and p95 > p95_limit_ms:
        broken["p95"] = f"p95 {p95:.0f} ms from schedule > {p95_limit_ms:.0f} ms"
    if failures:
        broken["errors"] = f"{failures} failed request(s)"
    if answered < MIN_ANSWERED * arrivals:
        broken["answered"] = f"{answered} of {arrivals} arrivals answered (< 97 %)"
    if backlog > step.rate * IN_FLIGHT_S:
        broken["backlog"] = f"{backlog} arrivals waiting at its end (> {step.rate * IN_FLIGHT_S:g})"
    peak = peak_working_set_bytes
    if cap_bytes and peak is not None and peak >= CAP_FRACTION * cap_bytes:
        broken["memory"] = f"memory {peak / _MIB:.0f} MiB at the cap"
    if oom_killed:
        broken["oom"] = "OOM-killed"
    lagging = (
        lag_p95 is not None
        and service_p95 is not None
        and lag_p95 >= service_p95
        and in_flight < _FREE_USERS * step.pool
    )
    busy = cpu_percent is not None and cpu_percent >= SATURATION_PERCENT
    return StepResult(
        name=step.name,
        rate=step.rate,
        pool=step.pool,
        arrivals=arrivals,
        answered=answered,
        failures=failures,
        sustained_rps=round((answered - failures) / duration, 3),
        p50_ms=_percentile(from_schedule, 50),
        p95_ms=p95,
        service_p95_ms=service_p95,
        dispatch_lag_p95_ms=lag_p95,
        backlog_at_end=backlog,
        users_in_flight=round(in_flight, 2),
        load_generator_cpu_percent=None if cpu_percent is None else round(cpu_percent, 1),
        peak_working_set_bytes=peak_working_set_bytes,
        oom_killed=oom_killed,
        broken=broken,
        generator_bound=busy or lagging,
    )


@dataclass(frozen=True)
class Ladder:
    """One ladder's steps (up to the first broken one) and the capacity they show."""

    target: str
    profile: str
    endpoint: str
    x0: float | None
    steps: tuple[StepResult, ...]
    p95_limit_ms: float
    error: str | None = None

    @property
    def limit_step(self) -> StepResult | None:
        """The broken step of the lowest rate (the ladder's first, before any refinement)."""
        broken = [step for step in self.steps if not step.held]
        return min(broken, key=lambda step: step.rate) if broken else None

    @property
    def capacity_step(self) -> StepResult | None:
        """The highest-rate step held below :attr:`limit_step`'s rate."""
        limit = self.limit_step
        held = [
            step for step in self.steps if step.held and (limit is None or step.rate < limit.rate)
        ]
        return max(held, key=lambda step: step.rate) if held else None

    @property
    def lower_bound(self) -> bool:
        """Whether the capacity is only a bound: no step broke, or the load generator did."""
        limit = self.limit_step
        return bool(self.steps) and (limit is None or limit.generator_bound)

    @property
    def capacity_rps(self) -> float | None:
        step = self.capacity_step
        return None if step is None else step.sustained_rps

    @property
    def serving_step(self) -> StepResult | None:
        """The highest-rate step before the first that failed to serve (latency aside)."""
        served = None
        for step in sorted(self.steps, key=lambda step: step.rate):
            if SERVING_REASONS & step.broken.keys():
                break
            served = step
        return served

    def summary(self) -> str:
        """One line: the capacity (or its bound), and what broke the ladder."""
        name = f"{self.target} ({self.endpoint}, {self.profile})"
        if not self.steps:
            return f"{name}: not measured ({self.error or 'no step ran'})"
        limit, top = self.limit_step, self.capacity_step
        if limit is None:
            head = "no step broke"
        else:
            bound = " (load generator bound)" if limit.generator_bound else ""
            head = f"at {limit.rate:g} req/s {limit.reasons()}{bound}"
        if top is None:
            serving = self.serving_step
            served = (
                ""
                if serving is None
                else f"; served without errors up to {serving.rate:g} req/s "
                f"(p95 {serving.p95_ms or 0:.0f} ms)"
            )
            return f"{name}: no step held ({head}){served}"
        sign = ">=" if self.lower_bound else "="
        return (
            f"{name}: capacity {sign} {top.sustained_rps:g} req/s sustained at the "
            f"{top.rate:g} req/s step ({top.users_in_flight:g} users in flight, pool "
            f"{top.pool}, p95 {top.p95_ms or 0:.0f} ms); {head}"
        )

    def to_json(self) -> dict[str, Any]:
        top, limit = self.capacity_step, self.limit_step
        serving = self.serving_step
        return {
            "target": self.target,
            "profile": self.profile,
            "endpoint": self.endpoint,
            "x0_rps": self.x0,
            "p95_limit_ms": self.p95_limit_ms,
            "error": self.error,
            "steps": [asdict(step) for step in self.steps],
            "capacity_rps": self.capacity_rps,
            "capacity_rate": None if top is None else top.rate,
            "users_in_flight": None if top is None else top.users_in_flight,
            "pool": None if top is None else top.pool,
            "lower_bound": self.lower_bound,
            "limit_step": None if limit is None else limit.name,
            "served_without_errors_rate": None if serving is None else serving.rate,
            "summary": self.summary(),
        }


@dataclass(frozen=True)
class Comparison:
    """A ratio of two capacities, and whether it is a measurement or a bound."""

    value: float | None
    #: ``"="``, ``">="``, ``"<="``, or ``None`` when neither bound holds.
    relation: str | None
    text: str


def _relation(numerator_bound: bool, denominator_bound: bool) -> str | None:
    if numerator_bound and denominator_bound:
        return None
    if numerator_bound:
        return ">="
    return "<=" if denominator_bound else "="


def ceiling_fraction(recommendations: Ladder, live: Ladder) -> Comparison:
    """Cached recommendations' capacity over ``/health/live``'s (goal >= 0.8)."""
    top, floor = recommendations.capacity_rps, live.capacity_rps
    if not top or not floor:
        return Comparison(None, None, "fraction of /health/live: not measured")
    value = round(top / floor, 3)
    relation = _relation(recommendations.lower_bound, live.lower_bound)
    goal = f"goal >= {GOAL_FRACTION:g}"
    if relation is None:
        return Comparison(
            value, None, f"fraction of /health/live: both ceilings are bounds, unknown ({goal})"
        )
    met = {"=": value >= GOAL_FRACTION, ">=": value >= GOAL_FRACTION, "<=": False}[relation]
    verdict = "met" if met else ("undecided" if relation == "<=" else "missed")
    return Comparison(
        value,
        relation,
        f"cached recommendations at {top:g} req/s are {relation} {value:g} of /health/live's "
        f"{floor:g} req/s ({goal}: {verdict})",
    )


def profile_ratio(optimized: Ladder, baseline: Ladder) -> Comparison:
    """The optimised profile's capacity over the baseline's (its error-free rate when it
    held no step within the latency budget)."""
    top = optimized.capacity_rps
    if not top:
        return Comparison(None, None, "optimized / baseline: not measured")
    if baseline.capacity_rps:
        value = round(top / baseline.capacity_rps, 1)
        relation = _relation(optimized.lower_bound, baseline.lower_bound)
        return Comparison(value, relation, f"optimized / baseline: {relation or '?'} {value:g}x")
    serving = baseline.serving_step
    if serving is None or not serving.sustained_rps:
        return Comparison(
            None, None, "optimized / baseline: the baseline held no step and served none"
        )
    value = round(top / serving.sustained_rps, 1)
    return Comparison(
        value,
        ">=" if optimized.lower_bound else "=",
        f"optimized / baseline: the baseline held no step within its budgets; against the "
        f"{serving.sustained_rps:g} req/s it served without errors: "
        f"{'>=' if optimized.lower_bound else '='} {value:g}x",
    )


def _by_target(ladders: Sequence[Ladder]) -> dict[str, Ladder]:
    return {ladder.target: ladder for ladder in ladders}


def comparisons(ladders: Sequence[Ladder]) -> list[Comparison]:
    """The profile ratio and the fraction of ``/health/live``, when their ladders ran."""
    found = _by_target(ladders)
    compared = []
    if "optimized" in found and "baseline" in found:
        compared.append(profile_ratio(found["optimized"], found["baseline"]))
    if "optimized" in found and "live" in found:
        compared.append(ceiling_fraction(found["optimized"], found["live"]))
    return compared
