"""A phase's entry in the result document, from what :func:`~benchmarks.measure.phases.run_phase`
measured: its containers' memory and growth, its endpoints' exact figures, its timelines,
the probes' figures and what went wrong."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.measure.growth import memory_growth
from benchmarks.measure.loadgen import LoadRun
from benchmarks.measure.metrics import (
    Snapshot,
    cache_figures,
    pool_capacity_per_replica,
    sql_figures,
)
from benchmarks.measure.samples import endpoint_figures, failure_summary, request_timeline

if TYPE_CHECKING:
    from benchmarks.measure.phases import PhasePlan

__all__ = ["PhaseRecord", "failed_phase", "phase_entry"]


def _role(name: str) -> str:
    return name.split("-")[0]


def _containers(memory: dict[str, dict[str, Any]], shift: float) -> dict[str, Any]:
    """Per container: the summary the budgets read (``t`` on the phase clock)."""
    summary: dict[str, Any] = {}
    for name, figures in memory.items():
        kill_t = figures.get("oom_kill_t")
        summary[name] = {
            "role": _role(name),
            "cap_bytes": figures.get("cap_bytes"),
            "peak_working_set_bytes": figures.get("peak_working_set_bytes"),
            "peak_usage_bytes": figures.get("peak_usage_bytes"),
            "cgroup_peak_bytes": figures.get("cgroup_peak_bytes"),
            "oom_killed": bool(figures.get("oom_killed")),
            "oom_kill_t": None if kill_t is None else round(float(kill_t) + shift, 3),
            "exit_code": figures.get("exit_code"),
        }
    return summary


def _growth(
    figures: dict[str, Any], shift: float, load: LoadRun, replicas: int
) -> dict[str, Any] | None:
    """Working set against requests served by this replica, after the warm-up (phase clock):
    the load sends each request to a replica picked at random, so each serves 1/N."""
    samples = figures.get("samples", [])
    return memory_growth(
        [float(sample["t"]) + shift for sample in samples],
        [
            np.nan if (value := sample.get("working_set_bytes")) is None else float(value)
            for sample in samples
        ],
        load.samples.t - load.started_at,
        start=load.warmup_s,
        end=load.end_s,
        share=1 / max(1, replicas),
    )


def _memory_timeline(memory: dict[str, dict[str, Any]], shift: float) -> dict[str, Any]:
    return {
        name: [
            {
                "t": round(float(sample["t"]) + shift, 3),
                "usage_bytes": sample.get("usage_bytes"),
                "working_set_bytes": sample.get("working_set_bytes"),
                "rss_bytes": sample.get("rss_bytes"),
            }
            for sample in figures.get("samples", [])
        ]
        for name, figures in memory.items()
    }


def _users_timeline(load: LoadRun) -> list[dict[str, Any]]:
    """Running users per second, from Locust's stats history."""
    path = load.log_path.parent / "locust_stats_history.csv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return [
            {
                "t": round(float(row["Timestamp"]) - load.started_at, 3),
                "users": int(row["User Count"]),
            }
            for row in csv.DictReader(handle)
            if row.get("Name") == "Aggregated"
        ]


def _stages(load: LoadRun) -> list[dict[str, Any]]:
    stages, start = [], 0.0
    for stage in load.stages:
        stages.append(
            {
                "name": stage.name,
                "start_t": round(start, 3),
                "end_t": round(start + stage.duration_s, 3),
                "users": stage.users,
                "measured": stage.measured,
            }
        )
        start += stage.duration_s
    return stages


def _phase_error(
    load: LoadRun, containers: dict[str, Any], measured_requests: int, probe_error: str | None
) -> str | None:
    reasons = []
    if load.timed_out:
        reasons.append(f"Locust outlived its load shape and was stopped (see {load.log_path})")
    for name, figures in containers.items():
        if figures["oom_killed"]:
            reasons.append(f"{name} was OOM-killed at t={figures['oom_kill_t']} s")
        elif figures["exit_code"] is not None:
            reasons.append(f"{name} exited (code {figures['exit_code']}) during the phase")
    if measured_requests == 0:
        reasons.append(f"no request completed in the measured window (see {load.log_path})")
    reasons += [f"load generator: {problem}" for problem in load.accounting.problems()]
    if probe_error:
        reasons.append(probe_error)
    return "; ".join(reasons) or None


