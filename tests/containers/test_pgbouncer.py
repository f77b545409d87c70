"""PgBouncer between the replicas and Postgres: capped, transparent to the API, and a bound
on Postgres backends whatever the replicas' pools add up to."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest

from containers import MemorySampler
from containers.__main__ import main
from containers.definitions import (
    GIB,
    PGBOUNCER_POOL_SIZE,
    ContainerStartupError,
    PgBouncerContainer,
)
from containers.images import ensure_images
from containers.stack import Stack
from service.config import Settings, one_process_jwt_secret
from service.database import connect_args
from service.seed import LOAD_TEST_PASSWORD, seed, user_email

MIB = 1024**2
USERS = 40
# Under R2 each replica runs 2 workers with a pool of 5 + 10 overflow: 2 replicas may open
# 60 connections, far more than PgBouncer's pool.
R2_CONNECTIONS_PER_REPLICA = 2 * (5 + 10)
LOAD_THREADS = 48
LOAD_REQUESTS = 720
REQUEST_TIMEOUT_S = 60.0
# Postgres backends of the service's user, other than the one counting them. PgBouncer's
# admin console (database `pgbouncer`) lives in PgBouncer and opens no backend.
_BACKENDS = """
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend' AND usename = 'tastematch'
  AND datname = 'tastematch' AND pid <> pg_backend_pid()
