"""The gate's PgBouncer phase: the gated load again, with PgBouncer before Postgres.

The fix plan bounds Postgres's connections by a pool per replica; PgBouncer
(transaction pooling) bounds them for every replica at once, whatever their pools add
up to. After the gated phase the gate starts PgBouncer on the same stack, with a pool
of :data:`POOL_SIZE` Postgres connections (half of what the gated topology's two
replicas' pools add up to), and runs the same scenario (shortened to at most
:data:`WARMUP_S` and :data:`MEASURE_S`) with the replicas connecting through it; then it removes
PgBouncer again, so no later phase counts its idle connections. The document's
``pgbouncer`` block puts both phases side by side: Postgres backends, Postgres memory
and p95 per endpoint. Its budgets (``pgbouncer_*`` in ``budgets.toml``) read the phase
by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["BUDGETS", "MEASURE_S", "PHASE", "POOL_SIZE", "WARMUP_S", "side_by_side"]

#: The phase's name in the result document.
PHASE = "pgbouncer"
#: Postgres connections PgBouncer may open during the phase (``budgets.toml``'s limit of
#: ``pgbouncer_postgres_backends``).
POOL_SIZE = 4
#: Seconds of warm-up and measured at most (less when the gated scenario is shorter).
#: Its budgets (backends, failures) need the load, not a long window: 5 s bring the
#: scenario's users in, and 10 s give ~800 requests.
WARMUP_S = 5.0
MEASURE_S = 10.0
#: The budgets that read the phase: "not run" when the gate skips it.
BUDGETS = ("pgbouncer_postgres_backends", "pgbouncer_failed_requests")


def _side(phase: Mapping[str, Any]) -> dict[str, Any]:
    db = phase.get("db") or {}
    postgres = (phase.get("containers") or {}).get("postgres") or {}
    pool = db.get("pool_capacity_per_replica")
    replicas = phase.get("replicas") or 1
    return {
        "phase": phase.get("name"),
        "error": phase.get("error"),
        "replicas": replicas,
        "pools_add_up_to": None if pool is None else pool * replicas,
        "postgres_backends": db.get("max_connections_in_use"),
        "postgres_peak_working_set_bytes": postgres.get("peak_working_set_bytes"),
        "p95_ms": {
            endpoint: figures.get("p95_ms")
            for endpoint, figures in sorted((phase.get("endpoints") or {}).items())
        },
        "failures": sum(
            int(figures.get("failures") or 0) for figures in (phase.get("endpoints") or {}).values()
        ),
    }


def side_by_side(
    phases: Sequence[Mapping[str, Any]], direct: str, pool_size: int = POOL_SIZE
) -> dict[str, Any]:
    """The ``pgbouncer`` block: phase ``direct`` and the PgBouncer phase, figure by figure."""
    by_name = {phase.get("name"): phase for phase in phases}
    missing = [name for name in (direct, PHASE) if name not in by_name]
    return {
        "pool_size": pool_size,
        "direct": _side(by_name[direct]) if direct in by_name else None,
        "pgbouncer": _side(by_name[PHASE]) if PHASE in by_name else None,
        "errors": [f"phase {name} did not run" for name in missing],
    }
