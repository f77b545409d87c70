"""The documents of the commands beside the gate: ``selftest.json`` and ``capacity.json``.

Their format history is that of every result document (see :mod:`results._schema`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, JsonValue

from results._base import Flag, Items, Members, Model, Number
from results._blocks import Environment, Memray
from results._phase import Phase
from results._verdicts import Verdict, VersusBase

__all__ = [
    "CapacityComparison",
    "CapacityCurve",
    "CapacityDocument",
    "CapacityLadder",
    "CapacityLadderStep",
    "CapacityStep",
    "SelftestCase",
    "SelftestCaseDocument",
    "SelftestDocument",
    "SelftestLoad",
    "SelftestMutant",
    "SelftestMutants",
]


class SelftestLoad(Model):
    scenario: str
    users: int
    warmup_s: Number
    measure_s: Number


class SelftestCaseDocument(Model):
    """What one self-test case judged: its phase and, for some cases, memray's figures."""

    phases: list[Phase]
    memray: Memray | None = None


class SelftestCase(Model):
    """One case of the self-test: which budgets it expected to fail, and which did."""

    case: str
    description: str
    regressions: list[str]
    replicas: int
    expected: list[str]
    failed: list[str]
    unmeasured: list[str]
    caught: list[str]
    contract_failures: list[str]
    ok: Flag
    not_measured: list[str]
    error: str | None
    duration_s: Number | None
    verdicts: list[Verdict]
    document: SelftestCaseDocument


class SelftestMutant(Model):
    """A code change applied to HEAD and judged against HEAD; the control is A/A."""

    mutant: str
    description: str
    control: Flag
    expected: list[str]
    failed: list[str]
    caught: list[str]
    ok: Flag
    errors: list[str]
    duration_s: Number | None
    #: The absolute budgets its rounds failed.
    verdicts: list[Verdict]
    #: Its rounds beside base's, judged by the relative limits (raw latencies left out).
    versus_base: VersusBase


class SelftestMutants(Model):
    """Every mutant's result, and the tally."""

    results: list[SelftestMutant]
    caught: int
    mutants: int
    control_passed: Flag


class SelftestDocument(Model):
    """``selftest.json``: each regression alone must fail its budget; the control must pass."""

    schema_version: int
    kind: Literal["selftest"]
    run_id: str
    created_at: str | None = None
    environment: Environment
    load: SelftestLoad
    cases: list[SelftestCase]
    caught: int
    regressions: int
    optimized_passed: Flag
    #: Since format 2: absent or null when no mutant ran.
    mutants: SelftestMutants | None = None
    passed: Flag
    duration_s: Number | None = None


class CapacityStep(Model):
    """One step of a ramp: its users and what the service did meanwhile."""

    name: str
    users: int
    start_t: Number
    end_t: Number
    requests: int
    failures: int
    p95_ms: Number | None
    peak_working_set_bytes: int | None
    oom_killed: Flag


class CapacityCurve(Model):
    """A profile's steps and the capacity they show."""

    profile: str
    steps: Items[CapacityStep] = Field(default_factory=list)
    p95_limit_ms: Number
    cap_bytes: int | None = None
    saturated: Flag | None = None
    error: str | None = None
    limit_step: str | None = None
    summary: str


class CapacityLadderStep(Model):
    """One step of an open-model ladder (``benchmarks.commands.capacity.StepResult``)."""

    name: str
    rate: Number
    pool: int
    arrivals: int
    answered: int
    failures: int
    sustained_rps: Number
    p50_ms: Number | None
    p95_ms: Number | None
    service_p95_ms: Number | None
    dispatch_lag_p95_ms: Number | None
    backlog_at_end: int
    users_in_flight: Number
    load_generator_cpu_percent: Number | None
    peak_working_set_bytes: int | None
    oom_killed: Flag
    broken: dict[str, str]
    generator_bound: Flag


class CapacityLadder(Model):
    """One ladder of constant arrival rates and the capacity it shows."""

    target: str
    profile: str
    endpoint: str
    x0_rps: Number | None
    p95_limit_ms: Number
    error: str | None
    steps: Items[CapacityLadderStep] = Field(default_factory=list)
    capacity_rps: Number | None
    capacity_rate: Number | None
    users_in_flight: Number | None
    pool: int | None
    lower_bound: Flag
    limit_step: str | None
    served_without_errors_rate: Number | None
    summary: str


class CapacityComparison(Model):
    """A ratio of two capacities; ``relation`` ``>=``/``<=`` when one of them is a bound."""

    value: Number | None
    relation: Literal["=", ">=", "<="] | None
    text: str


class CapacityDocument(Model):
    """``capacity.json`` (version 1 had no version). Since the open model (within version
    2): ``ladders``, ``ladder_runs`` and ``comparisons``, and ``curves`` is empty."""

    schema_version: int = 1
    kind: Literal["capacity"]
    run_id: str
    created_at: str | None = None
    environment: Environment
    curves: list[CapacityCurve] = Field(default_factory=list)
    phases: Members[Phase] = Field(default_factory=dict)
    ladders: list[CapacityLadder] = Field(default_factory=list)
    #: Per ladder: the Locust run behind it (exit code, log, sample accounting, settings).
    ladder_runs: dict[str, JsonValue] = Field(default_factory=dict)
    comparisons: list[CapacityComparison] = Field(default_factory=list)
    duration_s: Number | None = None