"""


# -- no containers ---------------------------------------------------------------------------


def test_replicas_connect_through_pgbouncer_and_know_it() -> None:
    direct = Stack(replicas=1).service_environment()
    pooled = Stack(replicas=1, pgbouncer=True).service_environment()
    assert "@postgres:5432/" in direct["TASTEMATCH_DATABASE_URL"]
    assert "TASTEMATCH_TRANSACTION_POOLER" not in direct
    assert "@pgbouncer:6432/tastematch" in pooled["TASTEMATCH_DATABASE_URL"]
    assert pooled["TASTEMATCH_TRANSACTION_POOLER"] == "true"


def test_transaction_pooler_turns_prepared_statements_off() -> None:
    secret = one_process_jwt_secret()
    assert "prepare_threshold" not in connect_args(Settings(jwt_secret=secret))
    behind = Settings(transaction_pooler=True, jwt_secret=secret)
    assert connect_args(behind)["prepare_threshold"] is None


def test_bad_pgbouncer_settings_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="pgbouncer_pool_size must be 1 or more"):
        Stack(pgbouncer=True, pgbouncer_pool_size=0)
    with pytest.raises(ValueError, match="unknown container"):
        Stack(mem_limits={"pgbouncer": GIB})  # no PgBouncer in this stack
    assert main(["stack", "--pgbouncer", "--pgbouncer-pool-size", "0"]) == 1
    assert "pgbouncer_pool_size must be 1 or more, not 0" in capsys.readouterr().err


# -- containers ------------------------------------------------------------------------------


def _seeded(stack: Stack) -> Stack:
    seed(stack.postgres_url, restaurants=300, users=USERS, orders=400, seed=13)
    # Fresh replicas load the seeded restaurants at start-up.
    stack.restart_services()
    return stack


@pytest.fixture(scope="module")
def pooled_stack() -> Iterator[Stack]:
    """Optimised profile, 2 replicas, PgBouncer in front of Postgres; seeded."""
    with Stack(replicas=2, pgbouncer=True) as stack:
        yield _seeded(stack)


def _tokens(service_url: str, users: int) -> list[str]:
    tokens = []
    with httpx.Client(base_url=service_url, timeout=REQUEST_TIMEOUT_S) as client:
        for index in range(users):
            response = client.post(
                "/auth/login", json={"email": user_email(index), "password": LOAD_TEST_PASSWORD}
            )
            assert response.status_code == 200, response.text
            tokens.append(str(response.json()["token"]))
    return tokens


@pytest.mark.docker
def test_pgbouncer_is_capped_at_1_gib_and_published_on_loopback(pooled_stack: Stack) -> None:
    containers = pooled_stack.docker_containers()
    assert set(containers) == {"postgres", "redis", "pgbouncer", "service-0", "service-1"}
    pgbouncer = containers["pgbouncer"]
    pgbouncer.reload()
    host_config = pgbouncer.attrs["HostConfig"]
    assert (host_config["Memory"], host_config["MemorySwap"]) == (GIB, GIB)
    assert pooled_stack.caps_bytes()["pgbouncer"] == GIB
    assert f"pgbouncer {pooled_stack.pgbouncer_url} (transaction pooling" in pooled_stack.describe()
    ports = pgbouncer.attrs["NetworkSettings"]["Ports"]
    assert {b["HostIp"] for bindings in ports.values() for b in bindings or []} == {"127.0.0.1"}
    with psycopg.connect(
        pooled_stack.pgbouncer_admin_url, autocommit=True, cursor_factory=psycopg.ClientCursor
    ) as admin:
        rows = admin.execute("SHOW CONFIG").fetchall()
    config = {str(row[0]): str(row[1]) for row in rows}
    assert config["pool_mode"] == "transaction"
    assert config["default_pool_size"] == config["max_db_connections"] == str(PGBOUNCER_POOL_SIZE)
    assert config["auth_type"] == "scram-sha-256"


@pytest.mark.docker
def test_service_answers_its_api_through_pgbouncer(pooled_stack: Stack) -> None:
    env = pooled_stack.docker_containers()["service-0"].attrs["Config"]["Env"]
    assert "TASTEMATCH_TRANSACTION_POOLER=true" in env
    assert "TASTEMATCH_PROFILE=optimized" in env
    for url in pooled_stack.service_urls:
        (token,) = _tokens(url, 1)
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
            # More than psycopg's prepare threshold (5) of each statement on each connection:
            # a server-side prepared statement would fail on another backend.
            for _ in range(12):
                fresh = client.get("/api/recommendations", params={"refresh": "true"})
                assert fresh.status_code == 200, fresh.text
                assert fresh.json()["count"] > 0
            placed = client.post("/api/orders", json={"restaurant_id": 7, "total_amount": 12.5})
            assert placed.status_code == 201, placed.text
            listed = client.get("/api/orders", params={"limit": 50})
            assert listed.status_code == 200, listed.text
            assert placed.json()["id"] in {order["id"] for order in listed.json()["orders"]}


@dataclass
class LoadOutcome:
    statuses: list[int]
    backends_peak: int
    pgbouncer_clients_peak: int | None
    peak_working_set_bytes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    #: One line per request that did not get a 2xx: what it was, where, how long, why.
    failures: list[str] = field(default_factory=list)
    #: The tail of each container's log, taken when a request failed (else empty).
    logs: dict[str, str] = field(default_factory=dict)

    def p95_ms(self) -> float:
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def _count_backends_during_load(stack: Stack) -> LoadOutcome:
    """A burst of concurrent requests at every replica; backends counted every 20 ms."""
    tokens = [token for url in stack.service_urls for token in _tokens(url, USERS // 2)]
    stop = threading.Event()
    backends: list[int] = []
    clients: list[int] = []
    # Connected before the load: under R2 without PgBouncer, Postgres may have no slot left.
    counter = psycopg.connect(stack.postgres_libpq_url, autocommit=True)
    admin = None
    if stack.pgbouncer is not None:
        admin = psycopg.connect(
            stack.pgbouncer_admin_url, autocommit=True, cursor_factory=psycopg.ClientCursor
        )

    def count() -> None:
        while not stop.is_set():
            row = counter.execute(_BACKENDS).fetchone()
            backends.append(int(row[0]) if row else 0)
            if admin is not None:
                cursor = admin.execute("SHOW POOLS")
                names = [column.name for column in cursor.description or []]
                pools = cursor.fetchall()
                clients.append(
                    sum(
                        int(pool[names.index("cl_active")]) + int(pool[names.index("cl_waiting")])
                        for pool in pools
                        if pool[names.index("database")] == "tastematch"
                    )
                )
            time.sleep(0.02)

    urls = stack.service_urls
    latencies: list[float] = []
    failures: list[str] = []

    def request(number: int) -> int:
        started = time.perf_counter()
        outcome = "no answer"
        try:
            status, outcome = send(number)
            return status
        finally:
            elapsed = time.perf_counter() - started
            latencies.append(elapsed)
            if not outcome.startswith("2"):
                kind = ("recommendations", "order list", "new order")[number % 3]
                began = time.strftime("%H:%M:%S", time.gmtime(time.time() - elapsed))
                failures.append(
                    f"request {number} ({kind} at {urls[number % len(urls)]}, began {began} UTC):"
                    f" {outcome} after {elapsed:.1f}s"
                )

    def send(number: int) -> tuple[int, str]:
        url = urls[number % len(urls)]
        token = tokens[number % len(tokens)]
        headers = {"Authorization": f"Bearer {token}"}
        try:
            kind = number % 3
            if kind == 0:
                response = http.get(
                    f"{url}/api/recommendations", params={"refresh": "true"}, headers=headers
                )
            elif kind == 1:
                response = http.get(f"{url}/api/orders", params={"limit": 50}, headers=headers)
            else:
                order = {"restaurant_id": 1 + number % 300, "total_amount": 9.5}
                response = http.post(f"{url}/api/orders", json=order, headers=headers)
        except httpx.HTTPError as error:
            return 0, f"{type(error).__name__}: {error}"
        return response.status_code, f"{response.status_code} {response.text[:200]}"

    sampler = MemorySampler(stack.docker_containers(), t0=time.time()).start()
    counting = threading.Thread(target=count, name="backend-counter", daemon=True)
    counting.start()
    started = time.monotonic()
    limits = httpx.Limits(max_connections=LOAD_THREADS, max_keepalive_connections=LOAD_THREADS)
    try:
        with (
            httpx.Client(timeout=REQUEST_TIMEOUT_S, limits=limits) as http,
            ThreadPoolExecutor(max_workers=LOAD_THREADS) as pool,
        ):
            statuses = list(pool.map(request, range(LOAD_REQUESTS)))
    finally:
        seconds = time.monotonic() - started
        stop.set()
        counting.join(timeout=10)
        sampler.stop()
        counter.close()
        if admin is not None:
            admin.close()
    memory = sampler.result()
    logs = {}
    if failures:
        for name, container in stack.docker_containers().items():
            logs[name] = container.logs(tail=40, timestamps=True).decode(errors="replace")
    return LoadOutcome(
        statuses=statuses,
        backends_peak=max(backends),
        pgbouncer_clients_peak=max(clients) if clients else None,
        peak_working_set_bytes={
            name: int(track["peak_working_set_bytes"]) for name, track in memory.items()
        },
        seconds=seconds,
        latencies_s=latencies,
        failures=failures,
        logs=logs,
    )


#: Longer than any request should take (the service's pool timeout is 10 s).
HUNG_S = 30.0


def _failures(outcome: LoadOutcome) -> str:
    """The failed requests and the containers' last log lines, for an assertion message."""
    logs = "\n".join(f"--- {name} ---\n{text}" for name, text in sorted(outcome.logs.items()))
    return "\n".join(outcome.failures) + "\n" + logs


