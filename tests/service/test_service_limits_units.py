"""Rate limiter, password pool and their settings, without containers."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import bcrypt
import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from service import passwords
from service.config import MAX_BODY_BYTES, Settings
from service.passwords import HashQueueFull, PasswordHasher
from service.ratelimit import AuthLimiter, RateLimited, account_key, retry_after
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
