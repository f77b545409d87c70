"""Test inputs for the report: synthetic result documents in the gate's schema_version 2.

These are TEST FIXTURES, not measurements: every document says so in its run id,
its commit and its hostname. They are generated (seeded, so deterministic) to be
realistic in shape and size: a 75 s phase with 4 Hz memory samples, one-second
request windows per endpoint, the gate's budget names.

Phases are named as the gate names them: the gated ``optimized`` phase, then the
ungated ``compare-optimized`` / ``compare-baseline`` pair behind the ratio.

- ``passing``: every budget holds; the baseline is slower but survives;
- ``failing``: the optimised phase carries regression R1 (full-row loads) and grows
  the service until it is OOM-killed; the baseline comparison phase is OOM-killed too.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import results
from benchmarks.judge.budgets import load_budgets, resolve

MIB = 1024**2
GIB = 1024**3
WARMUP_S, MEASURE_S = 15.0, 60.0
ENDPOINTS = {
    # endpoint: (typical p50 ms, share of requests)
    "GET /api/recommendations": (18.0, 0.35),
    "GET /api/restaurants": (9.0, 0.25),
    "GET /api/restaurants/{restaurant_id}": (6.0, 0.15),
    "GET /api/orders": (11.0, 0.15),
    "POST /api/orders": (14.0, 0.10),
}
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '"><img src=x onerror="window.__xss=2">'
Document = dict[str, Any]


def _profile(kind: str) -> dict[str, float]:
    """How a phase of ``kind`` behaves: latency scale, memory growth, OOM time."""
    return {
        "optimized": {"latency": 1.0, "service_mib": 165.0, "growth": 0.3, "oom_t": -1.0},
        "regressed": {"latency": 9.0, "service_mib": 310.0, "growth": 11.0, "oom_t": 61.5},
        "baseline": {"latency": 7.0, "service_mib": 380.0, "growth": 16.0, "oom_t": 47.25},
        "baseline-survives": {"latency": 6.0, "service_mib": 380.0, "growth": 2.5, "oom_t": -1.0},
    }[kind]


def _memory(rng: random.Random, behaviour: dict[str, float]) -> dict[str, list[dict[str, float]]]:
    oom_t = behaviour["oom_t"]
    end = oom_t if oom_t > 0 else WARMUP_S + MEASURE_S
    series: dict[str, list[dict[str, float]]] = {}
    bases = {"service-0": behaviour["service_mib"], "postgres": 210.0, "redis": 9.0}
    for name, base_mib in bases.items():
        samples = []
        for step in range(int(end / 0.25)):
            t = round((step + 1) * 0.25, 2)
            ramp = min(t / 5.0, 1.0)
            grow = behaviour["growth"] * t if name == "service-0" else 0.05 * t
            ws = (base_mib * ramp + grow + rng.uniform(-2.0, 2.0) * math.sqrt(base_mib / 40)) * MIB
            ws = min(ws, GIB - 3 * MIB)
            usage = ws + (30 if name == "postgres" else 4) * MIB
            samples.append(
                {
                    "t": t,
                    "working_set_bytes": round(ws),
                    "usage_bytes": round(usage),
                    "rss_bytes": round(ws * 0.93),
                }
            )
        series[name] = samples
    return series


def _waterfall(duration_ms: float, statements: int) -> Document:
    spans = [{"name": "GET /api/orders", "kind": "server", "depth": 0, "start_ms": 0.0,
              "duration_ms": duration_ms}]  # fmt: skip
    spans += [
        {
            "name": "SELECT tastematch",
            "kind": "db",
            "depth": 1,
            "start_ms": 0.5 + i,
            "duration_ms": 0.8,
        }
        for i in range(statements)
    ]
    spans.append({"name": "MGET", "kind": "redis", "depth": 1, "start_ms": 0.2, "duration_ms": 0.1})
    return {"trace_id": "ab" * 16, "duration_ms": duration_ms, "span_count": len(spans),
            "spans": spans}  # fmt: skip


def _waterfalls(kind: str) -> Document:
    statements = 2 if kind == "optimized" else 30
    return {
        "GET /api/orders": {
            "traced": 40,
            "typical": _waterfall(6.0, statements),
            "slowest": _waterfall(41.0, statements),
        },
        "GET /api/recommendations": {
            "traced": 90,
            "typical": _waterfall(3.0, 0),
            "slowest": _waterfall(22.0, 4),
        },
    }


def _phase(rng: random.Random, name: str, kind: str, *, gated: bool) -> Document:
    behaviour = _profile(kind)
    oom_t = behaviour["oom_t"]
    end = oom_t if oom_t > 0 else WARMUP_S + MEASURE_S
    requests: list[dict[str, Any]] = []
    endpoints: dict[str, Any] = {}
    for endpoint, (p50, share) in ENDPOINTS.items():
        scale = (
            behaviour["latency"] if "recommendations" in endpoint else 1 + behaviour["latency"] / 6
        )
        p95s: list[float] = []
        for second in range(int(end)):
            jitter = rng.uniform(0.85, 1.2)
            spike = 2.2 if kind != "optimized" and second > end - 12 else 1.0
            row_p50 = p50 * scale * jitter * spike
            rps = 60 * share * min(1.0, (second + 1) / 3) * rng.uniform(0.9, 1.1) / spike
            requests.append(
                {
                    "t": float(second),
                    "endpoint": endpoint,
                    "p50_ms": round(row_p50, 3),
                    "p95_ms": round(row_p50 * 2.6, 3),
                    "p99_ms": round(row_p50 * 4.1, 3),
                    "rps": round(rps, 3),
                    "failures": 0,
                }
            )
            if second >= WARMUP_S:
                p95s.append(row_p50 * 2.6)
        count = round(60 * share * (end - WARMUP_S))
        failures = 0 if oom_t < 0 else round(count * 0.04)
        p95 = sorted(p95s)[len(p95s) // 2] if p95s else None
        endpoints[endpoint] = {
            "count": count,
            "failures": failures,
            "p50_ms": round(p50 * scale, 3),
            "p95_ms": None if p95 is None else round(p95, 3),
            "p99_ms": None if p95 is None else round(p95 * 1.6, 3),
            "max_ms": None if p95 is None else round(p95 * 3.1, 3),
            "rps": round(count / max(end - WARMUP_S, 1), 3),
            "p95_ms_windows": [round(p95 * f, 3) for f in (0.97, 1.0, 1.04)] if p95 else [],
            "p99_ms_windows": [round(p95 * 1.6 * f, 3) for f in (0.95, 1.0, 1.03)] if p95 else [],
        }
    if kind == "regressed":
        windows = endpoints["GET /api/recommendations"]["p95_ms_windows"]
        endpoints["GET /api/recommendations"]["p95_ms_windows"] = [windows[0] * 0.7, *windows[1:]]
    hit_rate = 0.93 if kind == "optimized" else (0.0 if kind == "baseline" else 0.88)
    memory = _memory(rng, behaviour)
    containers = {}
    for container, samples in memory.items():
        killed = container == "service-0" and oom_t > 0
        containers[container] = {
            "role": container.split("-")[0],
            "cap_bytes": GIB,
            "peak_working_set_bytes": max(s["working_set_bytes"] for s in samples),
            "peak_usage_bytes": max(s["usage_bytes"] for s in samples),
            "cgroup_peak_bytes": GIB if killed else max(s["usage_bytes"] for s in samples),
            "oom_killed": killed,
            "oom_kill_t": oom_t if killed else None,
            "exit_code": 137 if killed else None,
        }
    steps = range(0, int(end), 5)
    return {
        "name": name,
        "profile": "baseline" if kind.startswith("baseline") else "optimized",
        "regressions": ["R1"] if kind == "regressed" else [],
        "scenario": "standard" if gated else "comparison",
        "users": 50 if gated else 20,
        "warmup_s": WARMUP_S,
        "measure_s": MEASURE_S,
        "started_at": 1795000000.0 + (0 if gated else 400),
        "gated": gated,
        "error": None if oom_t < 0 else f"service-0 was OOM-killed at t={oom_t} s",
        "stages": [
            {"name": "warm-up", "start_t": 0.0, "end_t": WARMUP_S, "users": 50, "measured": False},
            {
                "name": "measured",
                "start_t": WARMUP_S,
                "end_t": WARMUP_S + MEASURE_S,
                "users": 50,
                "measured": True,
            },
        ],
        "endpoints": endpoints,
        "timeline": {
            "requests": sorted(requests, key=lambda r: (r["t"], r["endpoint"])),
            "memory": memory,
            "cache_hit_rate": [
                {
                    "t": float(t),
                    "cache": cache,
                    "hit_rate": round(min(1.0, rate * min(1, t / 12)), 3),
                }
                for t in steps
                for cache, rate in (("recommendations", hit_rate), ("restaurants", hit_rate + 0.04))
            ],
            "db_connections": [
                {"t": float(t), "count": min(4, 1 + t // 4) if kind == "optimized" else 6 + t % 9}
                for t in range(int(end))
            ],
            "users": [{"t": float(t), "users": min(50, 25 * (t + 1))} for t in range(int(end))],
        },
        "containers": containers,
        "cache": {
            "recommendations": {
                "hits": round(900 * hit_rate),
                "misses": round(900 * (1 - hit_rate)),
                "errors": 0,
                "hit_rate": hit_rate,
            },
            "restaurants": {"hits": 1200, "misses": 60, "errors": 0, "hit_rate": 0.952},
        },
        "sql_per_request": {
            "/api/recommendations": {
                "hit": {"count": 820, "mean": 1.0, "max": 1},
                "miss": {
                    "count": 61,
                    "mean": 3.1 if kind == "optimized" else 9.4,
                    "max": 4 if kind == "optimized" else 14,
                },
            },
            "/api/orders": {"none": {"count": 400, "mean": 2.0, "max": 2}},
            "/api/restaurants": {
                "hit": {"count": 700, "mean": 0.0, "max": 0},
                "miss": {"count": 35, "mean": 2.0, "max": 2},
            },
        },
        # The gate probes statement counts in isolation on gated phases whose stack survived.
        "sql_probe": {}
        if oom_t > 0 or not gated
        else {
            "GET /api/orders": {"count": 3, "mean": 2.0, "max": 2},
            "GET /api/recommendations repeated": {"count": 3, "mean": 1.0, "max": 1},
            "GET /api/recommendations uncached": {"count": 3, "mean": 3.0, "max": 4},
            "GET /api/recommendations/{restaurant_id}/insight uncached": {
                "count": 3,
                "mean": 1.7,
                "max": 2,
            },
            "GET /api/recommendations/{restaurant_id}/insight repeated": {
                "count": 3,
                "mean": 0.0,
                "max": 0,
            },
            "POST /api/onboarding/complete": {"count": 3, "mean": 2.0, "max": 2},
            "DELETE /api/orders/simulation": {"count": 3, "mean": 3.0, "max": 3},
        },
        # A traced stack: the probes' span counts and the load's waterfalls.
        "trace_probe": {}
        if oom_t > 0 or not gated
        else {
            "GET /api/orders": {"count": 3, "missing": 0, "db_spans_max": 2, "redis_spans_max": 0}
        },
        "trace_waterfalls": {} if oom_t > 0 or not gated else _waterfalls(kind),
        "db": {
            "max_connections_in_use": 4 if kind == "optimized" else 14,
            "connections_per_replica": 4.0 if kind == "optimized" else 14.0,
            "probe_errors": [],
            "settings": {
                "shared_buffers": "256MB",
                "work_mem": "4MB",
                "max_connections": "20",
                "effective_cache_size": "768MB",
            }
            if kind != "baseline"
            else {
                "shared_buffers": "128MB",
                "work_mem": "4MB",
                "max_connections": "100",
                "effective_cache_size": "4GB",
            },
        },
        "http_contract": [
            {
                "check": "Cache-Control on /api/restaurants",
                "expected": "public, max-age=300",
                "actual": "public, max-age=300" if kind != "baseline" else "",
                "passed": kind != "baseline",
            },
            {
                "check": "limit above 50 rejected",
                "expected": "422",
                "actual": "422",
                "passed": True,
            },
        ],
        "load_generator": {
            "cpu_percent_mean": 38.5,
            "cpu_percent_max": 71.0,
            "saturated": False,
            "processes": 1,
            "rule": "saturated when the busiest Locust process averages >= 90 % of one core",
        },
        "locust": {"exit_code": 0 if oom_t < 0 else 1, "timed_out": False},
        "metrics_scrape_errors": []
        if oom_t < 0
        else ["http://127.0.0.1:49153: ConnectError: [Errno 111] Connection refused"],
        "failures": []
        if oom_t < 0
        else [
            {
                "endpoint": "GET /api/recommendations",
                "error": "ConnectionResetError(104)",
                "occurrences": 41,
            }
        ],
    }


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


@pytest.fixture
def make_document() -> Callable[[str], Document]:
    """A fresh document of a kind: ``passing``, ``failing`` or ``hostile``."""

    def make(kind: str) -> Document:
        return make_hostile_run() if kind == "hostile" else make_run(kind)

    return make


@pytest.fixture
def write_document(tmp_path: Path) -> Callable[[str, Document], Path]:
    """Write a document as ``<tmp>/<name>/result.json``; returns the run folder."""

    def write(name: str, document: Document) -> Path:
        return write_run(tmp_path / name, document)

    return write


@pytest.fixture
def passing_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "passing", make_run("passing"))


@pytest.fixture
def failing_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "failing", make_run("failing"))


@pytest.fixture
def hostile_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "hostile", make_hostile_run())


@pytest.fixture
def passing_document() -> Document:
    return make_run("passing")


@pytest.fixture
def xss_strings() -> tuple[str, str]:
    """The markup the hostile document puts in names: a script element, an img handler."""
    return XSS_SCRIPT, XSS_IMG
