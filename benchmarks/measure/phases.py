"""One load phase on the running stack: load, memory, metrics, Postgres and HTTP probes.

A phase restarts the service replicas with its profile and regressions, empties
the shared cache, then runs its scenario while every probe samples on the same
clock. Latencies, rates, cache hit rates and statement counts cover the measured
window only; capacity figures (peak memory, connections, OOM kills) cover the
whole phase, warm-up included. Whatever goes wrong inside the stack (an OOM kill, a dead replica) is
recorded in the phase — it is a verdict, not a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from benchmarks.measure.loadgen import run_scenario
from benchmarks.measure.metrics import (
    MetricsPoller,
)
from benchmarks.measure.phase_entry import PhaseRecord, phase_entry
from benchmarks.measure.probes import (
    PostgresProbe,
    http_contract,
    invalidation_across_replicas,
    login,
    postgres_settings,
)
from benchmarks.measure.progress import PhaseProgress
from benchmarks.measure.traces import TraceFileError, collect_traces
from benchmarks.measure.work import WorkCounters, sql_probe, work_probe
from containers.errors import StackError
from containers.memory import MemorySampler
from containers.stack import Stack
from scenarios.accounts import LOAD_TEST_PASSWORD, user_email
from scenarios.registry import Scenario
from scenarios.stages import total_duration

__all__ = ["PhasePlan", "run_phase"]

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
