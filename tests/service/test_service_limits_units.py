"""Body cap, rate limiter, password pool and their settings, without containers."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import bcrypt
import pytest
from fastapi import FastAPI
from limits import parse as parse_rate_limit
from prometheus_client import REGISTRY
from pydantic import ValidationError
from starlette.types import Message, Receive, Scope, Send

import service.__main__ as service_main
from containers.replicas import LOAD_GENERATOR_RATE_LIMITS
from containers.stack import Stack
from scenarios.registry import SCENARIOS
from service import passwords
from service.bodylimit import BodyLimitMiddleware, too_large_detail
from service.config import MAX_BODY_BYTES, Settings, get_settings
from service.main import create_app
from service.passwords import HashQueueFull, PasswordHasher
from service.ratelimit import AuthLimiter, RateLimited, account_key, retry_after
from service.schemas import OrderItem
from service.security import hash_password


# -- settings ---------------------------------------------------------------------------------
def test_body_cap_and_rate_limits_have_defaults_and_read_the_environment(
    monkeypatch: pytest.MonkeyPatch, jwt_secret: str
) -> None:
    defaults = Settings(jwt_secret=jwt_secret)
    assert defaults.max_body_bytes == MAX_BODY_BYTES == 64 * 1024
    assert defaults.login_limit_per_account == "10/minute"
    assert defaults.login_limit_per_address == "30/minute"
    assert defaults.hash_threads == 2
    assert defaults.hash_queue == 32
    monkeypatch.setenv("TASTEMATCH_MAX_BODY_BYTES", "1000")
    monkeypatch.setenv("TASTEMATCH_LOGIN_LIMIT_PER_ADDRESS", "100 per hour")
    read = Settings(jwt_secret=jwt_secret)
    assert (read.max_body_bytes, read.login_limit_per_address) == (1000, "100 per hour")


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("max_body_bytes", 0, "greater than or equal to 1"),
        ("login_limit_per_account", "ten a minute", "is not a rate limit"),
        ("register_limit_per_address", "", "is not a rate limit"),
        ("hash_threads", 0, "greater than or equal to 1"),
        ("hash_queue", -1, "greater than or equal to 0"),
    ],
)
def test_bad_limits_are_refused_with_a_reason(
    jwt_secret: str, field: str, value: Any, reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        Settings(jwt_secret=jwt_secret, **{field: value})


# -- rate limiter -----------------------------------------------------------------------------
def test_retry_after_rounds_up_to_whole_seconds_and_is_at_least_one() -> None:
    assert retry_after(130.2, 100.0) == 31
    assert retry_after(100.0, 100.0) == 1
    assert retry_after(90.0, 100.0) == 1


def test_account_key_is_a_short_digest_of_the_normalised_email() -> None:
    key = account_key("Ada@Example.com ")
    assert key == account_key("ada@example.com")
    assert len(key) == 32
    assert "ada" not in key
    assert account_key("x" * 255 + "@a.test") != key


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unreachable_redis_limiter(jwt_secret: str) -> Iterator[Callable[..., AuthLimiter]]:
    """``make(**settings)``: a limiter whose Redis refuses connections (nothing listens)."""
    made: list[AuthLimiter] = []

    def make(**overrides: Any) -> AuthLimiter:
        settings = Settings(
            jwt_secret=jwt_secret, redis_url=f"redis://127.0.0.1:{_closed_port()}/0", **overrides
        )
        made.append(AuthLimiter(settings))
        return made[-1]

    yield make
    for limiter in made:
        limiter.close()


def test_limiter_counts_in_memory_while_redis_is_unreachable(
    unreachable_redis_limiter: Callable[..., AuthLimiter], caplog: pytest.LogCaptureFixture
) -> None:
    limiter = unreachable_redis_limiter(login_limit_per_account="3/minute")
    with caplog.at_level(logging.WARNING, logger="service.ratelimit"):
        for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
            limiter.admit_login(address, "ada@example.com")
        with pytest.raises(RateLimited) as refused:
            limiter.admit_login("10.0.0.4", "ADA@example.com")
    assert not limiter.using_redis
    assert 1 <= refused.value.retry_after_s <= 60
    assert refused.value.detail.startswith("too many login attempts for this account")
    assert "at most 3 per minute" in refused.value.detail
    # Said once when Redis went away, not once per attempt.
    assert sum("process memory" in record.getMessage() for record in caplog.records) == 1
    limiter.admit_login("10.0.0.4", "grace@example.com")  # another account is not limited


def test_limiter_counts_an_address_before_the_accounts_it_names(
    unreachable_redis_limiter: Callable[..., AuthLimiter],
) -> None:
    limiter = unreachable_redis_limiter(
        login_limit_per_address="2/minute", register_limit_per_address="1/minute"
    )
    limiter.admit_login("10.0.0.9", "a@example.com")
    limiter.admit_login("10.0.0.9", "b@example.com")
    with pytest.raises(RateLimited, match="login attempts from this address"):
        limiter.admit_login("10.0.0.9", "c@example.com")
    limiter.admit_login("10.0.0.10", "c@example.com")  # c was not counted above
    limiter.admit_registration("10.0.0.9")  # registrations have their own count
    with pytest.raises(RateLimited, match="registrations from this address: at most 1"):
        limiter.admit_registration("10.0.0.9")


# -- password pool ----------------------------------------------------------------------------
@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, str]]:
    """Every bcrypt check made from now on: (hash checked against, thread name); the real
    check still runs."""
    made: list[tuple[bytes, str]] = []
    real = bcrypt.checkpw

    def recording(password: bytes, hashed: bytes) -> bool:
        made.append((hashed, threading.current_thread().name))
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", recording)
    return made


def test_unknown_account_costs_one_bcrypt_check_of_the_same_cost(
    checks: list[tuple[bytes, str]],
) -> None:
    hasher = PasswordHasher(threads=2, rounds=5)
    try:
        assert asyncio.run(hasher.verify("any password", None)) is False
        dummy = hasher.dummy_hash
        assert dummy.startswith("$2b$05$")  # the cost new accounts get
        assert checks == [(dummy.encode(), checks[0][1])]
        assert checks[0][1].startswith("tastematch-bcrypt")
        known = hash_password("right password", rounds=5)
        assert asyncio.run(hasher.verify("right password", known)) is True
        assert asyncio.run(hasher.verify("wrong password", known)) is False
        assert len(checks) == 3
    finally:
        hasher.close()


def test_hashes_are_made_in_the_pool_at_the_configured_cost() -> None:
    hasher = PasswordHasher(threads=1, rounds=4)
    try:
        made = asyncio.run(hasher.hash("s3cret-password"))
        assert made.startswith("$2b$04$")
        assert hasher.verify_now("s3cret-password", made)
    finally:
        hasher.close()


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Password checks that wait for the event (set at the end in any case)."""
    release = threading.Event()

    def waiting(password: str, password_hash: str) -> bool:
        assert release.wait(timeout=10), "a held check was never released"
        return False

    monkeypatch.setattr(passwords, "verify_password", waiting)
    yield release
    release.set()


