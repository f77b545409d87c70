"""Synthetic phases for the report tests: memory series, request windows, span waterfalls.

TEST FIXTURES, not measurements (see ``tests/reports/conftest.py``).
"""

from __future__ import annotations

import math
import random
from typing import Any

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
