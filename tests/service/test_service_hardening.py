"""Hostile clients against the real service (uvicorn, Postgres, Redis): oversized bodies get
413, login and registration floods get 429 with ``Retry-After`` per account and per client
address, and a flood of wrong passwords does not starve ``/health``.

Each test speaks from loopback addresses of its own (127.0.0.N: Linux routes all of
127/8 to the loopback interface), so the per-address counts of one test do not spill into
another.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import bcrypt
import httpx
import pytest

from service.config import Settings
from service.main import create_app
from service.seed import LOAD_TEST_PASSWORD, seed, user_email

pytestmark = pytest.mark.docker

CAP = 4096
LIMITS: dict[str, Any] = {
    "login_limit_per_account": "4/minute",
    "login_limit_per_address": "6/minute",
    "register_limit_per_address": "3/minute",
    "max_body_bytes": CAP,
}


@pytest.fixture(scope="module")
def seeded(database_url: str) -> str:
    seed(database_url, restaurants=20, users=8, orders=20, seed=9)
    return database_url


@pytest.fixture(scope="module")
def limited(seeded: str, make_settings: Callable[..., Settings], serve: Any) -> Iterator[str]:
    """The service with small limits (``LIMITS``), served by uvicorn."""
    settings = make_settings(**LIMITS)
    with serve(create_app(settings), settings) as url:
        yield url


def speaking_from(address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (a 127.0.0.N)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def _login(client: httpx.Client, url: str, email: str, password: str) -> httpx.Response:
    return client.post(f"{url}/auth/login", json={"email": email, "password": password})


def _retry_after(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= 60
    return seconds


# -- 413 --------------------------------------------------------------------------------------
def test_body_over_the_cap_by_content_length_is_413(limited: str) -> None:
    with speaking_from("127.0.0.2") as client:
        payload = b'{"email": "' + b"a" * CAP + b'@x.test", "password": "p"}'
        refused = client.post(
            f"{limited}/auth/login",
            content=payload,
            headers={"Content-Type": "application/json"},
        )
        assert refused.status_code == 413
        assert refused.json() == {
            "detail": f"request body too large: at most {CAP} bytes are accepted"
        }
        assert refused.headers["connection"] == "close"
        # At the cap, the body is read and judged on its content instead.
        at_cap = b'{"email": "' + b"a" * (CAP - 11 - 2) + b'"}'
        assert len(at_cap) == CAP
        answered = client.post(
            f"{limited}/auth/login", content=at_cap, headers={"Content-Type": "application/json"}
        )
        assert answered.status_code == 422, answered.text


def test_streamed_body_over_the_cap_is_413(limited: str) -> None:
    pulled: list[int] = []

    def chunks() -> Iterator[bytes]:
        yield b'{"email": "'
        for index in range(64):  # 32 KiB of 512-byte chunks
            pulled.append(index)
            yield b"a" * 512
        yield b'@x.test", "password": "p"}'

    with speaking_from("127.0.0.3") as client:
        refused = client.post(
            f"{limited}/auth/login", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert "content-length" not in refused.request.headers
        assert refused.request.headers["transfer-encoding"] == "chunked"
        assert refused.status_code == 413, refused.text
        assert f"at most {CAP} bytes" in refused.json()["detail"]
        # A streamed body under the cap is served as usual.
        small = iter([b'{"email": "ada@x.test", ', b'"password": "wrong-one"}'])
        answered = client.post(
            f"{limited}/auth/login", content=small, headers={"Content-Type": "application/json"}
        )
        assert answered.status_code == 401, answered.text


def test_every_route_with_a_body_is_capped(limited: str) -> None:
    big = {"selected_cuisines": ["x" * 64] * 100}
    with speaking_from("127.0.0.4") as client:
        for path in ("/api/orders", "/api/onboarding/complete", "/auth/register"):
            # Refused before authentication: the body is not read to check the token.
            assert client.post(f"{limited}{path}", json=big).status_code == 413, path


# -- 429 --------------------------------------------------------------------------------------
def test_wrong_logins_for_one_account_get_429_from_any_address(
    limited: str, app_factory: Any
) -> None:
    email = user_email(0)
    for n in range(4):
        with speaking_from(f"127.0.0.{11 + n}") as client:
            assert _login(client, limited, email, "wrong password").status_code == 401
    with speaking_from("127.0.0.15") as client:
        refused = _login(client, limited, email.upper(), "wrong password")
        _retry_after(refused)
        assert refused.json()["detail"].startswith("too many login attempts for this account")
        # The account is locked for the window, the right password included...
        _retry_after(_login(client, limited, email, LOAD_TEST_PASSWORD))
        # ...and only that account.
        assert _login(client, limited, user_email(1), LOAD_TEST_PASSWORD).status_code == 200
    # The counts live in Redis: another replica refuses the account too.
    with app_factory(**LIMITS) as other_replica:
        again = other_replica.post(
            "/auth/login", json={"email": email, "password": LOAD_TEST_PASSWORD}
        )
        assert again.status_code == 429, again.text


def test_one_address_gets_429_whatever_accounts_it_names_or_headers_it_sends(
    limited: str,
) -> None:
    with speaking_from("127.0.0.21") as client:
        for n in range(6):
            answer = _login(client, limited, f"nobody-{n}@x.test", "wrong password")
            assert answer.status_code == 401, answer.text
        forged = {"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.8"}
        refused = client.post(
            f"{limited}/auth/login",
            json={"email": user_email(2), "password": LOAD_TEST_PASSWORD},
            headers=forged,
        )
        _retry_after(refused)
        assert refused.json()["detail"].startswith("too many login attempts from this address")
    with speaking_from("127.0.0.22") as client:
        assert _login(client, limited, user_email(2), LOAD_TEST_PASSWORD).status_code == 200


def test_registrations_from_one_address_get_429(limited: str) -> None:
    with speaking_from("127.0.0.31") as client:
        for n in range(3):
            made = client.post(
                f"{limited}/auth/register",
                json={"email": f"new-{n}@limits.test", "name": "New", "password": "long-enough"},
            )
            assert made.status_code == 201, made.text
        refused = client.post(
            f"{limited}/auth/register",
            json={"email": "new-3@limits.test", "name": "New", "password": "long-enough"},
        )
        _retry_after(refused)
        assert refused.json()["detail"].startswith("too many registrations from this address")


# -- no user enumeration ----------------------------------------------------------------------
def test_unknown_email_is_checked_against_a_dummy_hash(
    seeded: str, app_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[bytes] = []
    real = bcrypt.checkpw

    def recording(password: bytes, hashed: bytes) -> bool:
        checked.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", recording)
    with app_factory(bcrypt_rounds=5) as client:
        unknown = client.post(
            "/auth/login", json={"email": "nobody@x.test", "password": LOAD_TEST_PASSWORD}
        )
        dummy = client.app.state.ctx.passwords.dummy_hash
        wrong = client.post("/auth/login", json={"email": user_email(3), "password": "wrong"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() == {"detail": "Incorrect email or password"}
    assert checked[0] == dummy.encode()
    assert dummy.startswith("$2b$05$")  # the cost of accounts registered here
    assert len(checked) == 2
    assert checked[1] != checked[0]  # the account's own hash


def test_a_taken_email_is_hashed_like_a_new_one(
    seeded: str, app_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[bytes] = []
    real = bcrypt.hashpw

    def recording(password: bytes, salt: bytes) -> bytes:
        hashed.append(password)
        return real(password, salt)

    monkeypatch.setattr(bcrypt, "hashpw", recording)
    with app_factory(bcrypt_rounds=5) as client:
        payload = {"name": "Twice", "password": "long enough secret"}
        new = client.post("/auth/register", json={**payload, "email": "twice@x.test"})
        taken = client.post("/auth/register", json={**payload, "email": user_email(4)})
    assert new.status_code == 201, new.text
    assert taken.status_code == 400
    assert taken.json() == {"detail": "Email already registered"}
    # Both paid for one hash (the app's own dummy hash aside): the answer about a taken
    # email comes no sooner.
    assert hashed.count(b"long enough secret") == 2


# -- a flood of wrong passwords ---------------------------------------------------------------
FLOOD = 40


def _health_latencies(url: str, until: Callable[[], bool], *, at_least: int) -> list[float]:
    """Seconds of each ``/health`` answer, polled back to back until ``until()`` and at
    least ``at_least`` times; every answer must be 200."""
    latencies: list[float] = []
    with httpx.Client(timeout=30) as client:
        while len(latencies) < at_least or not until():
            started = time.perf_counter()
            answer = client.get(f"{url}/health")
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 200, answer.text
    return latencies


def _p95_ms(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=20)[-1] * 1000


def test_health_answers_during_a_flood_of_wrong_passwords(
    seeded: str,
    make_settings: Callable[..., Settings],
    serve: Any,
    record_property: Callable[[str, object], None],
) -> None:
    # The API's real bcrypt cost, and limits that let the whole flood reach bcrypt.
    settings = make_settings(
        bcrypt_rounds=12,
        login_limit_per_account="1000/minute",
        login_limit_per_address="1000/minute",
    )
    with serve(create_app(settings), settings) as url:
        with httpx.Client(timeout=60) as client:
            made = client.post(
                f"{url}/auth/register",
                json={"email": "flooded@x.test", "name": "Flooded", "password": "right-password"},
            )
            assert made.status_code == 201, made.text
        quiet = _health_latencies(url, lambda: True, at_least=100)

        answers: list[int] = []
        lock = threading.Lock()

        def wrong_login() -> None:
            with httpx.Client(timeout=120) as flooder:
                status = _login(flooder, url, "flooded@x.test", "wrong-password").status_code
            with lock:
                answers.append(status)

        flood = [threading.Thread(target=wrong_login) for _ in range(FLOOD)]
        started = time.perf_counter()
        for thread in flood:
            thread.start()
        during = _health_latencies(
            url, lambda: not any(thread.is_alive() for thread in flood), at_least=20
        )
        for thread in flood:
            thread.join()
        flood_s = time.perf_counter() - started

    assert answers == [401] * FLOOD
    figures = {
        "health_p95_ms_quiet": round(_p95_ms(quiet), 1),
        "health_p95_ms_during_flood": round(_p95_ms(during), 1),
        "health_polls_during_flood": len(during),
        "flood_s": round(flood_s, 2),
    }
    for name, value in figures.items():
        record_property(name, value)
    print(f"/health during {FLOOD} concurrent wrong logins at bcrypt cost 12: {figures}")


def test_a_flood_beyond_the_hashing_queue_gets_503_at_once_and_the_rest_is_checked(
    seeded: str, make_settings: Callable[..., Settings], serve: Any
) -> None:
    # One bcrypt thread and 4 places in its queue: of 20 wrong logins at once, those
    # beyond 5 in flight are refused at once instead of waiting their turn.
    settings = make_settings(
        bcrypt_rounds=12,
        hash_threads=1,
        hash_queue=4,
        login_limit_per_account="1000/minute",
        login_limit_per_address="1000/minute",
    )
    with serve(create_app(settings), settings) as url:
        with httpx.Client(timeout=60) as client:
            before = _refusals(client.get(f"{url}/metrics").text)
        answers: list[httpx.Response] = []
        lock = threading.Lock()
        # Every client is made before any sends: the 20 logins arrive together, well
        # within the 5 checks' 1.25 s of bcrypt even on a busy machine.
        together = threading.Barrier(20)

        def wrong_login() -> None:
            with httpx.Client(timeout=60) as flooder:
                together.wait(timeout=30)
                answer = _login(flooder, url, user_email(0), "wrong-password")
            with lock:
                answers.append(answer)

        flood = [threading.Thread(target=wrong_login) for _ in range(20)]
        for thread in flood:
            thread.start()
        for thread in flood:
            thread.join()
        with httpx.Client(timeout=60) as client:
            right = _login(client, url, user_email(0), LOAD_TEST_PASSWORD)
            exposition = client.get(f"{url}/metrics").text

    refused = [a for a in answers if a.status_code == 503]
    assert sorted({a.status_code for a in answers}) == [401, 503]
    assert len(answers) - len(refused) >= 5  # the running one and the 4 waiting ones
    for answer in refused:
        assert answer.json()["detail"].startswith("too many logins in progress; retry in")
        assert int(answer.headers["Retry-After"]) >= 1
    assert right.status_code == 200, right.text  # the queue drained: room again
    assert _refusals(exposition) == before + len(refused)


def _refusals(exposition: str) -> float:
    (line,) = (
        line
        for line in exposition.splitlines()
        if line.startswith("tastematch_password_queue_refusals_total ")
    )
    return float(line.split()[1])
