"""Each process's copy of the users' entries it read from Redis, kept coherent by Redis.

A cached recommendation read from Redis costs a round trip. The near cache keeps, per
process and bounded in bytes, the stored entries (expiry time and writer included) that
its event loop read, and answers repeats from memory: with it, cached recommendations'
capacity went from 0.42 to 0.71 of ``/health/live``'s (``make capacity``, README).

Coherence comes from Redis' server-assisted client-side caching in broadcasting mode
(``CLIENT TRACKING ... BCAST PREFIX tm:``): one connection per process, its invalidations
redirected to itself and subscribed to ``__redis__:invalidate``, hears of every change to
a key under ``tm:``, from any replica (an order's invalidation, a new entry, an expiry, an
eviction; ``FLUSHDB`` empties the copy). The copy is used only while that connection is
up: when it drops, the copy is emptied, and filled again once it is back.

A read that an invalidation of its key overtook is not kept: each read takes a token
(:meth:`NearCache.begin`) and :meth:`NearCache.put` refuses it when the key changed, or
the copy was emptied, since. This process's own invalidations and writes
(``CacheClient.invalidate_user``, a computed entry) drop its copy at once, without
waiting for Redis' announcement.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff

__all__ = ["InvalidationListener", "NearCache"]

log = logging.getLogger(__name__)

#: Bytes counted per entry beyond its value: the dictionaries' slots and the key strings.
ENTRY_OVERHEAD_BYTES = 200
#: The channel Redis publishes invalidations on for a RESP2 connection.
INVALIDATION_CHANNEL = "__redis__:invalidate"
#: Every key the service writes starts with this (``CacheClient.key``).
KEY_PREFIX = "tm:"


class NearCache:
    """Stored entries by user key and field, least recently used dropped past ``max_bytes``.

    Thread-safe: the event loop reads and fills it; worker threads drop from it.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, dict[str, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._live = False
        #: Ticks at every drop and every reset: tokens are readings of it.
        self._clock = 0
        self._reset_at = 0
        #: Reads in flight by key, and when each such key last changed.
        self._reading: dict[str, int] = {}
        self._changed_at: dict[str, int] = {}

    @property
    def live(self) -> bool:
        """Whether invalidations are being heard, so that the copy may be used."""
        return self._live

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, user_key: str, field: str) -> bytes | None:
        """The stored entry (maybe expired: the caller checks), ``None`` when not held."""
        with self._lock:
            if not self._live:
                return None
            fields = self._entries.get(user_key)
            if fields is None:
                return None
            stored = fields.get(field)
            if stored is not None:
                self._entries.move_to_end(user_key)
            return stored

    def begin(self, user_key: str) -> int:
        """A token for a read of ``user_key`` from Redis; end it with :meth:`put` or :meth:`end`."""
        with self._lock:
            self._reading[user_key] = self._reading.get(user_key, 0) + 1
            return self._clock

    def put(self, user_key: str, field: str, stored: bytes, token: int) -> bool:
        """Keep what a read found, unless its key changed or the copy was reset since
        ``token``; ends the read. Whether it was kept."""
        with self._lock:
            kept = (
                self._live
                and self._reset_at <= token
                and self._changed_at.get(user_key, -1) <= token
                and len(stored) + ENTRY_OVERHEAD_BYTES <= self.max_bytes
            )
            if kept:
                fields = self._entries.setdefault(user_key, {})
                self._entries.move_to_end(user_key)
                previous = fields.get(field)
                if previous is not None:
                    self._bytes -= len(previous) + ENTRY_OVERHEAD_BYTES
                fields[field] = stored
                self._bytes += len(stored) + ENTRY_OVERHEAD_BYTES
                while self._bytes > self.max_bytes:
                    _, dropped = self._entries.popitem(last=False)
                    self._bytes -= _size(dropped)
            self._end(user_key)
            return kept

    def end(self, user_key: str) -> None:
        """End a read that keeps nothing."""
        with self._lock:
            self._end(user_key)

    def drop(self, keys: Iterable[str]) -> None:
        """Forget ``keys``: they changed in Redis (or are about to, from this process)."""
        with self._lock:
            self._clock += 1
            for key in keys:
                fields = self._entries.pop(key, None)
                if fields is not None:
                    self._bytes -= _size(fields)
                if key in self._reading:
                    self._changed_at[key] = self._clock

    def clear(self) -> None:
        """Empty the copy (Redis failed: changes may go unheard until it is back)."""
        self.reset(live=self._live)

    def reset(self, *, live: bool) -> None:
        """Empty the copy; ``live`` says whether invalidations are heard from now on."""
        with self._lock:
            self._clock += 1
            self._reset_at = self._clock
            self._entries.clear()
            self._bytes = 0
            self._live = live

    def _end(self, user_key: str) -> None:
        left = self._reading.get(user_key, 0) - 1
        if left > 0:
            self._reading[user_key] = left
        else:
            self._reading.pop(user_key, None)
            self._changed_at.pop(user_key, None)


