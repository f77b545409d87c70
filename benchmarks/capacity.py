"""``python -m benchmarks.capacity``: how many diners each profile holds in 1 GiB.

Runs the ``recommendations-step-ramp`` load (one more step of diners asking
for recommendations every step) on one capped stack, twice: against the
``baseline`` profile at its default height, stopping at its OOM kill, and
against the ``optimized`` profile climbing much higher. Per step it measures the
exact p95 of ``GET /api/recommendations`` (requests started in the step's second
half, after its new diners logged in) and the service's peak working set. A
profile's *capacity* is the user count of the last step before the first one
where p95 exceeds its budget (``recommendations_p95``), the service reaches its
memory cap, or it is OOM-killed. A ramp that ends before any of that says so: the capacity is then
at least its top step, not a measured limit. When the load generator
saturates, the latencies are its own and the curve says so.

Writes ``reports/out/<run-id>-capacity/`` (``capacity.json`` with sorted keys,
``capacity.md``, ``capacity.html`` with both curves side by side). Exit code 0
when both ramps ran, 1 when one could not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import plotly.graph_objects as go
import plotly.io
from docker.errors import DockerException
from markupsafe import Markup
from plotly.subplots import make_subplots

from benchmarks.budgets import DEFAULT_BUDGETS, load_budgets
from benchmarks.environment import Dataset, document_head, environment, run_id
from benchmarks.gate import seed_dataset
from benchmarks.oom import COMPARED_ENDPOINT, OOM_LOAD, KillWatch, ramp_text, stopped_by
from benchmarks.phases import PhasePlan, run_phase
from benchmarks.samples import endpoint_figures, read_samples
from containers.interrupts import ends_cleanly_on_signals
from containers.stack import Stack, StackError
from results import write
from scenarios.registry import Scenario

__all__ = ["CapacityCurve", "Step", "capacity_markdown", "curve", "main", "run_capacity"]

ROOT = Path(__file__).resolve().parent.parent
#: Users at the top of the optimised ramp (the baseline's tops at 5). On the 2-core
#: reference machine p95 passed 150 ms between 120 and 240 users (measured).
OPTIMIZED_USERS = 300
OPTIMIZED_MEASURE_S = 125.0
#: A working set this close to the cap counts as reaching it.
CAP_FRACTION = 0.95
_MIB = 2**20

Log = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    """One step of a ramp: its users and what the service did meanwhile."""

    name: str
    users: int
    start_t: float
    end_t: float
    requests: int
    failures: int
    p95_ms: float | None
    peak_working_set_bytes: int | None
    oom_killed: bool


@dataclass(frozen=True)
class CapacityCurve:
    """A profile's steps and the capacity they show."""

    profile: str
    steps: tuple[Step, ...]
    p95_limit_ms: float
    cap_bytes: int | None
    saturated: bool | None
    error: str | None

    @property
    def limit_step(self) -> Step | None:
        """The first step whose p95, memory or an OOM kill broke the limit."""
        for step in self.steps:
            if self.broke(step):
                return step
        return None

    def broke(self, step: Step) -> bool:
        memory = step.peak_working_set_bytes
        near_cap = (
            self.cap_bytes is not None
            and memory is not None
            and memory >= CAP_FRACTION * self.cap_bytes
        )
        slow = step.p95_ms is not None and step.p95_ms > self.p95_limit_ms
        return step.oom_killed or near_cap or slow

    def reason(self, step: Step) -> str:
        reasons = []
        if step.oom_killed:
            reasons.append("OOM-killed")
        if step.p95_ms is not None and step.p95_ms > self.p95_limit_ms:
            reasons.append(f"p95 {step.p95_ms:.0f} ms > {self.p95_limit_ms:.0f} ms")
        memory = step.peak_working_set_bytes
        if self.cap_bytes and memory is not None and memory >= CAP_FRACTION * self.cap_bytes:
            reasons.append(f"memory {memory / _MIB:.0f} MiB at the cap")
        return ", ".join(reasons)

    def summary(self) -> str:
        """One line: the capacity, or the bound that the ramp reached without finding it."""
        if not self.steps:
            return f"{self.profile}: not measured ({self.error or 'no step ran'})"
        limit = self.limit_step
        note = " (load generator saturated: latencies are its own)" if self.saturated else ""
        if limit is None:
            return (
                f"{self.profile}: no limit reached up to {self.steps[-1].users} users "
                f"(capacity >= {self.steps[-1].users}){note}"
            )
        held = [step.users for step in self.steps if step.start_t < limit.start_t]
        capacity = max(held) if held else 0
        killed = [step.users for step in self.steps if step.oom_killed]
        kill = f"; OOM-killed at {killed[0]} users" if killed and not limit.oom_killed else ""
        return (
            f"{self.profile}: capacity {capacity} users; at {limit.users} users "
            f"{self.reason(limit)}{kill}{note}"
        )

    def to_json(self) -> dict[str, Any]:
        limit = self.limit_step
        return {
            "profile": self.profile,
            "steps": [asdict(step) for step in self.steps],
            "p95_limit_ms": self.p95_limit_ms,
            "cap_bytes": self.cap_bytes,
            "saturated": self.saturated,
            "error": self.error,
            "limit_step": None if limit is None else limit.name,
            "summary": self.summary(),
        }


