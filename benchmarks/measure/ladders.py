"""One open-model ladder on the running stack: its constant-arrival-rate steps under
``scenarios.open_model``, each judged as it ends (:mod:`benchmarks.judge.ladder`), the
ladder stopped at its first broken step or at once when the service reaches its cap.

:func:`targets` defines the three ladders ``python -m benchmarks capacity`` runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import redis

from benchmarks.judge.ladder import (
    CAP_FRACTION,
    SERVING_REASONS,
    Ladder,
    StepResult,
    judge_step,
)
from benchmarks.measure.environment import ROOT
from benchmarks.measure.loadgen import CpuSample, run_scenario
from benchmarks.measure.samples import read_samples
from containers.memory import MemorySampler
from containers.stack import Stack
from scenarios.arrivals import (
    LADDER_ENV,
    PLAN_FILE,
    STOP_FILE,
    LadderConfig,
    LadderPlan,
    PlannedStep,
)
from scenarios.registry import Scenario
from scenarios.stages import Stage

__all__ = [
    "ANSWER_WAIT_S",
    "SETTLE_S",
    "STEP_S",
    "Target",
    "answers_pending",
    "refined",
    "run_ladder",
    "targets",
]

Log = Callable[[str], None]


OPEN_LOCUSTFILE = ROOT / "scenarios" / "open_model.py"


#: Seconds after a step's end that its unanswered requests may still be answered (the
#: open-model users' network timeout, and a margin).
ANSWER_WAIT_S = 35.0


STEP_S = 15.0


SETTLE_S = 3.0


#: Where the steps that narrow a ladder's limit go, as fractions of the gap between its
#: highest held step and its first broken one (the anchored rates are up to 25 % of X0
#: apart: the capacity is then known to within a quarter of that).
REFINE_FRACTIONS = (0.25, 0.5, 0.75)


#: Seconds bounding the logins and the warm-up (the Locust run's deadline only).
_PREPARE_BOUND_S = 90.0


_MIB = 2**20


@dataclass(frozen=True)
class Target:
    """One ladder: which endpoint of which profile, and its rates."""

    key: str
    profile: str
    endpoint: str
    config: LadderConfig
    #: The broken rules that end the ladder (``None``: any).
    stop_on: frozenset[str] | None = None
    #: Whether its limit is narrowed by a second run between its last held and first
    #: broken rates (:func:`refinement`).
    refine: bool = False

    def stops(self, step: StepResult) -> bool:
        """Whether the ladder ends after ``step``."""
        return bool(step.broken.keys() & self.stop_on if self.stop_on else step.broken)


def targets(step_s: float = STEP_S, settle_s: float = SETTLE_S) -> tuple[Target, ...]:
    """The three ladders of a run, in the order they run (``ValueError`` on bad durations)."""
    recommendations = LadderConfig(
        path="/api/recommendations?limit=12",
        name="/api/recommendations",
        step_s=step_s,
        settle_s=settle_s,
        accounts=64,
        min_pool=8,
    )
    live = replace(recommendations, path="/health/live", name="/health/live", accounts=1)
    # Seconds per request: longer steps, so each holds a few arrivals.
    baseline = replace(
        recommendations,
        rates=(0.1, 0.2, 0.3),
        step_s=max(step_s, 40.0),
        settle_s=max(settle_s, 5.0),
        accounts=4,
        min_pool=2,
    )
    return (
        Target("optimized", "optimized", "GET /api/recommendations", recommendations, refine=True),
        Target("live", "optimized", "GET /health/live", live, refine=True),
        # Seconds per answer break its latency budget at any rate: its ladder goes on until
        # it fails to serve, to find the highest rate it serves without errors.
        Target("baseline", "baseline", "GET /api/recommendations", baseline, SERVING_REASONS),
    )


def refinement(target: Target, ladder: Ladder) -> Target | None:
    """``target`` at rates between its ladder's highest held step and its first broken
    one (:data:`REFINE_FRACTIONS` of the gap), or ``None`` when there is nothing to narrow:
    no step held, none broke, or the load generator was what broke."""
    top, limit = ladder.capacity_step, ladder.limit_step
    if not target.refine or top is None or limit is None or limit.generator_bound:
        return None
    gap = limit.rate - top.rate
    rates = tuple(round(top.rate + gap * fraction, 3) for fraction in REFINE_FRACTIONS)
    return replace(target, config=replace(target.config, rates=rates), refine=False)


def refined(
    stack: Stack, target: Target, ladder: Ladder, work_dir: Path, p95_limit_ms: float, log: Log
) -> tuple[Ladder, dict[str, Any] | None]:
    """``ladder`` with the steps of a second run that narrows its limit (:func:`refinement`),
    named ``refine-N``; unchanged (and ``None``) when there is nothing to narrow."""
    narrower = refinement(target, ladder)
    if narrower is None or ladder.capacity_step is None or ladder.limit_step is None:
        return ladder, None
    rates = ", ".join(f"{rate:g}" for rate in narrower.config.rates)
    log(
        f"[{target.key}] narrowing its limit, between {ladder.capacity_step.rate:g} and "
        f"{ladder.limit_step.rate:g} req/s: steps at {rates} req/s"
    )
    more, detail = run_ladder(stack, narrower, work_dir, p95_limit_ms, log, summarize=False)
    steps = tuple(
        replace(step, name=f"refine-{index + 1}") for index, step in enumerate(more.steps)
    )
    merged = replace(ladder, steps=ladder.steps + steps)
    log(merged.summary())
    return merged, detail


class _Monitor:
    """Judges each step as it ends (during the run) and ends the ladder at the first broken
    one, or at once when the service reaches its cap or is OOM-killed."""

    def __init__(
        self,
        target: Target,
        samples_dir: Path,
        sampler: MemorySampler,
        p95_limit_ms: float,
        log: Log,
    ) -> None:
        self.target = target
        self.samples_dir = samples_dir
        self.sampler = sampler
        self.p95_limit_ms = p95_limit_ms
        self.log = log
        self.plan: LadderPlan | None = None
        self.judged = 0
        self.stopped_at: float | None = None

    def stop(self, why: str) -> None:
        if self.stopped_at is None:
            self.stopped_at = time.time()
            (self.samples_dir / STOP_FILE).touch()
            self.log(f"[{self.target.key}] ladder stopped: {why}")

    def __call__(self, elapsed_s: float) -> None:
        if self.stopped_at is not None:
            return
        if self.plan is None:
            self.plan = LadderPlan.read(self.samples_dir / PLAN_FILE)
            if self.plan is not None:
                rates = ", ".join(f"{step.rate:g}" for step in self.plan.steps)
                x0 = "" if self.plan.x0 is None else f"X0 {self.plan.x0:g} req/s; "
                self.log(f"[{self.target.key}] {x0}steps of {rates} req/s")
            return
        for name, figures in self.sampler.result().items():
            cap, working_set = figures.get("cap_bytes"), _last_working_set(figures)
            if not name.startswith("service"):
                continue
            if figures.get("oom_killed"):
                self.stop(f"{name} OOM-killed")
                return
            if cap and working_set is not None and working_set >= CAP_FRACTION * cap:
                self.stop(f"{name} at {working_set / _MIB:.0f} MiB of its {cap / _MIB:.0f} MiB")
                return
        steps = self.plan.steps
        if self.judged >= len(steps) or time.time() < steps[self.judged].end + SETTLE_S:
            return
        step = steps[self.judged]
        result = judge_step(
            step,
            read_samples(self.samples_dir),
            self.plan,
            endpoint=self.target.endpoint,
            p95_limit_ms=self.p95_limit_ms,
        )
        if answers_pending(self.target, result, waited_s=time.time() - step.end):
            return  # requests still in flight may yet be answered: judge again next tick
        self.judged += 1
        verdict = "held" if result.held else f"broken: {result.reasons()}"
        self.log(
            f"[{self.target.key}] {step.name} at {step.rate:g} req/s: {result.sustained_rps:g} "
            f"req/s, p95 {result.p95_ms or 0:.1f} ms, backlog {result.backlog_at_end}; {verdict}"
        )
        if self.target.stops(result):
            self.stop(f"{step.name} broke")


def answers_pending(target: Target, result: StepResult, *, waited_s: float) -> bool:
    """Whether to judge a step again later: judged ``waited_s`` after its end, it would end
    the ladder only for its unanswered arrivals, and those may still be answered (a request
    sent before the end can take up to its timeout: a slow answer is p95, not a loss)."""
    if "answered" not in result.broken or waited_s >= ANSWER_WAIT_S:
        return False
    others = {kind: why for kind, why in result.broken.items() if kind != "answered"}
    return not target.stops(replace(result, broken=others))


def _last_working_set(figures: Mapping[str, Any]) -> int | None:
    samples = figures.get("samples") or []
    value = samples[-1].get("working_set_bytes") if samples else None
    return None if value is None else int(value)


def _step_memory(
    memory: Mapping[str, Mapping[str, Any]], t0: float, step: PlannedStep
) -> tuple[int | None, int | None, bool]:
    """Peak service working set during ``step``, the cap, and whether an OOM kill fell in it."""
    peaks, caps, killed = [], [], False
    for name, figures in memory.items():
        if not name.startswith("service"):
            continue
        caps.append(figures.get("cap_bytes"))
        peaks += [
            int(value)
            for sample in figures.get("samples", [])
            if step.start <= t0 + float(sample["t"]) < step.end
            and (value := sample.get("working_set_bytes")) is not None
        ]
        kill_t = figures.get("oom_kill_t")
        if figures.get("oom_killed") and kill_t is not None:
            killed = killed or step.start <= t0 + float(kill_t) < step.end
    cap = next((int(cap) for cap in caps if cap), None)
    return (max(peaks) if peaks else None), cap, killed


def _step_cpu(cpu: Sequence[CpuSample], step: PlannedStep) -> float | None:
    """Mean CPU of the busiest Locust process over the step's measured window."""
    per_pid: dict[int, list[float]] = {}
    for sample in cpu:
        if step.measured_start <= sample.t <= step.end:
            for pid, percent in sample.percent_by_pid.items():
                per_pid.setdefault(pid, []).append(percent)
    means = [sum(values) / len(values) for values in per_pid.values() if values]
    return max(means) if means else None