def _size(fields: dict[str, bytes]) -> int:
    return sum(len(value) + ENTRY_OVERHEAD_BYTES for value in fields.values())


class InvalidationListener:
    """The connection that hears Redis' invalidations and applies them to a :class:`NearCache`.

    :meth:`run` keeps it up until cancelled: when Redis cannot be reached it retries every
    ``RETRY_S``, with the copy emptied and unused meanwhile.
    """

    RETRY_S = 1.0
    #: The set-up's three commands may take this many connect timeouts in all.
    SETUP_TIMEOUT_FACTOR = 4

    def __init__(self, url: str, near: NearCache, *, connect_timeout_s: float) -> None:
        self.url = url
        self.near = near
        self.connect_timeout_s = connect_timeout_s
        #: Whether the last failure was logged (once per outage).
        self._warned = False

    async def run(self) -> None:
        """Listen, and listen again after each failure, until cancelled."""
        while True:
            try:
                await self._listen()
            except (redis.RedisError, OSError) as error:
                if not self._warned:
                    log.warning("near cache off, Redis' announcements not heard: %s", error)
                    self._warned = True
            finally:
                self.near.reset(live=False)
            await asyncio.sleep(self.RETRY_S)

    async def _listen(self) -> None:
        # RESP2 on one connection: its invalidations are redirected to itself, and it
        # subscribes to them. No read timeout: it waits for announcements as long as
        # Redis keeps the connection (TCP keep-alive watches it).
        client = redis.asyncio.Redis.from_url(
            self.url,
            protocol=2,
            single_connection_client=True,
            socket_connect_timeout=self.connect_timeout_s,
            socket_timeout=None,
            socket_keepalive=True,
            retry=AsyncRetry(NoBackoff(), 0),
        )
        try:
            # A Redis that accepts connections but does not answer (paused) fails the
            # set-up here (TimeoutError), as the connect timeout would a refused one.
            async with asyncio.timeout(self.SETUP_TIMEOUT_FACTOR * self.connect_timeout_s):
                own_id = await client.client_id()
                await client.client_tracking_on(clientid=own_id, prefix=[KEY_PREFIX], bcast=True)
                connection = client.connection
                if connection is None:  # set by a single-connection client's first command
                    raise redis.ConnectionError("no connection for the invalidations")
                await connection.send_command("SUBSCRIBE", INVALIDATION_CHANNEL)
                self._apply(await connection.read_response())
            self.near.reset(live=True)
            if self._warned:
                log.warning("near cache on again: Redis' announcements heard")
                self._warned = False
            while True:
                message = await connection.read_response()
                self._apply(message)
        finally:
            await client.aclose()

    def _apply(self, message: object) -> None:
        if not (isinstance(message, list) and len(message) == 3 and message[0] == b"message"):
            return  # the subscription's confirmation
        keys = message[2]
        if keys is None:  # FLUSHDB / FLUSHALL: everything changed
            self.near.reset(live=True)
        elif isinstance(keys, list):
            self.near.drop(key.decode() if isinstance(key, bytes) else str(key) for key in keys)