def _heading(plan: PhasePlan, error: str | None) -> dict[str, Any]:
    """What every phase entry starts with: what ran, and why it failed (or ``None``)."""
    return {
        "name": plan.name,
        "profile": plan.profile,
        "regressions": sorted(plan.regressions),
        "scenario": plan.scenario.name,
        "gated": plan.gated,
        "error": error,
        "users": plan.scenario.users,
    }


@dataclass(frozen=True)
class PhaseRecord:
    """What one phase measured, before it becomes the phase's entry in the result document.

    Times are epoch seconds; :func:`phase_entry` puts them on the phase's clock.
    """

    load: LoadRun
    #: ``MemorySampler.result()``, and the sampler's own clock origin (``None``: the load's).
    memory: dict[str, dict[str, Any]]
    memory_t0: float | None
    #: The ``/metrics`` snapshots bounding the measured window, if two were usable.
    window: tuple[Snapshot, Snapshot] | None
    hit_rate_timeline: list[dict[str, object]]
    scrape_errors: list[str]
    db_timeline: list[dict[str, Any]]
    max_connections: int | None
    settings: dict[str, str]
    probe_errors: list[str]
    contract: list[dict[str, Any]]
    statements: dict[str, Any]
    probe_error: str | None
    replicas: int
    #: Redis commands and Postgres rows and pages behind single requests (``work_probe``).
    work: dict[str, Any] = field(default_factory=dict)
    #: A traced stack's spans: ``probe`` (the statement probe's requests) and
    #: ``waterfalls`` (the load's, per endpoint), from ``benchmarks.measure.traces.collect_traces``.
    traces: dict[str, Any] = field(default_factory=dict)


def phase_entry(plan: PhasePlan, record: PhaseRecord) -> dict[str, Any]:
    """The phase's entry in the result document, from what it measured."""
    load = record.load
    shift = float(record.memory_t0 or load.started_at) - load.started_at
    containers = _containers(record.memory, shift)
    # The leak test needs the gated phase's full-length load: a short phase serves too few
    # requests for a slope per request to mean anything.
    for name, figures in containers.items():
        if (plan.gated or plan.leak_test) and figures["role"] == "service":
            figures["growth"] = _growth(record.memory[name], shift, load, record.replicas)
    start, end = load.started_at + load.warmup_s, load.started_at + load.end_s
    window = record.window
    max_connections = record.max_connections
    measured = load.samples.between(start, end)
    return {
        **_heading(plan, _phase_error(load, containers, len(measured), record.probe_error)),
        "replicas": record.replicas,
        "warmup_s": load.warmup_s,
        "measure_s": load.end_s - load.warmup_s,
        "started_at": load.started_at,
        "stages": _stages(load),
        "endpoints": endpoint_figures(load.samples, start=start, end=end),
        "timeline": {
            "requests": request_timeline(load.samples, started_at=load.started_at),
            "memory": _memory_timeline(record.memory, shift),
            "cache_hit_rate": record.hit_rate_timeline,
            "db_connections": record.db_timeline,
            "users": _users_timeline(load),
        },
        "containers": containers,
        "cache": cache_figures(*window) if window else {},
        "sql_per_request": sql_figures(*window) if window else {},
        "sql_probe": record.statements,
        "work_probe": record.work,
        "trace_probe": record.traces.get("probe", {}),
        "trace_waterfalls": record.traces.get("waterfalls", {}),
        "db": {
            "max_connections_in_use": max_connections,
            "connections_per_replica": (
                None if max_connections is None else max_connections / record.replicas
            ),
            "pool_capacity_per_replica": (
                pool_capacity_per_replica(window[1], record.replicas) if window else None
            ),
            "settings": record.settings,
            "probe_errors": record.probe_errors,
        },
        "http_contract": record.contract,
        "load_generator": load.load_generator(),
        "failures": failure_summary(measured),
        "locust": {"exit_code": load.exit_code, "timed_out": load.timed_out},
        "metrics_scrape_errors": record.scrape_errors[:10],
    }


def failed_phase(plan: PhasePlan, error: str) -> dict[str, Any]:
    """The entry of a phase that could not run at all (its budgets then fail, naming why)."""
    return {
        **_heading(plan, error),
        "warmup_s": plan.scenario.warmup_s,
        "measure_s": plan.scenario.measure_s,
        "started_at": None,
        "stages": [],
        "endpoints": {},
        "timeline": {},
        "containers": {},
        "cache": {},
        "sql_per_request": {},
        "sql_probe": {},
        "work_probe": {},
        "trace_probe": {},
        "trace_waterfalls": {},
        "db": {},
        "http_contract": [],
        "load_generator": {},
        "failures": [],
    }
