"""The result documents as typed models: one schema for every command that writes one.

A gate run writes ``result.json``; ``make oom`` writes the same shape with an
``oom`` block; ``make selftest`` writes ``selftest.json`` and ``make capacity``
``capacity.json``. Budgets are judged and reports rendered from these documents
alone, so this module is the one place their shape is written down (the models of
their parts are in :mod:`results._phase`, :mod:`results._blocks` and
:mod:`results._verdicts`). Readers check a document against these models and name the
first field that does not fit.

Format history (``schema_version``):

1. First version: ``environment``, ``phases`` (per load run: ``stages`` with
   ``measured``, exact per-endpoint figures of the measured window with
   ``p95_ms_windows``/``p99_ms_windows`` (the percentile in each third of the
   window, for the stability warning), ``timeline``, ``containers``, ``cache``,
   ``sql_per_request``, ``sql_probe`` (statement counts of single requests sent
   with no other traffic), ``db``, ``http_contract``, ``load_generator``,
   ``failures``, ``gated`` (held to the per-phase budgets), ``error`` (why it
   produced no figures, or ``null``), ``locust``, ``metrics_scrape_errors``),
   ``memray`` (with ``errors``), ``microbenchmarks`` and ``microbenchmarks_status``
   (``failed``, ``error``: whether every micro-benchmark ran, and why not),
   ``comparison`` (with ``endpoint``, ``errors``), ``verdicts``, ``passed``,
   ``duration_s``. A verdict's ``spread`` is relative: (max - min) / median of its
   sub-window figures. The OOM run adds ``oom``; the self-test document has
   ``kind: "selftest"``; the capacity document (``kind: "capacity"``) had no
   ``schema_version``. (The report of version 1 read ``microbenchmarks_error``,
   a key the gate never wrote: version-1 documents are read through
   ``microbenchmarks_status``.)
2. Every document carries ``kind`` (``gate``, ``oom``, ``selftest``, ``capacity``)
   and ``schema_version``. Each verdict carries ``metric`` (the budget's dotted
   path) and ``paths`` (every concrete path it matched, relative to the phase, or
   to the document for a run-wide budget), so a reader links a verdict to its
   containers and endpoints without parsing budget names. A phase carries
   ``work_probe`` (Redis commands, Postgres rows and page bytes of single requests,
   the miss ones on an emptied cache); the service containers of a gated phase, and
   ``memray``, carry ``growth`` / ``heap_growth`` (memory fitted against requests
   served after the warm-up, with the 95 % confidence interval of the slope).
   Endpoint percentiles carry ``p95_ms_ci95`` / ``p99_ms_ci95`` (bootstrap 95 %
   confidence intervals); a verdict on one carries ``ci95`` and is ``unstable`` when
   its limit lies inside it (``spread`` is then the interval's width relative to the
   figure). Version-1 verdicts kept the sub-window rule: ``unstable`` when the
   sub-window figures spread 10 % or more of their median. Added later within version 2
   (optional, so older version-2 documents still read): ``memray.per_endpoint_bytes``
   (each traced request's peak), and ``versus_base``, the block of a run with
   ``--base REF``: both revisions, the interleaved ``rounds`` (each with the figures the
   relative limits read), ``pairs`` of consecutive base/head rounds, raw ``samples``
   (response times per round and endpoint) and the relative ``verdicts`` with one row
   per figure (base, head, ratio, ``ci95`` of the ratio, ``p_value``, ``pair_ratios``).
   ``versus_base.microbenchmarks``: the base's micro-benchmarks and both sides' round
   times. In ``selftest.json``: ``mutants``, each mutant of HEAD with its ``versus_base`` block
   (raw samples left out), the absolute verdicts its rounds failed, and the tally. A phase's
   ``trace_probe``: per statement-probe request, the database and Redis spans beneath its
   server span on a traced stack (``count``, ``missing``, ``db_spans_max``,
   ``db_spans_mean``, ``redis_spans_max``; empty when the stack did not trace) and
   ``trace_waterfalls``: per endpoint, the load's traced requests (2 % sampled): how many,
   and the median-duration and the slowest one as waterfalls (spans with ``kind``,
   ``depth``, ``start_ms``, ``duration_ms`` on the request's clock). The ``faults``
   document (``make faults``) has the gate's shape: one ungated phase per fault, each
   with a ``fault`` entry, and the same entries in ``faults`` (``benchmarks.measure.recovery``:
   ``injected_at_s``/``healed_at_s`` on the phase's clock, ``before``/``during``/``after``
   windows, ``recovery_ms``, ``settled_failures``, ``acknowledged_orders``). A faults
   run of some faults only (``--only``) names the others in ``faults_not_run``; a budget
   that reads only their entries was not run: its verdict's ``passed`` is ``null``
   (neither passed nor failed, and not counted either way), its ``explanation`` says why.
   A phase carries ``replicas`` (service replicas that served its load) and its cache
   figures ``cross_replica_hits`` / ``cross_replica_hit_share`` (hits on entries another
   replica wrote); a phase budget with ``min_replicas`` is not run on a phase with fewer.
   A latency row of a relative verdict carries ``pairs_low``: the lower confidence bound
   of its pairs' geometric mean head/base ratio (``null`` with fewer than 3 pairs).
   The gate's ``pgbouncer`` block: the gated phase and the ``pgbouncer`` phase (the same
   load through PgBouncer) side by side (``pool_size``, ``direct``, ``pgbouncer``).
   ``capacity.json`` of the open model: ``ladders`` (per ladder of constant arrival
   rates: its ``steps`` with ``broken`` rules and ``generator_bound``, ``capacity_rps``,
   ``lower_bound``), ``ladder_runs`` (the Locust run behind each) and ``comparisons``
   (the profile ratio, the fraction of ``/health/live``); its ``curves`` is empty.

Version-1 documents are still read: their ``kind`` is inferred (``oom`` when an
``oom`` block is present, else ``gate``) and their verdicts have no ``metric``
(``null``) and no ``paths`` (empty).
"""