def _deadline_stages(config: LadderConfig) -> tuple[Stage, ...]:
    """Stages bounding the Locust run (its deadline): the ladder's own times come from its plan."""
    steps = len(config.rates or config.multipliers)
    return (
        Stage("prepare", _PREPARE_BOUND_S + config.warmup_s, 1, 1.0, measured=False),
        Stage("ladder", steps * config.step_s, 1, 1.0),
    )


def run_ladder(
    stack: Stack,
    target: Target,
    work_dir: Path,
    p95_limit_ms: float,
    log: Log,
    *,
    summarize: bool = True,
) -> tuple[Ladder, dict[str, Any]]:
    """Restart the service as the target's profile, run its ladder, judge every step."""
    stack.restart_services(profile=target.profile, regressions=[])
    with redis.Redis.from_url(stack.redis_url) as client:
        client.flushdb()
    stages = _deadline_stages(target.config)
    scenario = Scenario(
        f"open-{target.key}",
        f"open model: {target.endpoint} at constant arrival rates",
        ("OpenModelUser",),
        lambda users, warmup_s, measure_s: stages,
        users=1,
        warmup_s=stages[0].duration_s,
        measure_s=stages[1].duration_s,
    )
    sampler = MemorySampler(stack.docker_containers(), interval_s=0.25)
    sampler.start()
    samples_dir = work_dir / "samples"
    monitor = _Monitor(target, samples_dir, sampler, p95_limit_ms, log)
    try:
        load = run_scenario(
            scenario,
            host=stack.service_url,
            out_dir=work_dir,
            locustfile=OPEN_LOCUSTFILE,
            extra_env={LADDER_ENV: target.config.to_json()},
            on_tick=monitor,
        )
    finally:
        sampler.stop()
    memory = sampler.result()
    plan = LadderPlan.read(samples_dir / PLAN_FILE)
    details: dict[str, Any] = {
        "locust_exit_code": load.exit_code,
        "locust_timed_out": load.timed_out,
        "locust_log": str(load.log_path),
        "samples": load.accounting.as_dict(),
        "config": asdict(target.config),
    }
    if plan is None:
        why = f"the load generator wrote no plan (logins failed?): see {load.log_path}"
        empty = Ladder(target.key, target.profile, target.endpoint, None, (), p95_limit_ms, why)
        return empty, {**details, "error": why}
    results = []
    t0 = float(sampler.t0 or 0.0)
    for step in plan.steps:
        if monitor.stopped_at is not None and step.start >= monitor.stopped_at:
            break
        peak, cap, killed = _step_memory(memory, t0, step)
        result = judge_step(
            step,
            load.samples,
            plan,
            endpoint=target.endpoint,
            p95_limit_ms=p95_limit_ms,
            cpu_percent=_step_cpu(load.cpu, step),
            peak_working_set_bytes=peak,
            cap_bytes=cap,
            oom_killed=killed,
        )
        cut_short = monitor.stopped_at is not None and step.end > monitor.stopped_at
        if cut_short and not ({"memory", "oom"} & result.broken.keys()):
            break  # stopped for an earlier step: its figures are a fragment
        results.append(result)
        if target.stops(result):
            break
    error = None if results else f"no step completed (see {load.log_path})"
    ladder = Ladder(
        target.key, target.profile, target.endpoint, plan.x0, tuple(results), p95_limit_ms, error
    )
    if summarize:
        log(ladder.summary())
    return ladder, {**details, "error": error}
