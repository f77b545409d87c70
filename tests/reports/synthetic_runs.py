"""Synthetic result documents for the report tests: whole runs, their verdicts, and a
hostile one; written as the gate writes them.

TEST FIXTURES, not measurements (see ``tests/reports/conftest.py``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import results
from benchmarks.judge.budgets import load_budgets, resolve
from tests.reports.synthetic_phases import GIB, MIB, XSS_IMG, XSS_SCRIPT, Document, _phase


def _memray(kind: str) -> Document:
    heavy = kind != "optimized"
    return {
        "peak_heap_bytes": (188 if heavy else 96) * MIB + 123_456,
        "per_request_bytes": (125 if heavy else 6) * MIB + 4_321,
        "top_allocations": [
            {
                "location": "service/catalog.py:88 load_restaurants",
                "bytes": (95 if heavy else 3) * MIB,
                "count": 30000 if heavy else 400,
            },
            {
                "location": "json/decoder.py:353 raw_decode",
                "bytes": (24 if heavy else 1) * MIB,
                "count": 10000,
            },
            {"location": "service/recommend.py:41 score", "bytes": 2 * MIB, "count": 120},
            {
                "location": "sqlalchemy/engine/result.py:520 _fetchall_impl",
                "bytes": 1 * MIB,
                "count": 900,
            },
        ],
        "flamegraph": "memray-flamegraph.html",
        "total_allocations": 4_200_000 if heavy else 310_000,
        "oom_killed": False,
        "load": {"scenario": "standard", "users": 10, "warmup_s": 3, "measure_s": 12},
        "per_request_top_allocations": [
            {"location": "service/catalog.py:88 load_restaurants", "bytes": 4 * MIB, "count": 40},
        ],
        "request": "/api/recommendations?limit=12&refresh=true",
        "errors": [],
    }


BUDGETS: tuple[tuple[str, str, str, float, Callable[[Document, Document], Any]], ...] = (
    # (budget, unit, comparison, limit, measured from (document, phase))
    (
        "service_peak_working_set",
        "bytes",
        "<=",
        300 * MIB,
        lambda d, p: p["containers"]["service-0"]["peak_working_set_bytes"],
    ),
    (
        "postgres_peak_working_set",
        "bytes",
        "<=",
        400 * MIB,
        lambda d, p: p["containers"]["postgres"]["peak_working_set_bytes"],
    ),
    (
        "redis_peak_working_set",
        "bytes",
        "<=",
        64 * MIB,
        lambda d, p: p["containers"]["redis"]["peak_working_set_bytes"],
    ),
    (
        "no_oom_kills",
        "count",
        "<=",
        0,
        lambda d, p: sum(c["oom_killed"] for c in p["containers"].values()),
    ),
    (
        "failed_requests",
        "count",
        "<=",
        0,
        lambda d, p: sum(e["failures"] for e in p["endpoints"].values()),
    ),
    (
        "recommendations_p95",
        "ms",
        "<=",
        150,
        lambda d, p: p["endpoints"]["GET /api/recommendations"]["p95_ms"],
    ),
    (
        "recommendations_p99",
        "ms",
        "<=",
        400,
        lambda d, p: p["endpoints"]["GET /api/recommendations"]["p99_ms"],
    ),
    (
        "recommendations_cache_hit_rate",
        "ratio",
        ">=",
        0.85,
        lambda d, p: p["cache"]["recommendations"]["hit_rate"],
    ),
    (
        "db_connections_per_replica",
        "count",
        "<=",
        4,
        lambda d, p: p["db"]["connections_per_replica"],
    ),
    (
        "sql_per_recommendations_miss",
        "count",
        "<=",
        4,
        lambda d, p: p["sql_probe"]["GET /api/recommendations uncached"]["max"],
    ),
    ("memray_peak_heap", "bytes", "<=", 200 * MIB, lambda d, p: d["memray"]["peak_heap_bytes"]),
    (
        "memray_request_allocation",
        "bytes",
        "<=",
        20 * MIB,
        lambda d, p: d["memray"]["per_request_bytes"],
    ),
    ("optimized_vs_baseline_p95", "ratio", "<=", 0.7, lambda d, p: d["comparison"]["ratio"]),
)
RUN_BUDGETS = ("memray_peak_heap", "memray_request_allocation", "optimized_vs_baseline_p95")


#: Each budget's metric, as ``budgets.toml`` writes it (verdicts carry it and its matches).
METRICS = {budget.name: budget.metric for budget in load_budgets()}


def _verdicts(document: Document) -> list[Document]:
    gated = [phase for phase in document["phases"] if phase["gated"]]
    verdicts = []
    for budget, unit, comparison, limit, measure in BUDGETS:
        phases = [None] if budget in RUN_BUDGETS else gated
        for phase in phases:
            try:
                measured = float(measure(document, phase or gated[0]))
            except KeyError:  # not measured: fails, as the gate fails it
                measured = None
            if measured is None:
                passed, explanation = False, "no measurement: a budget without one fails"
            else:
                passed = measured <= limit if comparison == "<=" else measured >= limit
                explanation = f"{measured:g} {comparison if passed else 'beyond'} {limit:g}"
            windows = (
                phase["endpoints"]["GET /api/recommendations"]["p95_ms_windows"]
                if phase is not None and budget == "recommendations_p95"
                else []
            )
            spread = (max(windows) - min(windows)) / sorted(windows)[1] if windows else None
            verdicts.append(
                {
                    "budget": budget,
                    "description": f"test fixture budget {budget}",
                    "phase": None if phase is None else phase["name"],
                    "measured": measured,
                    "limit": float(limit),
                    "unit": unit,
                    "comparison": comparison,
                    "passed": passed,
                    "explanation": explanation,
                    "unstable": spread is not None and spread >= 0.1,
                    "spread": None if spread is None else round(spread, 4),
                    "metric": METRICS[budget],
                    "paths": [path for path, _ in resolve(phase or document, METRICS[budget])],
                }
            )
    return verdicts


def make_run(kind: str = "passing") -> Document:
    """A synthetic result document: ``passing`` or ``failing`` (see the module doc)."""
    rng = random.Random(f"tastematch-report-fixture-{kind}")
    failing = kind == "failing"
    phases = [
        _phase(rng, "optimized", "regressed" if failing else "optimized", gated=True),
        _phase(rng, "compare-optimized", "optimized", gated=False),
        _phase(
            rng, "compare-baseline", "baseline" if failing else "baseline-survives", gated=False
        ),
    ]
    opt_p95 = phases[1]["endpoints"]["GET /api/recommendations"]["p95_ms"]
    base_p95 = phases[2]["endpoints"]["GET /api/recommendations"]["p95_ms"]
    document: Document = {
        "schema_version": results.SCHEMA_VERSION,
        "kind": "gate",
        "run_id": f"TEST-FIXTURE-{kind}",
        "created_at": "2026-11-29T05:01:02Z",
        "environment": {
            "commit": "f1x7ure" + "0" * 33,
            "dirty": False,
            "branch": "test-fixture",
            "machine": {
                "hostname": "test-fixture (not a measurement)",
                "cpus": 2,
                "memory_bytes": 24 * GIB,
                "platform": "Linux-test-fixture",
                "python": "3.11.2",
                "docker_version": "20.10.24",
                "cgroup_version": 1,
            },
            "images": {
                "postgres": "tastematch-bench/postgres:fixture01",
                "redis": "tastematch-bench/redis:fixture02",
                "service": "tastematch-bench/service:fixture03",
            },
            "caps_bytes": {"postgres": GIB, "redis": GIB, "service": GIB},
            "dataset": {"restaurants": 10000, "users": 2000, "orders": 50000, "seed": 42},
            "reproduce": "make bench",
        },
        "phases": phases,
        "memray": _memray("regressed" if failing else "optimized"),
        "microbenchmarks": [
            {
                "name": "score_candidates",
                "group": "recommend",
                "description": "rank 200 candidates",
                "mean_s": 0.00042,
                "median_s": 0.00041,
                "stddev_s": 0.00002,
                "min_s": 0.00039,
                "max_s": 0.0005,
                "rounds": 200,
            },
            {
                "name": "cache_key",
                "group": "cache",
                "description": "build a per-user cache key",
                "mean_s": 1.9e-6,
                "median_s": 1.8e-6,
                "stddev_s": 0.2e-6,
                "min_s": 1.6e-6,
                "max_s": 4.0e-6,
                "rounds": 5000,
            },
        ],
        "microbenchmarks_status": {"failed": False, "error": None},
        "comparison": {
            "scenario": "comparison",
            "endpoint": "GET /api/recommendations",
            "users": 20,
            "optimized_p95_ms": opt_p95,
            "baseline_p95_ms": base_p95,
            "ratio": round(opt_p95 / base_p95, 4),
            "errors": {"compare-baseline": phases[2]["error"]} if failing else {},
        },
        "duration_s": 412.5,
    }
    document["verdicts"] = _verdicts(document)
    document["passed"] = all(v["passed"] for v in document["verdicts"])
    return checked(document)


def checked(document: Document) -> Document:
    """``document`` after checking it against the result models: no key they do not know."""
    model = results.validate(document, "report test fixture")
    assert results.unknown_keys(model) == [], "the fixture drifted from the result schema"
    return document


def make_hostile_run() -> Document:
    """The passing run with markup in every name a person or the gate could choose."""
    document = make_run("passing")
    phase = document["phases"][0]
    phase["name"] = f"optimized {XSS_SCRIPT}"
    endpoint = f"GET /api/{XSS_SCRIPT}{XSS_IMG}"
    phase["endpoints"][endpoint] = phase["endpoints"].pop("GET /api/orders")
    for row in phase["timeline"]["requests"]:
        if row["endpoint"] == "GET /api/orders":
            row["endpoint"] = endpoint
    phase["sql_per_request"][f"/api/{XSS_IMG}"] = phase["sql_per_request"].pop("/api/orders")
    phase["containers"][f"service-{XSS_SCRIPT}"] = phase["containers"].pop("service-0")
    phase["timeline"]["memory"][f"service-{XSS_SCRIPT}"] = phase["timeline"]["memory"].pop(
        "service-0"
    )
    phase["db"]["settings"][XSS_IMG] = XSS_SCRIPT
    phase["failures"] = [{"endpoint": endpoint, "error": XSS_IMG, "occurrences": 1}]
    document["memray"]["top_allocations"][0]["location"] = f"{XSS_SCRIPT} {XSS_IMG}"
    document["memray"]["flamegraph"] = 'x.html" onmouseover="window.__xss=3'
    document["microbenchmarks"][0]["name"] = XSS_SCRIPT
    for verdict in document["verdicts"]:
        if verdict["phase"] == "optimized":
            verdict["phase"] = phase["name"]
    for verdict in document["verdicts"]:
        verdict["paths"] = [
            path.replace("service-0", f"service-{XSS_SCRIPT}").replace("GET /api/orders", endpoint)
            for path in verdict["paths"]
        ]
    document["verdicts"][0]["budget"] = f"service_peak_working_set {XSS_SCRIPT}"
    document["verdicts"][1]["explanation"] = XSS_IMG
    document["verdicts"][2]["passed"] = False  # so names also appear in the banner
    document["passed"] = False
    document["run_id"] = f"TEST-FIXTURE-hostile {XSS_SCRIPT}"
    document["environment"]["branch"] = XSS_IMG
    return checked(document)


def write_run(folder: Path, document: Document) -> Path:
    """``document`` as ``folder/result.json`` (the way the gate writes it); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(
        json.dumps(document, sort_keys=True, indent=1), encoding="utf-8"
    )
    return folder
