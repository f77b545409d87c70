"""What one request costs in isolation: the statements it sends (the service's own
counters), and the Postgres rows and bytes and Redis commands it causes
(``pg_stat_statements`` and ``INFO commandstats`` deltas), on hit and miss paths.

Each probe sends its requests one at a time, on accounts no load touches, between
phases; a figure is the statements (or rows, bytes, commands) between two snapshots.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import redis

from benchmarks.measure.metrics import SQL_STATEMENTS, Snapshot, scrape
from benchmarks.measure.probes import fetch

__all__ = [
    "SQL_PROBES",
    "PostgresWork",
    "ProbeRequest",
    "WorkCounters",
    "sql_probe",
    "work_probe",
]


#: How long a probe waits for the service to record the request it just answered.
_RECORD_WAIT_S = 2.0


@dataclass(frozen=True)
class ProbeRequest:
    """A probed request other than a plain GET of a path."""

    method: str
    path: str
    json: dict[str, Any] | None = field(default=None)


#: Requests whose statement counts the probe measures one at a time, in this order:
#: an uncached request (``refresh=true``, or a page nobody asked for) is followed by
#: the same one again, which the cache should then answer (a recommendation a third
#: time: from the replica's near cache); likewise a restaurant's insight. The writes
#: come last (onboarding replaces the account's taste vector, then its simulated orders
#: go).
SQL_PROBES: tuple[tuple[str, str, str | ProbeRequest], ...] = (
    ("GET /api/orders", "/api/orders", "/api/orders"),
    (
        "GET /api/recommendations uncached",
        "/api/recommendations",
        "/api/recommendations?limit=12&refresh=true",
    ),
    ("GET /api/recommendations repeated", "/api/recommendations", "/api/recommendations?limit=12"),
    # Once more on the same replica: its near cache (service/near_cache.py), filled by the
    # read before, answers without Redis.
    ("GET /api/recommendations again", "/api/recommendations", "/api/recommendations?limit=12"),
    # An unfiltered page of its own per account ({page}): the load only browses filtered
    # pages, so the first request is a cache miss and the second a hit.
    ("GET /api/restaurants uncached", "/api/restaurants", "/api/restaurants?limit=20&page={page}"),
    ("GET /api/restaurants repeated", "/api/restaurants", "/api/restaurants?limit=20&page={page}"),
    (
        "GET /api/recommendations/{restaurant_id}/insight uncached",
        "/api/recommendations/{restaurant_id}/insight",
        "/api/recommendations/1/insight",
    ),
    (
        "GET /api/recommendations/{restaurant_id}/insight repeated",
        "/api/recommendations/{restaurant_id}/insight",
        "/api/recommendations/1/insight",
    ),
    (
        "POST /api/onboarding/complete",
        "/api/onboarding/complete",
        ProbeRequest(
            "POST",
            "/api/onboarding/complete",
            {"selected_cuisines": ["Italian", "Japanese"], "price_preference": "medium"},
        ),
    ),
    (
        "DELETE /api/orders/simulation",
        "/api/orders/simulation",
        ProbeRequest("DELETE", "/api/orders/simulation"),
    ),
)


#: ``{page}`` of the probe paths: the probe's first page plus the account's position among
#: the probe accounts. Each probe has pages of its own, so each sees its own misses.
SQL_PROBE_FIRST_PAGE = 100


WORK_PROBE_FIRST_PAGE = 200


def _send(
    client: httpx.Client,
    base_url: str,
    request: str | ProbeRequest,
    headers: dict[str, str],
    page: int,
) -> httpx.Response | str:
    """``_fetch`` of a GET path, or the request described by a ``ProbeRequest``; ``{page}``
    in a path is ``page``."""
    if isinstance(request, str):
        return fetch(client, f"{base_url}{request.format(page=page)}", headers)
    try:
        return client.request(
            request.method,
            f"{base_url}{request.path.format(page=page)}",
            json=request.json,
            headers=headers,
        )
    except httpx.HTTPError as error:
        return f"request failed: {type(error).__name__}: {error}"


def _route_total(snapshot: Snapshot, suffix: str, route: str) -> float:
    """``tastematch_sql_statements_per_request<suffix>`` of ``route``, every label summed."""
    return sum(
        value
        for labels, value in snapshot.select(f"{SQL_STATEMENTS}{suffix}").items()
        if dict(labels).get("route") == route
    )


def _scrape_after(
    client: httpx.Client, service_urls: list[str], before: Snapshot, route: str
) -> Snapshot:
    """A scrape that includes the request just answered on ``route``.

    The service records a request once its response is sent, so a scrape right
    after the response may not see it yet: retry for up to :data:`_RECORD_WAIT_S`.
    """
    deadline = time.monotonic() + _RECORD_WAIT_S
    seen = _route_total(before, "_count", route)
    while True:
        after = scrape(client, service_urls)
        if _route_total(after, "_count", route) > seen or time.monotonic() > deadline:
            return after
        time.sleep(0.05)


def sql_probe(
    client: httpx.Client,
    service_urls: list[str],
    headers: list[dict[str, str]],
    write_headers: list[dict[str, str]] | None = None,
    traced: dict[str, str] | None = None,
) -> dict[str, dict[str, float | None]]:
    """Statements per request, measured one request at a time with no other traffic.

    Under load the statement histogram mixes every outcome — failed requests count
    zero statements, and ``POST /api/orders`` shares the order list's route — so
    the budgets read these isolated, exact counts instead. Each account in
    ``headers`` sends each of :data:`SQL_PROBES` once; a request that fails is
    counted in ``failed`` and measures nothing. The writes (onboarding, the simulation
    reset, which deletes the seeded orders) go as the accounts of ``write_headers``
    instead, when given: the accounts the reads measure keep their seeded state for the
    next phase (the self-test runs many on one database).

    Every request carries a sampled W3C ``traceparent`` of its own, so a traced service
    (``Stack(tracing=True)``) records it; ``traced``, when given, receives each trace id
    with the probe's name (:func:`trace_probe` reads the spans).
    """
    counts: dict[str, list[float]] = {name: [] for name, _, _ in SQL_PROBES}
    failed: dict[str, int] = dict.fromkeys(counts, 0)
    writers = write_headers or headers
    for position, reader in enumerate(headers):
        for name, route, path in SQL_PROBES:
            account_headers = reader if isinstance(path, str) else writers[position % len(writers)]
            trace_id = secrets.token_hex(16)
            if traced is not None:
                traced[trace_id] = name
            account_headers = {
                **account_headers,
                "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01",
            }
            before = scrape(client, service_urls)
            response = _send(
                client, service_urls[0], path, account_headers, SQL_PROBE_FIRST_PAGE + position
            )
            after = _scrape_after(client, service_urls, before, route)
            recorded = _route_total(after, "_count", route) - _route_total(before, "_count", route)
            if isinstance(response, str) or not response.is_success or recorded != 1:
                failed[name] += 1  # failed, or not attributable to this one request
                continue
            statements = _route_total(after, "_sum", route) - _route_total(before, "_sum", route)
            counts[name].append(statements)
    return {
        name: {
            "count": len(values),
            "failed": failed[name],
            "mean": round(sum(values) / len(values), 3) if values else None,
            "max": max(values) if values else None,
        }
        for name, values in counts.items()
    }


#: Commands of connection set-up and of this probe itself, not of the request.
_UNCOUNTED_COMMANDS = frozenset({"info", "hello", "select", "client|setinfo", "client|setname"})


# The probe's own statements mention the view and are left out.
_POSTGRES_WORK = """
SELECT coalesce(sum(s.rows), 0)::bigint,
       coalesce(sum(s.shared_blks_hit + s.shared_blks_read), 0)::bigint
