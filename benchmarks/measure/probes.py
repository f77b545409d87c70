"""Probes of the running stack besides load and memory: Postgres connections and
settings, and the HTTP contract (the statements and work one request costs in isolation
are :mod:`benchmarks.measure.work`)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import psycopg

from benchmarks.measure.polling import Poller
from service.contract import (
    ORDER_LIMIT_MAX,
    PAGE_LIMIT_DEFAULT,
    PAGE_LIMIT_MAX,
    RECOMMENDATIONS_CACHE_CONTROL,
    RESTAURANTS_CACHE_CONTROL,
)

__all__ = [
    "POSTGRES_SETTINGS",
    "PostgresProbe",
    "fetch",
    "http_contract",
    "invalidation_across_replicas",
    "login",
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


def fetch(client: httpx.Client, url: str, headers: dict[str, str]) -> httpx.Response | str:
    """GET ``url``: the response, or what went wrong as text."""
    """The response, or what went wrong (a dead worker must not hide the other checks)."""
    try:
        return client.get(url, headers=headers)
    except httpx.HTTPError as error:
        return f"request failed: {type(error).__name__}: {error}"


def _header(response: httpx.Response | str, name: str) -> str:
    return response if isinstance(response, str) else response.headers.get(name, "(none)")


def _status(response: httpx.Response | str) -> str:
    return response if isinstance(response, str) else f"HTTP {response.status_code}"


def _page_size(response: httpx.Response | str) -> str:
    if isinstance(response, str) or response.status_code != 200:
        return _status(response)
    page = response.json().get("restaurants")
    return str(len(page)) if isinstance(page, list) else "no 'restaurants' list"


#: The largest ``limit`` each list route accepts (the service's contract).
_PAGE_CAPS = {
    "/api/restaurants": PAGE_LIMIT_MAX,
    "/api/recommendations": PAGE_LIMIT_MAX,
    "/api/orders": ORDER_LIMIT_MAX,
}


def http_contract(
    client: httpx.Client, base_url: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    """The HTTP behaviours the fix plan made part of the API (caching headers, page caps)."""
    restaurants = fetch(client, f"{base_url}/api/restaurants", {})
    recommendations = fetch(client, f"{base_url}/api/recommendations", headers)
    checks = [
        _check(
            "Cache-Control on /api/restaurants",
            RESTAURANTS_CACHE_CONTROL,
            _header(restaurants, "cache-control"),
        ),
        _check(
            "Cache-Control on /api/recommendations",
            RECOMMENDATIONS_CACHE_CONTROL,
            _header(recommendations, "cache-control"),
        ),
        _check(
            "default page size of /api/restaurants",
            str(PAGE_LIMIT_DEFAULT),
            _page_size(restaurants),
        ),
    ]
    # One past each cap, and 1000: a cap merely raised would still reject 1000.
    for route, cap in _PAGE_CAPS.items():
        for limit in (cap + 1, 1000):
            path = f"{route}?limit={limit}"
            response = fetch(client, f"{base_url}{path}", headers)
            checks.append(_check(f"page cap: {path} rejected", "HTTP 422", _status(response)))
    return checks


def invalidation_across_replicas(
    client: httpx.Client, service_urls: list[str], headers: dict[str, str]
) -> dict[str, Any]:
    """After an order placed on one replica, does another replica recompute recommendations?

    Both replicas cache the account's recommendations first; then an order goes to
    the first. An answer from the second with the ``generated_at`` of before the
    order is a stale read: the cache was not shared (regression R7).
    """
    first, second = service_urls[0], service_urls[1]
    path = "/api/recommendations?limit=12"
    client.get(f"{first}{path}", headers=headers).raise_for_status()
    before = client.get(f"{second}{path}", headers=headers)
    before.raise_for_status()
    restaurant_id = before.json()["recommendations"][0]["restaurant"]["id"]
    order = {
        "restaurant_id": restaurant_id,
        "total_amount": 12.5,
        "items": [{"name": "probe", "quantity": 1, "price": 12.5}],
    }
    client.post(f"{first}/api/orders", json=order, headers=headers).raise_for_status()
    after = client.get(f"{second}{path}", headers=headers)
    after.raise_for_status()
    stale = after.json()["generated_at"] == before.json()["generated_at"]
    return _check(
        "recommendations recomputed on another replica after an order",
        "recomputed",
        "stale (answered from before the order)" if stale else "recomputed",
    )


# -- the work behind one request ----------------------------------------------------------
# The work one request makes Redis and Postgres do, measured in isolation.
#
# The statement count (:func:`sql_probe`) misses work that keeps the
# number of statements: a query that starts reading the embedding column, or one Redis
# ``GET`` per restaurant where one ``MGET`` did. :func:`work_probe` sends the same
# isolated requests (:data:`SQL_PROBES`) with no other traffic and
# reads, around each one,
#
# - Redis ``INFO commandstats``: commands the request sent, by command;
# - Postgres ``pg_stat_statements`` of the service's role: rows its statements returned
#   or changed, and the bytes of table and index pages they touched (shared buffer hits
#   plus reads, times the block size).
#
# Redis has no background traffic of the service's, so its counts are exact (the
# budgets read their ``max``). The service checks Postgres for catalogue changes in the
# background every few seconds; one such check can land in a request's window, so the
# Postgres budgets read the ``median`` over the probe accounts.