def _peak(samples: Sequence[Mapping[str, Any]], start: float, end: float) -> int | None:
    values = [
        int(sample["working_set_bytes"])
        for sample in samples
        if start <= float(sample["t"]) < end and sample.get("working_set_bytes") is not None
    ]
    return max(values) if values else None


def curve(
    profile: str,
    phase: Mapping[str, Any],
    endpoints_by_step: Mapping[str, Mapping[str, Any]],
    *,
    p95_limit_ms: float,
) -> CapacityCurve:
    """The capacity curve of a recorded phase (``endpoints_by_step``: exact figures per step)."""
    memory = (phase.get("timeline") or {}).get("memory") or {}
    containers = phase.get("containers") or {}
    services = sorted(name for name in containers if name.startswith("service-"))
    kill_times = [
        float(containers[name]["oom_kill_t"])
        for name in services
        if containers[name].get("oom_killed") and containers[name].get("oom_kill_t") is not None
    ]
    kill_t = min(kill_times) if kill_times else None
    last_t = max(
        (float(sample["t"]) for name in services for sample in memory.get(name, [])),
        default=0.0,
    )
    steps = []
    for stage in phase.get("stages") or []:
        if not stage.get("measured", True):
            continue
        start, end = float(stage["start_t"]), float(stage["end_t"])
        if start > last_t:
            break  # the load was stopped (at the kill) before this step
        figures = endpoints_by_step.get(stage["name"], {}).get(COMPARED_ENDPOINT, {})
        peaks = [_peak(memory.get(name, []), start, end) for name in services]
        known = [peak for peak in peaks if peak is not None]
        steps.append(
            Step(
                name=str(stage["name"]),
                users=int(stage["users"]),
                start_t=start,
                end_t=end,
                requests=int(figures.get("count") or 0),
                failures=int(figures.get("failures") or 0),
                p95_ms=figures.get("p95_ms"),
                peak_working_set_bytes=max(known) if known else None,
                oom_killed=kill_t is not None and start <= kill_t < end,
            )
        )
    caps = [containers[name].get("cap_bytes") for name in services]
    return CapacityCurve(
        profile=profile,
        steps=tuple(steps),
        p95_limit_ms=p95_limit_ms,
        cap_bytes=next((int(cap) for cap in caps if cap), None),
        saturated=(phase.get("load_generator") or {}).get("saturated"),
        error=phase.get("error"),
    )


def _step_figures(phase: Mapping[str, Any], samples_dir: Path) -> dict[str, dict[str, Any]]:
    """Exact figures per step, over each step's second half.

    A step's first seconds carry its new diners' logins (bcrypt on the service):
    a transient of the ramp, not the load the step holds.
    """
    samples = read_samples(samples_dir)
    started = float(phase.get("started_at") or 0.0)
    figures = {}
    for stage in phase.get("stages") or []:
        start, end = float(stage["start_t"]), float(stage["end_t"])
        middle = started + (start + end) / 2
        figures[str(stage["name"])] = endpoint_figures(samples, start=middle, end=started + end)
    return figures


def _p95_limit(budgets_path: Path) -> float:
    for budget in load_budgets(budgets_path):
        if budget.name == "recommendations_p95":
            return budget.limit
    raise ValueError(f"{budgets_path}: no recommendations_p95 budget")


def capacity_markdown(curves: Sequence[CapacityCurve], reproduce: str) -> str:
    """Both curves as markdown tables, each with its one-line capacity."""
    lines = ["## TasteMatch Bench: capacity at 1 GiB", ""]
    for item in curves:
        lines += [f"**{item.summary()}**", ""]
        lines += ["| step | users | requests | failures | p95 | service peak | limit |"]
        lines += ["|---|---|---|---|---|---|---|"]
        for step in item.steps:
            p95 = "-" if step.p95_ms is None else f"{step.p95_ms:.0f} ms"
            peak = step.peak_working_set_bytes
            memory = "-" if peak is None else f"{peak / _MIB:.0f} MiB"
            lines.append(
                f"| {step.name} | {step.users} | {step.requests} | {step.failures} | {p95} "
                f"| {memory} | {item.reason(step) if item.broke(step) else ''} |"
            )
        lines.append("")
    lines.append(f"Run again: `{reproduce}`")
    return "\n".join(lines) + "\n"


