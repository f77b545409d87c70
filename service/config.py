"""Service settings, read from ``TASTEMATCH_*`` environment variables.

The profile ``optimized`` (default) is the fixed service. ``baseline`` switches on every
service-side historical regression at once; each one can also be switched on alone with
``TASTEMATCH_REGRESSIONS=R1,R4`` (the catalogue is ``service.regressions``):

R1  recommendations load every restaurant as a full ORM row with its JSON embedding,
    several times per request (list endpoints load full rows too); an insight parses
    every restaurant's embedding; onboarding loads every restaurant of the picked cuisines
R2  default connection pool (5 + 10 overflow, 30 s timeout) and 2 uvicorn workers
R3  no cache at all
R4  N+1: orders loaded first, then each restaurant lazily
R5  no pagination cap: ``limit`` accepted up to 10,000
R6  untuned Postgres: a database-container setting, accepted and ignored here
R7  per-process in-memory cache instead of the shared Redis one
R8  no ``Cache-Control`` headers

When both R3 and R7 are on (as in ``baseline``), R3 wins: nothing is cached.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from limits import parse as parse_rate_limit
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.contract import ORDER_LIMIT_MAX, PAGE_LIMIT_MAX, UNCAPPED_LIMIT_MAX
from service.regressions import SERVICE_REGRESSIONS, Regression, parse_regressions

__all__ = ["Settings", "get_settings", "one_process_jwt_secret"]


#: Shortest accepted token-signing key.
JWT_SECRET_MIN_BYTES = 32

#: Largest request body accepted by default. The largest valid body is an order of 100
#: items: about 30 KiB with names of 255 ASCII characters (JSON escapes of non-ASCII
#: names take more; clients send them as UTF-8).
MAX_BODY_BYTES = 64 * 1024


class Settings(BaseSettings):
    """Everything the service reads from its environment."""

    # Errors name the setting, never echo its value: the secret may be the one that is wrong.
    model_config = SettingsConfigDict(
        env_prefix="TASTEMATCH_", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = "postgresql+psycopg://tastematch:tastematch@127.0.0.1:5432/tastematch"
    redis_url: str = "redis://127.0.0.1:6379/0"
    profile: Literal["optimized", "baseline"] = "optimized"
    regressions: str = Field(default="", description="comma list of R1..R8")
    #: Key that signs access tokens (HS256). No default: a secret known to everyone who
    #: read this file would let anyone mint a token for any user.
    jwt_secret: str = Field(repr=False, description=f"at least {JWT_SECRET_MIN_BYTES} bytes")
    jwt_ttl_s: int = Field(default=24 * 3600, gt=0)
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"
    #: Cost of bcrypt for accounts registered through the API.
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    #: Threads running request handlers. More than a few per pooled connection only adds
    #: GIL contention: the extra threads would mostly wait for a connection anyway.
    worker_threads: int = Field(default=16, ge=1, le=200)
    #: Seconds a request waits for a pooled connection before it is answered 503.
    pool_timeout_s: float = Field(default=10.0, gt=0)
    #: Seconds a connection to Postgres may take to open, and data sent on one may go
    #: unacknowledged (TCP_USER_TIMEOUT), before it is given up: a query in flight when
    #: the network to Postgres drops fails after this long (503) instead of waiting for
    #: TCP's retransmissions, which can take minutes.
    db_network_timeout_s: float = Field(default=3.0, ge=2.0, le=60.0)
    #: Seconds an idle keep-alive connection stays open (uvicorn's default is 5). It must
    #: outlast a client's pauses: a client that sends on a connection the server closes
    #: at that moment gets a connection error, and a POST is not retried. The load's
    #: simulator pauses up to 5 s between orders; a gate's fault run lost one order request
    #: that way ("HTTP 0" after 1 ms). Proxies keep theirs 60 s or more (nginx 75 s).
    keep_alive_s: int = Field(default=75, ge=1, le=3600)
    #: How often each process checks whether the restaurant table changed.
    index_refresh_s: float = Field(default=10.0, gt=0)
    restaurant_cache_ttl_s: int = Field(default=3600, gt=0)
    recommendation_cache_ttl_s: int = Field(default=600, gt=0)
    #: Socket timeouts towards Redis: a slow cache must not slow the API down.
    redis_timeout_s: float = Field(default=0.5, gt=0)
    #: Bytes of user entries each process keeps a copy of, kept coherent by Redis'
    #: invalidation announcements (``service.near_cache``); 0 turns the copy off. Used
    #: only with the Redis cache.
    near_cache_bytes: int = Field(default=16 * 2**20, ge=0)
    #: The database URL points at a pooler in transaction mode (PgBouncer's
    #: ``pool_mode = transaction``): consecutive transactions of one connection may run on
    #: different Postgres backends, so the service keeps no session state there. It turns
    #: off psycopg's server-side prepared statements (``prepare_threshold=None``); the rest
    #: of what it sends is transaction-scoped already (``pg_advisory_xact_lock``, the
    #: server-side cursor of the restaurant index inside its transaction, no ``SET``,
    #: ``LISTEN`` or temporary tables).
    transaction_pooler: bool = False
    #: Largest request body, in bytes; a larger one is answered 413 without being read.
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1)
    #: Rate limits of the authentication routes, in the notation of the ``limits`` library
    #: (``10/minute``, ``100 per hour``), kept in Redis and shared by every replica (in
    #: process memory while Redis is unreachable). Every attempt counts, successful or
    #: not; past a limit the answer is 429 with ``Retry-After``.
    login_limit_per_account: str = "10/minute"
    login_limit_per_address: str = "30/minute"
    register_limit_per_address: str = "10/minute"
    #: Threads hashing and checking passwords (bcrypt), apart from the request threads:
    #: a flood of logins queues for these and leaves ``worker_threads`` to other routes.
    hash_threads: int = Field(default=2, ge=1, le=32)
    #: Logins and registrations that may wait for a hashing thread; past them the answer
    #: is 503 with ``Retry-After`` at once (0: none waits; 32 is about 4 s of work for 2
    #: threads at cost 12).
    hash_queue: int = Field(default=32, ge=0, le=10_000)
    #: Folder for OTLP JSON span files, one per process (tracing on; see service/tracing.py,
    #: which also honours the standard OTEL_* variables).
    traces_dir: Path | None = None

    @field_validator("jwt_secret")
    @classmethod
    def _strong_jwt_secret(cls, value: str) -> str:
        # RFC 7518 3.2: an HS256 key of at least the hash's size, 256 bits.
        size = len(value.encode())
        if size < JWT_SECRET_MIN_BYTES:
            raise ValueError(
                f"TASTEMATCH_JWT_SECRET must be at least {JWT_SECRET_MIN_BYTES} bytes, not {size}"
                " (e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        return value

    @field_validator(
        "login_limit_per_account", "login_limit_per_address", "register_limit_per_address"
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            parse_rate_limit(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate limit (e.g. '10/minute', '100 per hour')"
            ) from None
        return value

    @field_validator("regressions")
    @classmethod
    def _known_regressions(cls, value: str) -> str:
        parse_regressions(value)
        return value

    @property
    def active(self) -> frozenset[Regression]:
        """The regressions in force: the listed ones, plus all service ones for ``baseline``."""
        chosen = parse_regressions(self.regressions)
        if self.profile == "baseline":
            chosen |= SERVICE_REGRESSIONS
        return chosen

    def has(self, regression: Regression) -> bool:
        """Whether ``regression`` is switched on."""
        return regression in self.active

    @property
    def workers(self) -> int:
        """uvicorn worker processes: 2 under R2 (the old deployment), else 1."""
        return 2 if self.has(Regression.R2) else 1

    @property
    def page_limit_max(self) -> int:
        """Largest ``limit`` accepted by list endpoints."""
        return UNCAPPED_LIMIT_MAX if self.has(Regression.R5) else PAGE_LIMIT_MAX

    @property
    def order_limit_max(self) -> int:
        """Largest ``limit`` of ``GET /api/orders`` (one user's history, not the catalogue)."""
        return UNCAPPED_LIMIT_MAX if self.has(Regression.R5) else ORDER_LIMIT_MAX

    def limit_max(self, path: str) -> int:
        """Largest ``limit`` the route at ``path`` accepts."""
        return self.order_limit_max if path == "/api/orders" else self.page_limit_max

    @property
    def cache_mode(self) -> Literal["redis", "local", "none"]:
        """Which recommendation/restaurant cache is used."""
        if self.has(Regression.R3):
            return "none"
        if self.has(Regression.R7):
            return "local"
        return "redis"


def one_process_jwt_secret() -> str:
    """A fresh random signing key, for an app whose tokens never leave its process
    (in-process probes and tests): they die with it."""
    return secrets.token_hex(JWT_SECRET_MIN_BYTES)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, built on first use and then reused."""
    return Settings()
