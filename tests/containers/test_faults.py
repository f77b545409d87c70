"""The faults ``make faults`` injects, each on a real capped stack: the service answers
503 (never hangs) while Postgres is cut off, comes back when it is healed, and a killed
container comes back at its pinned address. ``make faults`` measures the same under load."""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from collections.abc import Iterator

import docker
import httpx
import pytest

from containers.faults import Kill, PacketDrop, TableLock
from containers.images import ensure_images
from containers.stack import Stack

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def faulty(docker_client: docker.DockerClient) -> Iterator[Stack]:
    """A stack with pinned ports (faults restart containers behind its back)."""
    images = ensure_images(("postgres", "redis", "service", "netfault"))
    with Stack(images=images, pinned_ports=True) as stack:
        yield stack


def _uncached(url: str) -> httpx.Response:
    """A restaurant search no cache holds: it must ask Postgres."""
    query = {"search": uuid.uuid4().hex[:12]}
    return httpx.get(f"{url}/api/restaurants", params=query, timeout=60)


def _until_ok(url: str, deadline_s: float) -> int:
    """Poll an uncached search until it answers 200; the number of tries it took."""
    deadline = time.monotonic() + deadline_s
    tries = 0
    while True:
        tries += 1
        if _uncached(url).status_code == 200:
            return tries
        assert time.monotonic() < deadline, f"no 200 within {deadline_s} s after the heal"
        time.sleep(0.2)


def test_a_partition_from_postgres_is_a_503_with_retry_after(faulty: Stack) -> None:
    url = faulty.service_url
    assert _uncached(url).status_code == 200
    fault = PacketDrop("partition", "service-0", "all packets to Postgres dropped", 0)
    fault.inject(faulty)
    try:
        answer = _uncached(url)
    finally:
        fault.heal(faulty)
    assert answer.status_code == 503, answer.text
    assert answer.json()["detail"].startswith("database")
    assert int(answer.headers["Retry-After"]) > 0
    _until_ok(url, deadline_s=15)


def test_a_killed_service_comes_back_at_its_pinned_address(faulty: Stack) -> None:
    url = faulty.service_url
    fault = Kill("killed", "service-0", "SIGKILL", 0)
    fault.inject(faulty)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=5)
    fault.heal(faulty)
    assert faulty.service_url == url
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200


def test_the_pool_recovers_from_a_stall_with_every_request_thread_waiting(
    faulty: Stack,
) -> None:
    """More requests than request threads pile up while the user lookup is stalled (the
    users table locked for 3 s); once it is released the backlog drains instead of
    deadlocking the pool (a request holding a pooled connection while it waits for a
    second thread, every thread waiting for a connection)."""
    url = faulty.service_url
    email = f"stall-{uuid.uuid4().hex[:8]}@faults.test"
    registered = httpx.post(
        f"{url}/auth/register",
        json={"email": email, "name": "Stall", "password": "long enough secret"},
        timeout=30,
    )
    assert registered.status_code == 201, registered.text
    headers = {"Authorization": f"Bearer {registered.json()['token']}"}
    fault = TableLock("stall", "postgres", "users locked", 0, tables=("users",))
    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        fault.inject(faulty)
        try:
            waiting = [
                pool.submit(httpx.get, f"{url}/api/users/me", headers=headers, timeout=60)
                for _ in range(40)
            ]
            time.sleep(3)
        finally:
            fault.heal(faulty)
        answers = [future.result() for future in waiting]
    # Stalled for 3 s, under the pool's 10 s timeout: every queued request is served
    # (with the deadlock, waves of them got 503 "database busy" after 10 s each).
    assert [answer.status_code for answer in answers] == [200] * 40, {
        answer.text[:80] for answer in answers
    }