_PAGE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Capacity at 1 GiB {{ run_id }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}</style></head><body>
<h1>Capacity at 1 GiB</h1><p>Run {{ run_id }} · re-run: <code>{{ reproduce }}</code></p>
<ul>{% for line in summaries %}<li>{{ line }}</li>{% endfor %}</ul>
{{ figure }}</body></html>
"""
)


def capacity_html(curves: Sequence[CapacityCurve], *, run_id: str, reproduce: str) -> str:
    """Self-contained page: p95 and service memory against users, both profiles side by side."""
    figure = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(f"p95 of {COMPARED_ENDPOINT} (ms)", "service peak working set (MiB)"),
    )
    for item in curves:
        users = [step.users for step in item.steps]
        figure.add_trace(
            go.Scatter(x=users, y=[s.p95_ms for s in item.steps], name=f"{item.profile} p95"),
            row=1,
            col=1,
        )
        memory = [
            None if s.peak_working_set_bytes is None else s.peak_working_set_bytes / _MIB
            for s in item.steps
        ]
        figure.add_trace(go.Scatter(x=users, y=memory, name=f"{item.profile} memory"), row=1, col=2)
    if curves:
        figure.add_hline(y=curves[0].p95_limit_ms, line_dash="dash", row=1, col=1)
        cap = curves[0].cap_bytes
        if cap:
            figure.add_hline(y=cap / _MIB, line_dash="dash", row=1, col=2)
    figure.update_xaxes(title_text="users", type="log")
    figure.update_yaxes(type="log", row=1, col=1)
    html = plotly.io.to_html(figure, include_plotlyjs=True, full_html=False)
    return _PAGE.render(
        run_id=run_id,
        reproduce=reproduce,
        summaries=[item.summary() for item in curves],
        figure=Markup(html),
    )


def _ramp(
    stack: Stack, profile: str, scenario: Scenario, work_dir: Path, p95_limit_ms: float, log: Log
) -> tuple[CapacityCurve, dict[str, Any]]:
    log(f"{profile}: {ramp_text(scenario)}")
    plan = PhasePlan(profile, profile, frozenset(), scenario, gated=False)
    watch = KillWatch(stack, log)
    watch.start()
    try:
        phase = run_phase(stack, plan, work_dir=work_dir)
    except StackError as error:
        empty = CapacityCurve(profile, (), p95_limit_ms, None, None, str(error))
        return empty, {"error": str(error)}
    finally:
        watch.stop()
    result = curve(
        profile, phase, _step_figures(phase, work_dir / "samples"), p95_limit_ms=p95_limit_ms
    )
    log(result.summary())
    return result, phase


def run_capacity(
    out: Path = ROOT / "reports" / "out",
    *,
    optimized: Scenario,
    baseline: Scenario = OOM_LOAD,
    budgets_path: Path = DEFAULT_BUDGETS,
    dataset: Dataset | None = None,
    reproduce: str = "python -m benchmarks.capacity",
    log: Log = print,
) -> tuple[dict[str, Any], list[CapacityCurve], Path]:
    """Ramp the baseline, then the optimised profile, on one stack; write the run folder."""
    p95_limit = _p95_limit(budgets_path)
    optimized.stages()
    baseline.stages()
    dataset = dataset or Dataset()
    now = datetime.now(UTC)
    started = time.monotonic()
    curves: list[CapacityCurve] = []
    phases: dict[str, Any] = {}
    with Stack(profile="baseline") as stack:
        env = environment(stack, dataset, reproduce)
        run_dir = out / (run_id(now, env["commit"]) + "-capacity")
        seed_dataset(stack, dataset, log)
        for profile, scenario in (("baseline", baseline), ("optimized", optimized)):
            result, phase = _ramp(
                stack, profile, scenario, run_dir / "work" / profile, p95_limit, log
            )
            curves.append(result)
            phases[profile] = phase
    document = {
        **document_head("capacity", run_dir.name, now, env),
        "curves": [item.to_json() for item in curves],
        "phases": phases,
        "duration_s": round(time.monotonic() - started, 1),
    }
    write(run_dir / "capacity.json", document)
    (run_dir / "capacity.md").write_text(capacity_markdown(curves, reproduce), encoding="utf-8")
    (run_dir / "capacity.html").write_text(
        capacity_html(curves, run_id=run_dir.name, reproduce=reproduce), encoding="utf-8"
    )
    return document, curves, run_dir


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__)
    parser.add_argument(
        "--users", type=int, default=OPTIMIZED_USERS, help="top of the optimised ramp"
    )
    parser.add_argument(
        "--measure",
        type=float,
        default=OPTIMIZED_MEASURE_S,
        help="seconds of the optimised ramp's steps together",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "out")
    return parser


@ends_cleanly_on_signals
def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    reproduce = "python -m benchmarks.capacity"
    if options.users != OPTIMIZED_USERS or options.measure != OPTIMIZED_MEASURE_S:
        reproduce += f" --users {options.users} --measure {options.measure:g}"
    try:
        scenario = OOM_LOAD.with_overrides(users=options.users, measure_s=options.measure)
        document, curves, run_dir = run_capacity(
            options.out,
            optimized=scenario,
            reproduce=reproduce,
            log=lambda line: print(line, flush=True),
        )
    except (ValueError, StackError, DockerException) as error:
        return stopped_by(error)
    print(capacity_markdown(curves, reproduce))
    print(f"capacity: {run_dir / 'capacity.html'} ({document['duration_s']:g} s)")
    return 0 if all(item.steps for item in curves) else 1


if __name__ == "__main__":
    raise SystemExit(main())
