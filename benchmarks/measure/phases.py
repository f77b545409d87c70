"""One load phase on the running stack: load, memory, metrics, Postgres and HTTP probes.

A phase restarts the service replicas with its profile and regressions, empties
the shared cache, then runs its scenario while every probe samples on the same
clock. Latencies, rates, cache hit rates and statement counts cover the measured
window only; capacity figures (peak memory, connections, OOM kills) cover the
whole phase, warm-up included. Whatever goes wrong inside the stack (an OOM kill, a dead replica) is
recorded in the phase — it is a verdict, not a crash.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import redis

from benchmarks.measure.growth import memory_growth
from benchmarks.measure.loadgen import LoadRun, run_scenario
from benchmarks.measure.metrics import (
    MetricsPoller,
    Snapshot,
    cache_figures,
    pool_capacity_per_replica,
    sql_figures,
)
from benchmarks.measure.probes import (
    PostgresProbe,
    WorkCounters,
    http_contract,
    invalidation_across_replicas,
    login,
    postgres_settings,
    sql_probe,
    work_probe,
)
from benchmarks.measure.progress import PhaseProgress
from benchmarks.measure.samples import endpoint_figures, failure_summary, request_timeline
from benchmarks.measure.traces import TraceFileError, collect_traces
from containers.memory import MemorySampler
from containers.stack import Stack, StackError
from scenarios.accounts import LOAD_TEST_PASSWORD, user_email
from scenarios.registry import Scenario
from scenarios.stages import total_duration

__all__ = ["PhasePlan", "PhaseRecord", "failed_phase", "phase_entry", "run_phase"]

#: Accounts the probes log in as: far down the Zipf ranking, so rarely used by the load.
_PROBE_ACCOUNTS = (1997, 1998, 1999)
#: Accounts the probes' writes change (onboarding, the simulation reset).
_WRITE_PROBE_ACCOUNTS = (1994, 1995, 1996)


@dataclass(frozen=True)
class PhasePlan:
    """What one phase runs: a scenario against a profile, and whether budgets judge it."""

    name: str
    profile: str
    regressions: frozenset[str]
    scenario: Scenario
    gated: bool
    #: Fit the service's memory against requests served (always done for gated phases).
    leak_test: bool = False


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


@dataclass
class _Probed:
    """What the isolated probes measured after the load, or why they could not run."""

    contract: list[dict[str, Any]]
    statements: dict[str, Any]
    work: dict[str, Any]
    error: str | None = None
    traces: dict[str, Any] = field(default_factory=dict)


def _probe_http(stack: Stack, traces_dir: Path) -> _Probed:
    """HTTP contract, isolated statement counts and the work behind single requests (and,
    on a traced stack, the spans of the statement probe's requests, copied to
    ``traces_dir``)."""
    traced: dict[str, str] = {}
    try:
        with (
            httpx.Client(timeout=30.0) as client,
            WorkCounters(stack.redis_url, stack.postgres_libpq_url) as counters,
        ):
            headers = [
                login(client, stack.service_url, user_email(index), LOAD_TEST_PASSWORD)
                for index in _PROBE_ACCOUNTS
            ]
            contract = http_contract(client, stack.service_url, headers[0])
            # The work probe sends reads only; the statement probe's writes come last and
            # change other accounts than the ones the reads measure.
            writers = [
                login(client, stack.service_url, user_email(index), LOAD_TEST_PASSWORD)
                for index in _WRITE_PROBE_ACCOUNTS
            ]
            work = work_probe(client, stack.service_urls, headers, counters)
            statements = sql_probe(client, stack.service_urls, headers, writers, traced)
            if len(stack.service_urls) > 1:  # last: its order changes the account's data
                contract.append(
                    invalidation_across_replicas(client, stack.service_urls, headers[1])
                )
    except (httpx.HTTPError, KeyError, ValueError, psycopg.Error, redis.RedisError) as error:
        return _Probed([], {}, {}, f"HTTP probes failed: {type(error).__name__}: {error}")
    try:
        traces = collect_traces(stack, traced, traces_dir) if stack.tracing else {}
    except (TraceFileError, StackError, OSError) as error:
        return _Probed(contract, statements, work, f"span files unreadable: {error}")
    return _Probed(contract, statements, work, traces=traces)


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


def run_phase(
    stack: Stack,
    plan: PhasePlan,
    *,
    work_dir: Path,
    load_workers: int = 0,
    service_image: str | None = None,
    service_env: dict[str, str] | None = None,
    traces_dir: Path | None = None,
) -> dict[str, Any]:
    """Run ``plan`` on ``stack`` (its service from ``service_image`` when given) and return
    its phase entry for the result document.

    ``load_workers`` > 0 runs Locust as a master with that many worker processes. A traced
    stack's probe spans go to ``traces_dir`` (default ``work_dir/traces``)."""
    stack.restart_services(
        profile=plan.profile,
        regressions=sorted(plan.regressions),
        service_image=service_image,
        service_env=service_env,
    )
    # Entries cached by an earlier phase would flatter this one's hit rate.
    with redis.Redis.from_url(stack.redis_url) as client:
        client.flushdb()
    postgres_url = stack.postgres_libpq_url
    sampler = MemorySampler(stack.docker_containers(), interval_s=0.25)
    connections = PostgresProbe(postgres_url)
    metrics = MetricsPoller(stack.service_urls)
    sampler.start()
    connections.start()
    metrics.start()
    progress = PhaseProgress(
        plan.name,
        total_duration(plan.scenario.stages()),
        work_dir / "samples",
        sampler.latest_working_set,
    )
    try:
        load = run_scenario(
            plan.scenario,
            host=stack.service_url,
            out_dir=work_dir,
            workers=load_workers,
            replica_urls=stack.service_urls if len(stack.service_urls) > 1 else (),
            on_tick=progress,
        )
    finally:
        progress.close()
        metrics.stop()
        connections.stop()
        sampler.stop()
    memory = sampler.result()
    end = load.started_at + load.end_s
    # An OOM kill may take one worker process and leave the container serving.
    alive = all(figures.get("exit_code") is None for figures in memory.values())
    probed = _Probed([], {}, {})
    if plan.gated:  # the contract is judged on gated phases only: skip the cost elsewhere
        if alive:
            probed = _probe_http(stack, traces_dir or work_dir / "traces")
        else:
            probed.error = "HTTP probes skipped: a container had exited"
    try:
        settings = postgres_settings(postgres_url)
    except psycopg.Error as error:
        settings = {}
        connections.errors.append(f"SHOW settings: {type(error).__name__}: {error}")
    record = PhaseRecord(
        load=load,
        memory=memory,
        memory_t0=sampler.t0,
        window=metrics.window(load.started_at + load.warmup_s, end),
        hit_rate_timeline=metrics.hit_rate_timeline(load.started_at),
        scrape_errors=sorted({e for s in metrics.snapshots for e in s.errors}),
        db_timeline=connections.timeline(load.started_at),
        # Capacity figures (peak memory, connections, OOM kills) span the whole phase: a
        # peak during the warm-up is as real as one after it. Rates and latencies do not.
        max_connections=connections.max_in(load.started_at, end),
        settings=settings,
        probe_errors=connections.errors,
        contract=probed.contract,
        statements=probed.statements,
        probe_error=probed.error,
        replicas=max(1, len(stack.service_urls)),
        work=probed.work,
        traces=probed.traces,
    )
    return phase_entry(plan, record)


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