FROM pg_stat_statements s
WHERE s.userid = (SELECT oid FROM pg_roles WHERE rolname = current_user)
  AND s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.query NOT ILIKE '%pg_stat_statements%'
"""


@dataclass(frozen=True)
class PostgresWork:
    """Cumulative rows and buffer bytes of the service role's statements."""

    rows: int
    buffer_bytes: int


class WorkCounters:
    """Reads Redis' command counters and Postgres' statement statistics."""

    def __init__(self, redis_url: str, postgres_url: str) -> None:
        self._redis = redis.Redis.from_url(redis_url, socket_timeout=5)
        self._postgres = psycopg.connect(postgres_url, autocommit=True, connect_timeout=5)
        row = self._postgres.execute("SELECT current_setting('block_size')::int").fetchone()
        self._block_size = int(row[0]) if row else 8192

    def redis_commands(self) -> Counter[str]:
        """Calls so far of each command, set-up and INFO itself left out."""
        stats: dict[str, Any] = self._redis.info("commandstats")
        return Counter(
            {
                name.removeprefix("cmdstat_"): int(figures["calls"])
                for name, figures in stats.items()
                if name.removeprefix("cmdstat_") not in _UNCOUNTED_COMMANDS
            }
        )

    def empty_cache(self) -> None:
        """Empty the service's Redis: what a cold start or an eviction leaves."""
        self._redis.flushdb()

    def postgres_work(self) -> PostgresWork:
        row = self._postgres.execute(_POSTGRES_WORK).fetchone()
        rows, blocks = (int(row[0]), int(row[1])) if row else (0, 0)
        return PostgresWork(rows=rows, buffer_bytes=blocks * self._block_size)

    def close(self) -> None:
        self._redis.close()
        self._postgres.close()

    def __enter__(self) -> WorkCounters:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _summary(values: list[int]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "max": None}
    return {"median": float(statistics.median(values)), "max": float(max(values))}


