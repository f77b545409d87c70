"""Rate limits of ``/auth/login`` and ``/auth/register``: per account and per client address.

Counts live in Redis (the ``limits`` library's moving window), so every replica sees the
same ones. While Redis cannot be reached they are kept in this process's memory instead
(each replica then counts alone) and Redis is not retried for ``RETRY_REDIS_AFTER_S``:
a Redis outage never turns a login into a 500, nor lifts the limits.

Every method makes network calls to Redis: call them from a worker thread, never on the
event loop.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

from service.config import Settings

__all__ = ["AuthLimiter", "RateLimited"]

log = logging.getLogger(__name__)

#: Prefix of the limiter's keys in Redis.
KEY_PREFIX = "tm:limits"


class RateLimited(Exception):
    """A limit is reached; ``retry_after_s`` is when the next attempt may pass."""

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class _Rule:
    """One limit: what it counts (named in the 429's reason) and how many per window."""

    subject: str
    item: RateLimitItem

    def describe(self) -> str:
        item = self.item
        window = item.GRANULARITY.name
        if item.multiples != 1:
            window = f"{item.multiples} {window}s"
        return f"too many {self.subject}: at most {item.amount} per {window}, retry later"


def account_key(email: str) -> str:
    """The identifier of an account in the limiter's keys: a digest of its normalised
    email (no address in clear in Redis; any string maps to a short key)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class AuthLimiter:
    """Limits of the authentication routes, in Redis with a fallback to process memory."""

    #: After a Redis failure, the limiter counts in memory for this long before retrying.
    RETRY_REDIS_AFTER_S = 2.0

    def __init__(self, settings: Settings) -> None:
        self.login_per_account = _Rule(
            "login attempts for this account", parse(settings.login_limit_per_account)
        )
        self.login_per_address = _Rule(
            "login attempts from this address", parse(settings.login_limit_per_address)
        )
        self.register_per_address = _Rule(
            "registrations from this address", parse(settings.register_limit_per_address)
        )
        self._memory_storage = MemoryStorage()
        self._memory = MovingWindowRateLimiter(self._memory_storage)
        # The cache's connection settings: short timeouts and no retry loop (one failed
        # call costs at most one timeout; the fallback decides when to try again).
        self._pool = redis.ConnectionPool.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
            health_check_interval=30,
            retry=Retry(NoBackoff(), 0),
        )
        self._redis = MovingWindowRateLimiter(
            RedisStorage(
                settings.redis_url,
                connection_pool=self._pool,
                key_prefix=KEY_PREFIX,
                wrap_exceptions=True,
            )
        )
        self._redis_down_until = 0.0
        self._redis_down = False
        self._lock = threading.Lock()

    # -- the routes' checks ---------------------------------------------------------------
    def admit_login(self, address: str, email: str) -> None:
        """Count a login attempt; raise ``RateLimited`` when its address or account is over
        its limit. The address is counted first: one flooding address does not use up
        the accounts it names beyond its own limit."""
        self._hit(self.login_per_address, "login-address", address)
        self._hit(self.login_per_account, "login-account", account_key(email))

    def admit_registration(self, address: str) -> None:
        """Count a registration; raise ``RateLimited`` when its address is over its limit."""
        self._hit(self.register_per_address, "register-address", address)

    @property
    def using_redis(self) -> bool:
        """Whether counts go to Redis now (not while it is known to be down)."""
        return not (self._redis_down and time.monotonic() < self._redis_down_until)

    def close(self) -> None:
        """Close the Redis connections and stop the memory storage's expiry timer."""
        self._pool.disconnect()
        self._memory_storage.timer.cancel()

    # -- internals ------------------------------------------------------------------------
    def _hit(self, rule: _Rule, kind: str, identifier: str) -> None:
        if self.using_redis:
            try:
                self._hit_with(self._redis, rule, kind, identifier)
            except (StorageError, redis.RedisError, OSError) as error:
                self._note_redis_down(error)
            else:
                self._note_redis_up()
                return
        self._hit_with(self._memory, rule, kind, identifier)

    @staticmethod
    def _hit_with(
        limiter: MovingWindowRateLimiter, rule: _Rule, kind: str, identifier: str
    ) -> None:
        if limiter.hit(rule.item, kind, identifier):
            return
        reset_at = limiter.get_window_stats(rule.item, kind, identifier).reset_time
        raise RateLimited(rule.describe(), retry_after(reset_at, time.time()))

    def _note_redis_down(self, error: BaseException) -> None:
        with self._lock:
            self._redis_down_until = time.monotonic() + self.RETRY_REDIS_AFTER_S
            if not self._redis_down:
                self._redis_down = True
                log.warning("rate limits counted in process memory, Redis unavailable: %s", error)

    def _note_redis_up(self) -> None:
        if self._redis_down:
            with self._lock:
                if self._redis_down:
                    self._redis_down = False
                    log.warning("rate limits counted in Redis again")


def retry_after(reset_at: float, now: float) -> int:
    """Whole seconds until ``reset_at`` (an epoch time), at least 1: a ``Retry-After``."""
    return max(1, math.ceil(reset_at - now))
