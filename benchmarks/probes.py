"""Probes of the running stack besides load and memory: Postgres connections and
settings, the HTTP contract, and the statements one request costs in isolation."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg

from benchmarks.metrics import scrape, sql_figures
from benchmarks.polling import Poller

__all__ = [
    "POSTGRES_SETTINGS",
    "PostgresProbe",
    "http_contract",
    "login",
    "sql_probe",
]

#: The memory settings the fix plan prescribed (``SHOW`` of each is recorded).
POSTGRES_SETTINGS = (
    "max_connections",
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "effective_cache_size",
    "temp_buffers",
)

_CONNECTIONS = """
SELECT count(*), count(*) FILTER (WHERE state = 'active')
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND datname = current_database()
"""


class PostgresProbe(Poller):
    """Counts client connections (other than its own) at ``interval_s``."""

    errors_recorded = (psycopg.Error,)

    def __init__(self, url: str, interval_s: float = 0.25) -> None:
        super().__init__(interval_s, name="postgres-probe")
        self.url = url
        self.samples: list[tuple[float, int, int]] = []

    def resource(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=5)

    def poll(self, resource: Any) -> bool:
        row = resource.execute(_CONNECTIONS).fetchone()
        if row is not None:
            self.samples.append((time.time(), int(row[0]), int(row[1])))
        return True

    def timeline(self, started_at: float) -> list[dict[str, Any]]:
        return [
            {"t": round(t - started_at, 3), "count": count, "active": active}
            for t, count, active in self.samples
        ]

    def max_in(self, start: float, end: float) -> int | None:
        """Most connections open at once within ``[start, end]``."""
        counts = [count for t, count, _ in self.samples if start <= t <= end]
        return max(counts) if counts else None


def postgres_settings(url: str) -> dict[str, str]:
    """``SHOW`` of each of :data:`POSTGRES_SETTINGS`."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
        return {
            name: str(connection.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in POSTGRES_SETTINGS
        }


def login(client: httpx.Client, base_url: str, email: str, password: str) -> dict[str, str]:
    """Bearer headers for the account; ``httpx.HTTPError`` if the login fails."""
    response = client.post(f"{base_url}/auth/login", json={"email": email, "password": password})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _check(name: str, expected: str, actual: str) -> dict[str, Any]:
    return {"check": name, "expected": expected, "actual": actual, "passed": actual == expected}


def http_contract(
    client: httpx.Client, base_url: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    """The HTTP behaviours the fix plan made part of the API (caching headers, page caps)."""
    checks: list[dict[str, Any]] = []
    restaurants = client.get(f"{base_url}/api/restaurants")
    checks.append(
        _check(
            "Cache-Control on /api/restaurants",
            "public, max-age=300",
            restaurants.headers.get("cache-control", "(none)"),
        )
    )
    recommendations = client.get(f"{base_url}/api/recommendations", headers=headers)
    checks.append(
        _check(
            "Cache-Control on /api/recommendations",
            "private, max-age=600",
            recommendations.headers.get("cache-control", "(none)"),
        )
    )
    page = restaurants.json().get("restaurants") if restaurants.status_code == 200 else None
    checks.append(
        _check(
            "default page size of /api/restaurants",
            "20",
            str(len(page)) if isinstance(page, list) else f"HTTP {restaurants.status_code}",
        )
    )
    for path in ("/api/restaurants?limit=1000", "/api/recommendations?limit=1000"):
        response = client.get(f"{base_url}{path}", headers=headers)
        checks.append(
            _check(f"page cap: {path} rejected", "HTTP 422", f"HTTP {response.status_code}")
        )
    return checks


def sql_probe(
    client: httpx.Client,
    service_urls: list[str],
    headers: list[dict[str, str]],
) -> dict[str, dict[str, float]]:
    """Statements per ``GET /api/orders`` in isolation (no other traffic), per account given.

    The statement histogram is labelled by route only, and ``POST /api/orders``
    shares the route: isolating the order list is what makes its figure exact.
    """
    before = scrape(client, service_urls)
    for account_headers in headers:
        client.get(f"{service_urls[0]}/api/orders", headers=account_headers).raise_for_status()
    after = scrape(client, service_urls)
    figures = sql_figures(before, after).get("/api/orders", {})
    if not figures:
        return {}
    count = sum(f["count"] for f in figures.values())
    return {
        "GET /api/orders": {
            "count": count,
            "mean": round(sum(f["mean"] * f["count"] for f in figures.values()) / count, 3),
            "max": max(f["max"] for f in figures.values()),
        }
    }