def _refusals() -> float:
    return REGISTRY.get_sample_value("tastematch_password_queue_refusals_total") or 0.0


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met within 5 s")


def test_a_full_hashing_queue_refuses_at_once_and_frees_its_places(
    held: threading.Event,
) -> None:
    hasher = PasswordHasher(threads=1, rounds=4, max_waiting=1)
    refusals = _refusals()

    async def scenario() -> None:
        running = asyncio.create_task(hasher.verify("pw", "hash-1"))
        waiting = asyncio.create_task(hasher.verify("pw", "hash-2"))
        await _until(lambda: hasher.in_flight == 2)
        with pytest.raises(HashQueueFull, match="too many logins in progress; retry in 1 s"):
            await hasher.verify("pw", "hash-3")
        with pytest.raises(HashQueueFull):  # a registration's hash waits in the same queue
            await hasher.hash("new-password")
        held.set()
        assert await running is False
        assert await waiting is False
        await _until(lambda: hasher.in_flight == 0)
        assert await hasher.verify("pw", "hash-4") is False  # room again

    try:
        asyncio.run(scenario())
    finally:
        hasher.close()
    assert _refusals() == refusals + 2


def test_with_no_queue_only_the_running_checks_are_taken(held: threading.Event) -> None:
    hasher = PasswordHasher(threads=1, rounds=4, max_waiting=0)

    async def scenario() -> None:
        running = asyncio.create_task(hasher.verify("pw", "hash-1"))
        await _until(lambda: hasher.in_flight == 1)
        with pytest.raises(HashQueueFull) as refused:
            await hasher.verify("pw", "hash-2")
        assert refused.value.retry_after_s == 1
        held.set()
        assert await running is False

    try:
        asyncio.run(scenario())
    finally:
        hasher.close()