def _report(label: str, outcome: LoadOutcome) -> str:
    failed = sum(1 for status in outcome.statuses if not 200 <= status < 300)
    memory = ", ".join(
        f"{name} {value / MIB:.0f} MiB"
        for name, value in sorted(outcome.peak_working_set_bytes.items())
    )
    return (
        f"{label}: {LOAD_REQUESTS} requests from {LOAD_THREADS} threads in {outcome.seconds:.1f}s, "
        f"{failed} failed, p95 {outcome.p95_ms():.0f} ms; "
        f"Postgres backends peak {outcome.backends_peak}; "
        f"PgBouncer clients peak {outcome.pgbouncer_clients_peak}; peak working set: {memory}"
    )


@pytest.mark.docker
def test_postgres_backends_stay_within_pgbouncers_pool_under_r2_pools(
    pooled_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    pooled_stack.restart_services(regressions={"R2"})
    try:
        outcome = _count_backends_during_load(pooled_stack)
    finally:
        pooled_stack.restart_services(regressions=set())
    with capsys.disabled():
        print("\n" + _report("with PgBouncer, R2 pools", outcome))
    assert 2 * R2_CONNECTIONS_PER_REPLICA > PGBOUNCER_POOL_SIZE
    # The replicas did hold more connections than the pool: PgBouncer queued them.
    assert outcome.pgbouncer_clients_peak is not None
    assert outcome.pgbouncer_clients_peak > PGBOUNCER_POOL_SIZE
    assert outcome.backends_peak <= PGBOUNCER_POOL_SIZE
    assert outcome.failures == [], _failures(outcome)


@pytest.mark.docker
def test_without_pgbouncer_the_same_load_opens_more_backends(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with Stack(replicas=2, regressions={"R2"}) as direct:
        outcome = _count_backends_during_load(_seeded(direct))
    with capsys.disabled():
        print("\n" + _report("without PgBouncer, R2 pools", outcome))
        if max(outcome.latencies_s, default=0.0) > HUNG_S:
            # Refusals are expected here; a request that waited this long is not (the
            # pool timeout is 10 s): print what each request got and the containers' logs.
            print(f"a request took over {HUNG_S:.0f} s:\n" + _failures(outcome))
    assert outcome.backends_peak > PGBOUNCER_POOL_SIZE


@pytest.mark.docker
@pytest.mark.parametrize("transaction_pooler", ["true", "false"])
def test_transaction_pooler_setting_is_what_keeps_requests_working_through_pgbouncer(
    transaction_pooler: str,
) -> None:
    # A pool of 2 for 4 connections of the replica's pool: consecutive transactions of one
    # client connection land on different backends, where psycopg's prepared statements
    # (after 5 executions of a statement) do not exist or clash.
    with Stack(
        replicas=1,
        pgbouncer=True,
        pgbouncer_pool_size=2,
        service_env={"TASTEMATCH_TRANSACTION_POOLER": transaction_pooler},
    ) as stack:
        seed(stack.postgres_url, restaurants=300, users=10, orders=100, seed=13)
        stack.restart_services()
        tokens = _tokens(stack.service_url, 10)

        def request(number: int) -> int:
            headers = {"Authorization": f"Bearer {tokens[number % len(tokens)]}"}
            path, params = (
                ("/api/orders", {}) if number % 2 else ("/api/recommendations", {"refresh": "true"})
            )
            try:
                return http.get(path, params=params, headers=headers).status_code
            except httpx.HTTPError:  # a dropped connection counts as a failed request
                return 0

        with (
            httpx.Client(base_url=stack.service_url, timeout=REQUEST_TIMEOUT_S) as http,
            ThreadPoolExecutor(max_workers=16) as pool,
        ):
            statuses = list(pool.map(request, range(300)))
        logs = stack.docker_containers()["service-0"].logs().decode(errors="replace")
    failed = [status for status in statuses if status != 200]
    if transaction_pooler == "true":
        assert failed == []
        assert "prepared statement" not in logs
    else:
        assert failed
        assert "prepared statement" in logs


@pytest.mark.docker
def test_a_pgbouncer_that_cannot_start_fails_fast_with_its_logs() -> None:
    pgbouncer = PgBouncerContainer(
        ensure_images(("pgbouncer",)).pgbouncer,
        name=f"tastematch-test-{secrets.token_hex(4)}-pgbouncer",
        env={"TASTEMATCH_PGBOUNCER_POOL_SIZE": "lots"},
    )
    started = time.monotonic()
    try:
        with pytest.raises(ContainerStartupError, match="must be a positive whole number"):
            pgbouncer.start()
    finally:
        pgbouncer.stop()
    assert time.monotonic() - started < 30  # did not wait for the readiness timeout


@pytest.mark.docker
def test_pgbouncer_follows_postgres_when_it_is_retuned() -> None:
    with Stack(replicas=0, pgbouncer=True) as stack:
        stack.restart_services(regressions={"R6"})
        with psycopg.connect(stack.pgbouncer_url, prepare_threshold=None) as through:
            assert through.execute("SHOW max_connections").fetchone() == ("100",)
