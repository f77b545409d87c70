"""Head run against a base run: deltas, and whether each is bigger than the noise.

How a difference is judged (after pyperf's ``CompareResult.significant``): a
change is **within noise** unless it exceeds *both* the metric's threshold and
the runs' own spread:

- threshold: ``relative`` x |base| or ``absolute`` (in the unit), whichever is
  larger — 10 % for latency and throughput (noisy on a shared 2-core machine),
  5 % for container memory (cgroup figures move with page cache), 1 % for
  memray's heap figures (allocation is deterministic, so compared tightly),
  0.02 for hit rates, and any whole step for counts (queries, connections,
  failures, OOM kills);
- spread: the larger relative spread of the two runs — a verdict's ``spread``
  ((max - min) / median of its sub-window figures), or for a micro-benchmark
  (stddev_head + stddev_base) / |base mean|.

A significant change is "better" or "worse" by the metric's direction; a
metric present in only one run is "new" or "not in base".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from reports._document import (
    EndpointFigures,
    Microbenchmark,
    Phase,
    RunDocument,
    Verdict,
)
from reports._findings import metric_of
from reports._format import format_delta

__all__ = [
    "NOISE_RULE",
    "Delta",
    "NoiseRule",
    "RunComparison",
    "compare_runs",
    "compare_values",
]

#: The rule above in one paragraph, for the report's readers.
NOISE_RULE = (
    "A delta is marked within noise unless it exceeds both a threshold (10% for latency "
    "and throughput, 5% for container memory, 1% for memray's deterministic allocation "
    "figures, 0.02 for hit rates, any whole step for counts) and the larger relative spread "
    "of the two runs' own repeated measurements."
)

Status = Literal["better", "worse", "noise", "new", "not in base", "unmeasured"]


@dataclass(frozen=True)
class NoiseRule:
    """Smallest change that counts: ``relative`` x |base| or ``absolute``, whichever is larger."""

    relative: float
    absolute: float = 0.0
    lower_is_better: bool = True


LATENCY = NoiseRule(relative=0.10)
THROUGHPUT = NoiseRule(relative=0.10, lower_is_better=False)
CONTAINER_MEMORY = NoiseRule(relative=0.05, absolute=1024**2)
ALLOCATED_MEMORY = NoiseRule(relative=0.01)
HIT_RATE = NoiseRule(relative=0.0, absolute=0.02, lower_is_better=False)
COUNT = NoiseRule(relative=0.0, absolute=0.5)
MEAN_COUNT = NoiseRule(relative=0.0, absolute=0.1)
BENCHMARK_TIME = NoiseRule(relative=0.05)


def _percent(fraction: float) -> str:
    if fraction == 0:
        return "±0%"
    return f"{fraction:+.1%}" if abs(fraction) < 0.1 else f"{fraction:+.0%}"


@dataclass(frozen=True)
class Delta:
    """One metric in both runs and what the difference means."""

    head: float | None
    base: float | None
    unit: str
    status: Status

    @property
    def change(self) -> float | None:
        if self.head is None or self.base is None:
            return None
        return self.head - self.base

    def describe(self) -> str:
        """``+12.0 MiB (+4%, worse)``, ``within noise (+1%)``, ``new``..."""
        change = self.change
        if change is None:
            return self.status
        relative = _percent(change / abs(self.base)) if self.base else ""
        amount = format_delta(change, self.unit) + (f" ({relative})" if relative else "")
        if self.status == "noise":
            return f"{amount}, within noise"
        return f"{amount}, {self.status}"


def compare_values(
    head: float | None,
    base: float | None,
    rule: NoiseRule,
    *,
    unit: str,
    spread: float = 0.0,
) -> Delta:
    """Judge ``head`` against ``base`` under ``rule`` and a relative ``spread`` (module doc)."""
    if head is None or base is None:
        status: Status = "unmeasured" if head is None else "not in base"
        return Delta(head=head, base=base, unit=unit, status=status)
    change = head - base
    threshold = max(rule.relative * abs(base), rule.absolute)
    noise = spread * abs(base)
    if abs(change) <= threshold or abs(change) <= noise:
        return Delta(head=head, base=base, unit=unit, status="noise")
    improved = (change < 0) == rule.lower_is_better
    return Delta(head=head, base=base, unit=unit, status="better" if improved else "worse")


def _verdict_rule(verdict: Verdict) -> NoiseRule:
    lower = verdict.lower_is_better
    if verdict.unit == "bytes":
        rule = ALLOCATED_MEMORY if metric_of(verdict).startswith("memray.") else CONTAINER_MEMORY
    elif verdict.unit == "ms":
        rule = LATENCY
    elif verdict.unit == "ratio":
        rule = HIT_RATE if metric_of(verdict).endswith("hit_rate") else LATENCY
    else:
        rule = COUNT
    return NoiseRule(relative=rule.relative, absolute=rule.absolute, lower_is_better=lower)


def _verdict_delta(head: Verdict, base: Verdict | None) -> Delta:
    if base is None:
        return Delta(head=head.measured, base=None, unit=head.unit, status="new")
    spread = max(head.spread or 0.0, base.spread or 0.0)
    return compare_values(
        head.measured, base.measured, _verdict_rule(head), unit=head.unit, spread=spread
    )


def _endpoint_deltas(head: EndpointFigures, base: EndpointFigures) -> dict[str, Delta]:
    return {
        "p50_ms": compare_values(head.p50_ms, base.p50_ms, LATENCY, unit="ms"),
        "p95_ms": compare_values(head.p95_ms, base.p95_ms, LATENCY, unit="ms"),
        "p99_ms": compare_values(head.p99_ms, base.p99_ms, LATENCY, unit="ms"),
        "rps": compare_values(head.rps, base.rps, THROUGHPUT, unit="rps"),
        "failures": compare_values(
            None if head.failures is None else float(head.failures),
            None if base.failures is None else float(base.failures),
            COUNT,
            unit="count",
        ),
    }


def _benchmark_delta(head: Microbenchmark, base: Microbenchmark) -> Delta:
    spread = 0.0
    if head.stddev_s is not None and base.stddev_s is not None and base.mean_s:
        spread = (head.stddev_s + base.stddev_s) / abs(base.mean_s)
    return compare_values(head.mean_s, base.mean_s, BENCHMARK_TIME, unit="s", spread=spread)


def _phase_deltas(
    head: Phase, base: Phase | None
) -> tuple[dict[str, dict[str, Delta]], dict[str, Delta]]:
    """(per endpoint, per container peak working set) of one phase."""
    if base is None:
        return {}, {}
    endpoints = {
        name: _endpoint_deltas(figures, base.endpoints[name])
        for name, figures in head.endpoints.items()
        if name in base.endpoints
    }
    containers = {
        name: compare_values(
            figures.peak_working_set_bytes,
            base.containers[name].peak_working_set_bytes,
            CONTAINER_MEMORY,
            unit="bytes",
        )
        for name, figures in head.containers.items()
        if name in base.containers
    }
    return endpoints, containers


def _verdict_key(verdict: Verdict) -> tuple[str, str]:
    return (verdict.budget, verdict.phase or "")


@dataclass(frozen=True)
class RunComparison:
    """Every delta of a head run against a base run, keyed for the templates."""

    base: RunDocument
    verdicts: dict[tuple[str, str], Delta]
    base_only_verdicts: tuple[Verdict, ...]
    endpoints: dict[str, dict[str, dict[str, Delta]]]
    containers: dict[str, dict[str, Delta]]
    memray: dict[str, Delta]
    microbenchmarks: dict[str, Delta]
    warnings: tuple[str, ...]

    def verdict(self, verdict: Verdict) -> Delta | None:
        return self.verdicts.get(_verdict_key(verdict))

    def counts(self) -> dict[str, int]:
        """How many budget deltas fall in each status (``within noise``, ``worse``...)."""
        tally: dict[str, int] = {}
        for delta in self.verdicts.values():
            label = "within noise" if delta.status == "noise" else delta.status
            tally[label] = tally.get(label, 0) + 1
        return dict(sorted(tally.items()))


def _machine_warnings(head: RunDocument, base: RunDocument) -> Iterable[str]:
    keys = ("hostname", "cpus", "memory_bytes", "platform")
    differs = [
        key
        for key in keys
        if head.environment.machine.get(key) != base.environment.machine.get(key)
    ]
    if differs:
        yield (
            "The base run was measured on a different machine ("
            + ", ".join(differs)
            + " differ): deltas compare machines as well as commits."
        )
    if head.environment.caps_bytes != base.environment.caps_bytes:
        yield "The runs had different container memory caps."
    if head.environment.dataset != base.environment.dataset:
        yield "The runs used different datasets."


def compare_runs(head: RunDocument, base: RunDocument) -> RunComparison:
    """All deltas of ``head`` against ``base`` (see the module doc for the noise rule)."""
    base_verdicts = {_verdict_key(v): v for v in base.verdicts}
    head_keys = {_verdict_key(v) for v in head.verdicts}
    endpoints: dict[str, dict[str, dict[str, Delta]]] = {}
    containers: dict[str, dict[str, Delta]] = {}
    for phase in head.phases:
        endpoints[phase.name], containers[phase.name] = _phase_deltas(phase, base.phase(phase.name))
    memray: dict[str, Delta] = {}
    if head.memray is not None and base.memray is not None:
        memray = {
            "peak_heap_bytes": compare_values(
                head.memray.peak_heap_bytes,
                base.memray.peak_heap_bytes,
                ALLOCATED_MEMORY,
                unit="bytes",
            ),
            "per_request_bytes": compare_values(
                head.memray.per_request_bytes,
                base.memray.per_request_bytes,
                ALLOCATED_MEMORY,
                unit="bytes",
            ),
        }
    base_benchmarks = {bench.name: bench for bench in base.microbenchmarks}
    return RunComparison(
        base=base,
        verdicts={
            _verdict_key(v): _verdict_delta(v, base_verdicts.get(_verdict_key(v)))
            for v in head.verdicts
        },
        base_only_verdicts=tuple(
            v for key, v in sorted(base_verdicts.items()) if key not in head_keys
        ),
        endpoints=endpoints,
        containers=containers,
        memray=memray,
        microbenchmarks={
            bench.name: _benchmark_delta(bench, base_benchmarks[bench.name])
            for bench in head.microbenchmarks
            if bench.name in base_benchmarks
        },
        warnings=tuple(_machine_warnings(head, base)),
    )