def test_a_cancelled_waiting_check_gives_its_place_back(held: threading.Event) -> None:
    hasher = PasswordHasher(threads=1, rounds=4, max_waiting=1)

    async def scenario() -> None:
        running = asyncio.create_task(hasher.verify("pw", "hash-1"))
        waiting = asyncio.create_task(hasher.verify("pw", "hash-2"))
        await _until(lambda: hasher.in_flight == 2)
        waiting.cancel()  # before its check started
        await _until(lambda: hasher.in_flight == 1)
        third = asyncio.create_task(hasher.verify("pw", "hash-3"))  # takes the freed place
        await _until(lambda: hasher.in_flight == 2)
        held.set()
        assert [await running, await third] == [False, False]
        assert waiting.cancelled()
        await _until(lambda: hasher.in_flight == 0)

    try:
        asyncio.run(scenario())
    finally:
        hasher.close()


def test_a_negative_queue_is_refused() -> None:
    with pytest.raises(ValueError, match="max_waiting must be 0 or more, not -1"):
        PasswordHasher(threads=1, rounds=4, max_waiting=-1)


# -- body cap ---------------------------------------------------------------------------------
def _scope(headers: list[tuple[bytes, bytes]], path: str = "/echo") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


class _Stream:
    """``receive`` of a body sent in ``chunk``-byte pieces, ``chunks`` of them (endless
    when ``None``); counts the pieces handed out."""

    def __init__(self, chunk: bytes, chunks: int | None) -> None:
        self.chunk = chunk
        self.chunks = chunks
        self.handed = 0

    async def __call__(self) -> Message:
        self.handed += 1
        last = self.chunks is not None and self.handed >= self.chunks
        return {"type": "http.request", "body": self.chunk, "more_body": not last}


def _call(app: Any, scope: Scope, receive: Receive) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _answer(sent: list[Message]) -> tuple[int, dict[bytes, bytes], Any]:
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), json.loads(body)


async def _reads_everything(scope: Scope, receive: Receive, send: Send) -> None:
    more = True
    size = 0
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(size).encode()})


def test_declared_length_over_the_cap_is_refused_before_the_app_runs() -> None:
    called: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)

    stream = _Stream(b"x" * 100, 1)
    sent = _call(BodyLimitMiddleware(app, 1000), _scope([(b"content-length", b"1001")]), stream)
    status, headers, body = _answer(sent)
    assert (status, body) == (413, {"detail": too_large_detail(1000)})
    assert "1000 bytes" in body["detail"]
    assert headers[b"connection"] == b"close"
    assert called == []
    assert stream.handed == 0


def test_streamed_body_is_cut_off_once_past_the_cap() -> None:
    stream = _Stream(b"x" * 1000, None)  # chunked, never ends
    sent = _call(BodyLimitMiddleware(_reads_everything, 2500), _scope([]), stream)
    status, _headers, body = _answer(sent)
    assert (status, body) == (413, {"detail": too_large_detail(2500)})
    assert stream.handed == 3  # the piece that passed the cap, and no more


