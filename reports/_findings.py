"""What a verdict points at: the containers and endpoints a budget judges, and for a
failure, when it happened (peak, OOM kill, worst window) and where in the code
(memray's largest allocation site).

A verdict carries its budget's metric and the concrete paths that metric matched
(``containers.<name>.peak_working_set_bytes``, ``endpoints.<name>.p95_ms``), so the
link follows the paths, never the budget's name. Version-1 documents have neither:
their verdicts link to nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from reports._document import ContainerFigures, Phase, RunDocument, Verdict
from reports._format import format_value

__all__ = [
    "budget_containers",
    "budget_endpoints",
    "is_memory_budget",
    "metric_of",
    "verdict_findings",
]


def metric_of(verdict: Verdict) -> str:
    """The budget's dotted metric path (empty for a version-1 verdict)."""
    return verdict.metric or ""


def _matched(verdict: Verdict, section: str) -> set[str]:
    """The keys under ``section`` of every path the verdict matched (``section.<key>.field``)."""
    prefix = section + "."
    return {
        path.removeprefix(prefix).rsplit(".", 1)[0]
        for path in verdict.paths
        if path.startswith(prefix) and "." in path.removeprefix(prefix)
    }


def is_memory_budget(verdict: Verdict) -> bool:
    return verdict.unit == "bytes" and metric_of(verdict).startswith("containers.")


def budget_containers(
    verdict: Verdict, containers: Iterable[ContainerFigures]
) -> list[ContainerFigures]:
    """The containers whose working set ``verdict`` judges (those its paths matched)."""
    if not is_memory_budget(verdict):
        return []
    names = _matched(verdict, "containers")
    return [c for c in containers if c.name in names]


def budget_endpoints(verdict: Verdict, endpoints: Iterable[str]) -> list[str]:
    """The endpoints whose percentile ``verdict`` judges (those its paths matched)."""
    if verdict.unit != "ms":
        return []
    names = _matched(verdict, "endpoints")
    return [name for name in endpoints if name in names]


def _when(phase: Phase, t: float) -> str:
    stage = phase.stage_at(t)
    return f"at {t:.1f} s" + (f" ({stage})" if stage else "")


def _oom_findings(phase: Phase) -> list[str]:
    return [
        f"{c.name} was OOM-killed"
        + (f" {_when(phase, c.oom_kill_t)}" if c.oom_kill_t is not None else "")
        + (f", exit code {c.exit_code}" if c.exit_code is not None else "")
        for c in phase.containers.values()
        if c.oom_killed
    ]


def _peak_findings(phase: Phase, verdict: Verdict) -> list[str]:
    notes = []
    for container in budget_containers(verdict, phase.containers.values()):
        samples = [s for s in phase.memory.get(container.name, ()) if s.working_set_bytes]
        if samples:
            peak = max(samples, key=lambda s: s.working_set_bytes or 0.0)
            notes.append(
                f"{container.name} peaked at {format_value(peak.working_set_bytes, 'bytes')} "
                + _when(phase, peak.t)
            )
    return notes


def _latency_findings(phase: Phase, verdict: Verdict) -> list[str]:
    notes = []
    key = "p99_ms" if metric_of(verdict).endswith(".p99_ms") else "p95_ms"
    for endpoint in budget_endpoints(verdict, phase.requests):
        windows = [w for w in phase.requests[endpoint] if getattr(w, key) is not None]
        if windows:
            worst = max(windows, key=lambda w: float(getattr(w, key)))
            notes.append(
                f"worst one-second {key.removesuffix('_ms')} of {endpoint}: "
                f"{format_value(getattr(worst, key), 'ms')} {_when(phase, worst.t)}"
            )
    return notes


def _containers(run: RunDocument) -> list[ContainerFigures]:
    return [c for phase in run.phases for c in phase.containers.values()]


def verdict_findings(run: RunDocument, verdict: Verdict) -> list[str]:
    """Short notes locating a verdict's figure in time and in the code (may be empty)."""
    notes: list[str] = []
    phase = run.phase(verdict.phase)
    if phase is not None:
        if verdict.unit == "bytes" or "oom_killed" in metric_of(verdict):
            notes += _oom_findings(phase)
        notes += _peak_findings(phase, verdict)
        notes += _latency_findings(phase, verdict)
    memory_related = verdict.unit == "bytes" and (
        metric_of(verdict).startswith("memray.")
        or any(c.role == "service" for c in budget_containers(verdict, _containers(run)))
    )
    if memory_related and run.memray is not None and run.memray.top_allocations:
        site = max(run.memray.top_allocations, key=lambda a: a.bytes or 0.0)
        notes.append(
            f"largest allocation site (memray): {site.location}, "
            f"{format_value(site.bytes, 'bytes')}"
        )
    return notes
