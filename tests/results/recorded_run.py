"""A gate document built by the gate's own code from a small recorded run (no containers).

``recorded/`` holds what the recorders of one 6 s phase wrote (Locust samples and
users history, the memory sampler's result, /metrics expositions, Postgres and HTTP
probe results). The statement counts of the insight, onboarding and simulation-reset
probes, and the work probe, come from later real runs of those probes (2026-12-03; the
work probe's ``GET /api/recommendations again`` from gate run 20261205T183111Z-612a524).
:func:`recorded_document` feeds them through the functions ``run_gate`` uses —
``phase_entry``, ``new_document``, ``microbenchmarks_block``, ``judge`` — so the
document is what the writer really produces.

``python -m tests.results.recorded_run`` rewrites ``golden/gate.json`` from it
(check the diff by hand before committing it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.commands.gate import microbenchmarks_block, new_document
from benchmarks.judge.budgets import load_budgets
from benchmarks.judge.document import judge
from benchmarks.measure.loadgen import CpuSample, LoadRun
from benchmarks.measure.metrics import Snapshot, parse_exposition
from benchmarks.measure.phase_entry import PhaseRecord, phase_entry
from benchmarks.measure.phases import PhasePlan
from benchmarks.measure.samples import account_samples, read_samples
from results import dumps
from scenarios.registry import get_scenario

RECORDED = Path(__file__).with_name("recorded")
GOLDEN = Path(__file__).with_name("golden")
NOW = datetime(2026, 12, 3, 6, 0, 0, tzinfo=UTC)
ENVIRONMENT: dict[str, Any] = {
    "commit": "2ec0rded" + "0" * 32,
    "dirty": False,
    "branch": "recorded-run",
    "machine": {"hostname": "recorded (test data)", "cpus": 2, "cgroup_version": 2},
    "images": {"service": "tastematch-bench/service:recorded"},
    "caps_bytes": {"postgres": 1024**3, "redis": 1024**3, "service": 1024**3},
    "dataset": {"restaurants": 10000, "users": 2000, "orders": 50000, "seed": 42},
    "reproduce": "make bench",
}
MICROBENCHMARK = {
    "name": "test_rank_one_user_over_10k_restaurants",
    "group": "scoring",
    "description": "rank 10,000 restaurants for one user",
    "mean_s": 0.0044,
    "median_s": 0.0043,
    "stddev_s": 0.0002,
    "min_s": 0.0041,
    "max_s": 0.0052,
    "rounds": 10,
}


def recorded_phase() -> dict[str, Any]:
    """The gated phase's entry, built by ``phase_entry`` from the recorded files."""
    probes = json.loads((RECORDED / "probes.json").read_text(encoding="utf-8"))
    scenario = get_scenario("standard").with_overrides(users=2, warmup_s=2, measure_s=4)
    started_at = float(probes["started_at"])
    load = LoadRun(
        scenario=scenario,
        stages=scenario.stages(),
        started_at=started_at,
        samples=read_samples(RECORDED),
        cpu=(CpuSample(started_at + 3, {1234: 41.0}), CpuSample(started_at + 5, {1234: 55.0})),
        exit_code=0,
        timed_out=False,
        log_path=RECORDED / "locust.log",
        accounting=account_samples(RECORDED),
        locust_pid=1234,
        host_cpus=2,
    )
    before, after = (
        Snapshot(t=float(m["t"]), values=parse_exposition(m["text"])) for m in probes["metrics"]
    )
    record = PhaseRecord(
        load=load,
        memory=probes["memory"],
        memory_t0=probes["memory_t0"],
        window=(before, after),
        hit_rate_timeline=probes["hit_rate_timeline"],
        scrape_errors=[],
        db_timeline=probes["db_timeline"],
        max_connections=probes["max_connections"],
        settings=probes["settings"],
        probe_errors=[],
        contract=probes["contract"],
        statements=probes["statements"],
        probe_error=None,
        replicas=1,
        work=probes["work"],
    )
    plan = PhasePlan("optimized", "optimized", frozenset(), scenario, gated=True)
    return phase_entry(plan, record)


def recorded_document(micro_problem: str | None = None) -> dict[str, Any]:
    """The judged gate document of the recorded run (``--skip-baseline``, memray recorded)."""
    document = new_document("TEST-RECORDED-RUN", NOW)
    document["environment"] = ENVIRONMENT
    document["phases"].append(recorded_phase())
    document["memray"] = {
        "peak_heap_bytes": 96 * 1024**2,
        "per_request_bytes": 3 * 1024**2,
        "per_endpoint_bytes": {
            "recommendations": 3 * 1024**2,
            "insight": 59 * 1024,
            "onboarding": 239 * 1024,
        },
        "per_request_top_allocations": [
            {"location": "service/recommend.py:57 score", "bytes": 1024**2, "count": 12}
        ],
        "request": "GET /api/recommendations",
        # From the memray phase of a real gate run (20261203T065608Z-9c92255): flat, no leak.
        "heap_growth": {
            "bins": 6,
            "bytes_per_10k_requests": -2131990,
            "ci95_high_bytes_per_10k_requests": 1822830,
            "ci95_low_bytes_per_10k_requests": -6086809,
            "first_bytes": 147822888,
            "last_bytes": 147771960,
            "requests": 246,
        },
        "errors": [],
    }
    entries = [] if micro_problem else [dict(MICROBENCHMARK)]
    document.update(microbenchmarks_block(entries, micro_problem))
    judge(document, load_budgets(), duration_s=12.5)
    return document


if __name__ == "__main__":
    (GOLDEN / "gate.json").write_text(dumps(recorded_document()), encoding="utf-8")
