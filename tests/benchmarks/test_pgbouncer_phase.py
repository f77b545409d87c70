"""The gate's PgBouncer phase beside its gated phase: the side-by-side block."""

from __future__ import annotations

from typing import Any

from benchmarks.commands.gate import GateOptions, reproduce
from benchmarks.judge.budgets import load_budgets
from benchmarks.measure.pgbouncer import BUDGETS, PHASE, POOL_SIZE, side_by_side
from results import RunDocument

MiB = 1024**2


def _phase(name: str, backends: int, p95: float, failures: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "replicas": 2,
        "error": None,
        "db": {"max_connections_in_use": backends, "pool_capacity_per_replica": 4},
        "containers": {"postgres": {"peak_working_set_bytes": 90 * MiB}},
        "endpoints": {"GET /api/recommendations": {"p95_ms": p95, "failures": failures}},
    }


def test_both_phases_side_by_side() -> None:
    phases = [_phase("optimized", 7, 20.0), _phase(PHASE, 4, 31.0, failures=2)]

    block = side_by_side(phases, "optimized")

    assert block["pool_size"] == POOL_SIZE
    assert block["errors"] == []
    direct, pooled = block["direct"], block["pgbouncer"]
    assert (direct["postgres_backends"], pooled["postgres_backends"]) == (7, 4)
    assert direct["pools_add_up_to"] == pooled["pools_add_up_to"] == 8
    assert pooled["p95_ms"] == {"GET /api/recommendations": 31.0}
    assert (direct["failures"], pooled["failures"]) == (0, 2)
    assert direct["postgres_peak_working_set_bytes"] == 90 * MiB


def test_a_phase_that_did_not_run_is_named() -> None:
    block = side_by_side([_phase("optimized", 7, 20.0)], "optimized")
    assert block["pgbouncer"] is None
    assert block["errors"] == [f"phase {PHASE} did not run"]


def test_the_block_fits_the_document_schema() -> None:
    phases = [_phase("optimized", 7, 20.0), _phase(PHASE, 4, 31.0)]
    block = RunDocument.model_validate(
        {
            "schema_version": 2,
            "run_id": "r",
            "environment": {},
            "phases": [],
            "verdicts": [],
            "pgbouncer": side_by_side(phases, "optimized"),
        }
    ).pgbouncer
    assert block is not None
    assert block.pgbouncer is not None
    assert block.pgbouncer.postgres_backends == 4


def test_the_backend_budget_is_pgbouncers_pool() -> None:
    budgets = {budget.name: budget for budget in load_budgets()}
    assert set(BUDGETS) <= set(budgets)
    assert budgets["pgbouncer_postgres_backends"].limit == POOL_SIZE
    assert budgets["pgbouncer_postgres_backends"].metric.startswith(f"phases.{PHASE}.")


def test_skipping_it_and_the_replicas_are_reproduced() -> None:
    assert "--skip-pgbouncer" in reproduce(GateOptions(skip_pgbouncer=True))
    assert "--replicas 1" in reproduce(GateOptions(replicas=1))
    assert reproduce(GateOptions()) == "make bench"
