"""Everything one running app holds: settings, engine, cache, restaurant index, the watch
on accounts, the password hashing pool and the authentication rate limits."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.accounts import AccountWatch
from service.cache import CacheClient
from service.cache_backends import Backend, LocalBackend, NullBackend, RedisBackend
from service.config import Settings
from service.database import (
    create_schema,
    make_engine,
    make_session_factory,
    pool_options,
    release_engine,
)
from service.near_cache import NearCache
from service.passwords import PasswordHasher
from service.ratelimit import AuthLimiter
from service.restaurant_index import IndexHolder
from service.security import VerifiedTokens

__all__ = ["AppContext"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class AppContext:
    """Per-app resources, created in the lifespan and closed at shutdown."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    cache: CacheClient
    index: IndexHolder
    #: The data set tokens must belong to, and the deleted users' cached entries dropped.
    accounts: AccountWatch
    redis: RedisBackend | None
    passwords: PasswordHasher
    limiter: AuthLimiter
    #: Bearer tokens already verified (their signature is checked once, not per request).
    tokens: VerifiedTokens
    #: Threads that give sessions' connections back to the pool, one per pooled
    #: connection. Not the request threads: when every request thread waits for a
    #: connection, the ones holding the connections must still be able to let go of them
    #: (else the pool stays exhausted until the waiters time out, again and again).
    closer: ThreadPoolExecutor

    @classmethod
    def start(cls, settings: Settings) -> AppContext:
        """Connect to Postgres and the cache, create the schema, load the index."""
        engine = make_engine(settings)
        try:
            create_schema(engine)
        except Exception as error:  # the database may come up after the service
            log.warning("schema not created at start-up: %s", error)
        # The index's thread also polls the accounts (created below, once the cache is).
        index = IndexHolder(
            engine, refresh_s=settings.index_refresh_s, also_poll=lambda: accounts.poll()
        )
        redis_backend: RedisBackend | None = None
        near: NearCache | None = None
        backend: Backend
        if settings.cache_mode == "redis":
            backend = redis_backend = RedisBackend(
                settings.redis_url, timeout_s=settings.redis_timeout_s
            )
            if settings.near_cache_bytes > 0:  # filled once its listener hears Redis
                near = NearCache(settings.near_cache_bytes)
        elif settings.cache_mode == "local":
            backend = LocalBackend()
        else:
            backend = NullBackend()
        # Keys change with the restaurants and with the data set the users belong to: after
        # a re-seed, nobody is served what was cached for the previous owner of their id.
        cache = CacheClient(
            backend,
            namespace=lambda: f"{index.namespace}-{accounts.datasets.current}",
            near=near,
        )
        accounts = AccountWatch(
            engine,
            forget_user=lambda user_id: cache.invalidate_user(
                _user_cache_key(cache, user_id), settings.recommendation_cache_ttl_s
            ),
            # Deletions matter until a poll after their commit has dropped the entries;
            # a cache TTL covers even a slow deleting transaction.
            window_s=settings.recommendation_cache_ttl_s + 2 * settings.index_refresh_s,
        )
        index.start()
        passwords = PasswordHasher(
            threads=settings.hash_threads,
            rounds=settings.bcrypt_rounds,
            max_waiting=settings.hash_queue,
        )
        pool = pool_options(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            cache=cache,
            index=index,
            accounts=accounts,
            redis=redis_backend,
            passwords=passwords,
            limiter=AuthLimiter(settings),
            tokens=VerifiedTokens(settings.jwt_secret),
            closer=ThreadPoolExecutor(
                max_workers=pool["pool_size"] + pool["max_overflow"],
                thread_name_prefix="session-close",
            ),
        )

    async def close_session(self, session: Session) -> None:
        """Close ``session`` (a rollback when it is in a transaction) on :attr:`closer`."""
        await asyncio.get_running_loop().run_in_executor(self.closer, session.close)

    def close(self) -> None:
        """Stop the background thread and close every connection."""
        self.index.stop()
        self.closer.shutdown(wait=True)
        self.passwords.close()
        self.limiter.close()
        if self.redis is not None:
            self.redis.close()
        release_engine(self.engine)

    def user_cache_key(self, user_id: int) -> str:
        """The key of the hash holding a user's cached recommendations."""
        return _user_cache_key(self.cache, user_id)


def _user_cache_key(cache: CacheClient, user_id: int) -> str:
    return cache.key("rec", user_id)
