"""The run-wide blocks of a result document, beside its phases and verdicts.

Where and on what the run happened (``environment``), the service's heap (``memray``), the
micro-benchmarks and their status, the optimised-over-baseline ``comparison`` and the
PgBouncer comparison (``pgbouncer``). Their format history is in :mod:`results._schema`.
"""

from __future__ import annotations

from results._base import Flag, Items, Members, Model, Number, Scalar, Text
from results._phase import Growth

__all__ = [
    "Allocation",
    "Comparison",
    "Environment",
    "Memray",
    "Microbenchmark",
    "MicrobenchmarksStatus",
    "PgBouncerComparison",
    "PgBouncerSide",
]


class Environment(Model):
    """Where and on what the run happened, and the command that runs it again."""

    commit: str | None = None
    dirty: Flag | None = None
    branch: str | None = None
    machine: Members[Scalar] = {}
    images: Members[Scalar] = {}
    caps_bytes: Members[Number | None] = {}
    dataset: Members[Scalar] = {}
    reproduce: str | None = None


class Allocation(Model):
    location: str
    bytes: Number | None = None
    count: int | None = None


class Memray(Model):
    """The service's heap under load (peak, top sites at the peak) and one request's allocation."""

    peak_heap_bytes: Number | None = None
    per_request_bytes: Number | None = None
    #: Peak bytes of each traced request, alone (``recommendations``, ``insight``, ...).
    per_endpoint_bytes: Members[Number] = {}
    total_allocations: int | None = None
    #: Heap against requests served after the load's warm-up (the leak test).
    heap_growth: Growth | None = None
    top_allocations: Items[Allocation] = []
    per_request_top_allocations: Items[Allocation] = []
    #: The OOM run: memray's innermost frames at the peak (``top_allocations`` are the
    #: service's own call sites there).
    innermost_allocations: Items[Allocation] = []
    request: str | None = None
    flamegraph: str | None = None
    oom_killed: Flag | None = None
    load: Members[Scalar] = {}
    errors: Items[Scalar] = []


class Microbenchmark(Model):
    name: str
    group: Text = ""
    description: Text = ""
    mean_s: Number | None = None
    median_s: Number | None = None
    stddev_s: Number | None = None
    min_s: Number | None = None
    max_s: Number | None = None
    rounds: int | None = None

    @property
    def spread(self) -> float | None:
        """Standard deviation over mean: pyperf warns at 10 % and more."""
        if self.stddev_s is None or not self.mean_s:
            return None
        return self.stddev_s / self.mean_s


class MicrobenchmarksStatus(Model):
    """Whether every micro-benchmark ran (``None``: not measured), and why not."""

    failed: Flag | None = None
    error: str | None = None


class Comparison(Model):
    """Optimised over baseline p95 of one endpoint, both measured in the same run."""

    scenario: str | None = None
    endpoint: str | None = None
    users: int | None = None
    optimized_p95_ms: Number | None = None
    baseline_p95_ms: Number | None = None
    ratio: Number | None = None
    errors: Members[Scalar] = {}


class PgBouncerSide(Model):
    """One side of the PgBouncer comparison: a phase's Postgres and latency figures."""

    phase: str | None = None
    error: str | None = None
    replicas: int | None = None
    #: Connections the replicas' pools may open together.
    pools_add_up_to: Number | None = None
    postgres_backends: Number | None = None
    postgres_peak_working_set_bytes: Number | None = None
    p95_ms: Members[Number | None] = {}
    failures: int | None = None


class PgBouncerComparison(Model):
    """The gated phase and the same load through PgBouncer (``benchmarks.measure.pgbouncer``)."""

    pool_size: int | None = None
    direct: PgBouncerSide | None = None
    pgbouncer: PgBouncerSide | None = None
    errors: Items[str] = []