from __future__ import annotations

from typing import Literal

from pydantic import JsonValue

from results._base import Flag, Items, Members, Model, Number
from results._blocks import (
    Comparison,
    Environment,
    Memray,
    Microbenchmark,
    MicrobenchmarksStatus,
    PgBouncerComparison,
)
from results._phase import Phase
from results._verdicts import Verdict, VersusBase

__all__ = [
    "SCHEMA_VERSION",
    "SUPPORTED_SCHEMA_VERSIONS",
    "Kind",
    "RunDocument",
]

SCHEMA_VERSION = 2
SUPPORTED_SCHEMA_VERSIONS = (1, 2)

Kind = Literal["gate", "oom", "selftest", "capacity"]


class RunDocument(Model):
    """A gate run's ``result.json`` (``kind`` ``gate``), an OOM run's (``oom``) or a faults
    run's (``faults``)."""

    schema_version: int
    kind: Literal["gate", "oom", "faults"] = "gate"
    run_id: str
    created_at: str | None = None
    environment: Environment
    phases: list[Phase]
    verdicts: list[Verdict]
    memray: Memray | None = None
    microbenchmarks: Items[Microbenchmark] = []
    microbenchmarks_status: MicrobenchmarksStatus | None = None
    comparison: Comparison | None = None
    #: A run with ``--base REF`` (``None`` otherwise).
    versus_base: VersusBase | None = None
    #: The gated phase beside the same load through PgBouncer (``None``: not run).
    pgbouncer: PgBouncerComparison | None = None
    passed: Flag | None = None
    duration_s: Number | None = None
    #: Where the OOM run's kill landed and how to run it again (``kind`` ``oom`` only).
    oom: Members[JsonValue] | None = None
    #: Each injected fault's figures (``kind`` ``faults`` only).
    faults: list[Members[JsonValue]] | None = None
    #: The faults a run with ``--only`` left out (``kind`` ``faults`` only).
    faults_not_run: Items[str] = []

    @property
    def microbenchmarks_error(self) -> str | None:
        """Why the micro-benchmarks did not all run (``None`` when they did)."""
        status = self.microbenchmarks_status
        return None if status is None else status.error

    def phase(self, name: str | None) -> Phase | None:
        return next((phase for phase in self.phases if phase.name == name), None)
