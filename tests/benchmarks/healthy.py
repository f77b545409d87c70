"""Figures of a healthy run that the newer budgets read, for hand-built test documents."""

from __future__ import annotations

from typing import Any

MIB = 1024**2

#: The work probe of a clean gate run (2026-12-03): every work budget holds.
WORK_PROBE: dict[str, Any] = {
    "GET /api/recommendations repeated": {"redis_commands": {"max": 1}},
    "GET /api/recommendations again": {"redis_commands": {"max": 0}},
    "GET /api/recommendations uncached": {
        "redis_commands": {"max": 19},
        "pg_rows": {"median": 13},
        "pg_buffer_bytes": {"median": 376 * 1024},
    },
    "GET /api/restaurants repeated": {"redis_commands": {"max": 1}},
    "GET /api/restaurants uncached": {
        "redis_commands": {"max": 5},
        "pg_rows": {"median": 20},
        "pg_buffer_bytes": {"median": 20_480_000},
    },
}


#: The traced probe requests of a clean gate run: every span budget holds.
TRACE_PROBE: dict[str, Any] = {
    "GET /api/orders": {"count": 3, "missing": 0, "db_spans_max": 2, "redis_spans_max": 0},
    "GET /api/recommendations uncached": {"count": 3, "missing": 0, "db_spans_max": 4},
    "GET /api/recommendations repeated": {"count": 3, "missing": 0, "db_spans_max": 0},
}


def growth(ci95_low_mib: float) -> dict[str, Any]:
    """A growth fit (benchmarks/measure/growth.py) whose slope's lower bound is ``ci95_low_mib``."""
    return {
        "bytes_per_10k_requests": (ci95_low_mib + 1) * MIB,
        "ci95_low_bytes_per_10k_requests": ci95_low_mib * MIB,
        "ci95_high_bytes_per_10k_requests": (ci95_low_mib + 2) * MIB,
        "bins": 12,
        "requests": 6000,
    }


def saturation_phase() -> dict[str, Any]:
    """The gate's closed-loop phase near the service's capacity, healthy."""
    return {
        "name": "saturation",
        "profile": "optimized",
        "gated": False,
        "error": None,
        "containers": {"service-0": {"peak_working_set_bytes": 160 * MIB, "growth": growth(1)}},
        "endpoints": {"GET /api/recommendations": {"failures": 0, "p95_ms": 60.0}},
        "load_generator": {"saturated": False},
    }


def pgbouncer_phase() -> dict[str, Any]:
    """The gate's run of the gated load through PgBouncer, healthy."""
    return {
        "name": "pgbouncer",
        "profile": "optimized",
        "gated": False,
        "error": None,
        "replicas": 2,
        "db": {"max_connections_in_use": 4, "pool_capacity_per_replica": 4.0},
        "endpoints": {"GET /api/recommendations": {"failures": 0, "p95_ms": 30.0}},
    }