def test_bodies_up_to_the_cap_pass_whole() -> None:
    exact = _Stream(b"x" * 500, 4)
    sent = _call(
        BodyLimitMiddleware(_reads_everything, 2000), _scope([(b"content-length", b"2000")]), exact
    )
    assert _answer(sent)[::2] == (200, 2000)


def test_fastapi_route_answers_413_as_json_for_a_streamed_body() -> None:
    app = FastAPI()

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    stream = _Stream(b" " * 4096, 100)
    sent = _call(BodyLimitMiddleware(app, 10_000), _scope([]), stream)
    status, headers, body = _answer(sent)
    assert (status, body) == (413, {"detail": too_large_detail(10_000)})
    assert headers[b"connection"] == b"close"
    assert stream.handed == 3


def test_the_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BodyLimitMiddleware(_reads_everything, 0)


def test_extra_item_keys_are_dropped_not_stored() -> None:
    item = OrderItem.model_validate({"name": "ramen", "price": 12, "note": "x" * 10_000})
    assert item.model_dump() == {"name": "ramen", "quantity": 1, "price": 12.0}


# -- server and document ----------------------------------------------------------------------
def test_uvicorn_takes_the_client_address_from_the_socket_not_from_headers(
    monkeypatch: pytest.MonkeyPatch, jwt_secret: str
) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setenv("TASTEMATCH_JWT_SECRET", jwt_secret)
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.append(kwargs))
    get_settings.cache_clear()
    try:
        assert service_main.main(["--port", "8123"]) == 0
    finally:
        get_settings.cache_clear()
    (options,) = started
    assert options["proxy_headers"] is False
    assert options["port"] == 8123
    # Idle connections outlast the load's longest pause (5 s): uvicorn's default is 5 s.
    assert options["timeout_keep_alive"] == 75
    assert service_main.server_options(Settings(jwt_secret=jwt_secret))["proxy_headers"] is False


def test_openapi_lists_413_on_bodies_and_429_on_the_auth_routes(jwt_secret: str) -> None:
    document = create_app(Settings(jwt_secret=jwt_secret, max_body_bytes=1234)).openapi()
    with_body = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if "requestBody" in operation:
                with_body += 1
                assert "1234 bytes" in responses["413"]["description"], (method, path)
            else:
                assert "413" not in responses, (method, path)
            limited = path in ("/auth/login", "/auth/register")
            assert ("429" in responses) is limited, (method, path)
            if limited:
                assert "Retry-After" in responses["429"]["headers"]
                # A full password hashing queue, beside the database's own 503.
                busy = responses["503"]
                assert "password hashing queue is full" in busy["description"], path
                assert "database unreachable" in busy["description"], path
                assert "Retry-After" in busy["headers"], path
    assert with_body >= 4  # register, login, orders, onboarding


def test_the_stack_gives_its_services_valid_limits_sized_for_the_load_generator(
    jwt_secret: str,
) -> None:
    environment = Stack(replicas=1).service_environment()
    fields: dict[str, Any] = {
        name.removeprefix("TASTEMATCH_").lower(): environment[name]
        for name in LOAD_GENERATOR_RATE_LIMITS
    }
    settings = Settings(jwt_secret=jwt_secret, **fields)
    biggest_load = max(scenario.users for scenario in SCENARIOS.values())
    for value in (settings.login_limit_per_address, settings.register_limit_per_address):
        assert parse_rate_limit(value).amount >= 10 * biggest_load
    # Every diner of the biggest load may be logging in at once.
    assert settings.hash_queue >= biggest_load
    own = Stack(service_env={"TASTEMATCH_LOGIN_LIMIT_PER_ADDRESS": "5/minute"})
    assert own.service_environment()["TASTEMATCH_LOGIN_LIMIT_PER_ADDRESS"] == "5/minute"