def work_probe(
    client: httpx.Client,
    service_urls: list[str],
    headers: Sequence[dict[str, str]],
    counters: WorkCounters,
) -> dict[str, dict[str, Any]]:
    """Redis commands, Postgres rows and buffer bytes of each read of :data:`SQL_PROBES`.

    The writes (onboarding, the simulation reset) are left out: they change the probe
    accounts, and the work probe runs before :func:`sql_probe` so that each sees the
    accounts as seeded. Each account in ``headers`` sends each probe once; a request
    that fails (or whose end the service did not record in time) is counted in
    ``failed`` and measures nothing. Every read is sent once unmeasured first, so each
    measured one finds its account's preference vector computed (see below). A probe
    named "... uncached" runs on an emptied
    Redis, so it measures the whole miss path (restaurant cards read from Postgres
    too); the "... repeated" one after it is then answered from what the miss stored.
    ``redis_by_command`` is the busiest measured request's command mix.
    """
    reads = [(name, route, path) for name, route, path in SQL_PROBES if isinstance(path, str)]
    measured: dict[str, dict[str, list[int]]] = {
        name: {"redis_commands": [], "pg_rows": [], "pg_buffer_bytes": []} for name, _, _ in reads
    }
    mixes: dict[str, Counter[str]] = {name: Counter() for name, _, _ in reads}
    failed: dict[str, int] = dict.fromkeys(measured, 0)
    # An unmeasured first pass. An account's first recommendation after its preference
    # vector went stale (a day old, or never computed) recomputes it: an UPDATE and a read
    # of its recent orders, whose rows depend on the hour (their weight decays with age).
    # Measured, that once-a-day path made the miss read 13 to 19 rows for one account
    # depending on when the phase ran; a miss under load is an expired cache entry.
    for position, account_headers in enumerate(headers):
        for _, _, path in reads:
            _send(client, service_urls[0], path, account_headers, WORK_PROBE_FIRST_PAGE + position)
    for position, account_headers in enumerate(headers):
        for name, route, path in reads:
            if "uncached" in name:  # the whole miss path: nothing in Redis to lean on
                counters.empty_cache()
            before = scrape(client, service_urls)
            commands_before = counters.redis_commands()
            postgres_before = counters.postgres_work()
            response = _send(
                client, service_urls[0], path, account_headers, WORK_PROBE_FIRST_PAGE + position
            )
            after = _scrape_after(client, service_urls, before, route)
            commands = counters.redis_commands() - commands_before
            postgres_after = counters.postgres_work()
            recorded = _route_total(after, "_count", route) - _route_total(before, "_count", route)
            if isinstance(response, str) or not response.is_success or recorded != 1:
                failed[name] += 1
                continue
            figures = measured[name]
            figures["redis_commands"].append(commands.total())
            figures["pg_rows"].append(postgres_after.rows - postgres_before.rows)
            figures["pg_buffer_bytes"].append(
                postgres_after.buffer_bytes - postgres_before.buffer_bytes
            )
            if commands.total() >= mixes[name].total():
                mixes[name] = commands
    return {
        name: {
            "count": len(figures["redis_commands"]),
            "failed": failed[name],
            **{key: _summary(values) for key, values in figures.items()},
            "redis_by_command": dict(sorted(mixes[name].items())),
        }
        for name, figures in measured.items()
    }
