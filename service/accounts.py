"""Which users a signed token may still name, learnt without a query per request.

Two things make a valid token name nobody (or somebody else):

- **A re-seed.** ``service.seed`` truncates the users and loads new ones under the same
  ids. Tokens carry the id of the data set they were issued in (``DATASET_ID``: when the
  current one was loaded, in microseconds; 0 for a database never seeded), read in the
  same statement as the user at login and registration. A replica compares it with the
  data set it last read (``DatasetView``): a token from another data set is refused, at
  once when the replica knows the current one, and after one query when the token is
  newer than the replica's knowledge (a login on another replica right after a re-seed).
  An old token is therefore accepted for at most ``index_refresh_s`` after a re-seed, by a
  replica that has not looked since and has seen no newer token.
- **A deleted user.** Routes that read the user answer 401 once the row is gone, but a
  cached recommendation is served without SQL. A trigger records each deleted user in
  ``deleted_users``; every replica reads the recent ones every ``index_refresh_s`` and drops
  their cached entries, so within that time the next request misses, finds no user and
  answers 401. Entries are shared in Redis, so one replica's look is enough for all.

Both reads run in the restaurant index's background thread (``IndexHolder``), never in a
request, except the one look a newer token causes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import BigInteger, Engine, ScalarSelect, cast, delete, extract, func, select

from service import metrics
from service.models import DatasetInfo, DeletedUser
from service.security import TokenClaims

__all__ = ["DATASET_ID", "AccountWatch", "DatasetView"]

log = logging.getLogger(__name__)

#: The current data set's id: when it was loaded, in microseconds since the epoch (exact,
#: whatever the session's time zone), or 0 when nothing was ever seeded.
DATASET_ID: ScalarSelect[int] = select(
    func.coalesce(
        cast(extract("epoch", func.max(DatasetInfo.loaded_at)) * 1_000_000, BigInteger), 0
    )
).scalar_subquery()


class DatasetView:
    """The current data set as this process last read it, and when.

    ``read`` returns the current data set id from the database; it is called by
    ``refresh`` only.
    """

    def __init__(self, read: Callable[[], int], *, clock: Callable[[], float] = time.time) -> None:
        self._read = read
        self._clock = clock
        self._lock = threading.Lock()
        self._current: int | None = None
        self._read_at = float("-inf")

    @property
    def current(self) -> int | None:
        """The data set id last read, ``None`` before the first read succeeded."""
        return self._current

    def refresh(self) -> int:
        """Read the current data set now (one statement); raise what ``read`` raises."""
        with self._lock:
            return self._read_now()

    def _read_now(self) -> int:
        """Read the data set and note when (the caller holds ``_lock``)."""
        started = self._clock()  # the database's answer is at least this recent
        self._current = self._read()
        self._read_at = started
        return self._current

    def verdict(self, claims: TokenClaims) -> bool | None:
        """Whether a token of ``claims`` belongs to the current data set, without a query;
        ``None`` when only a fresh read can tell (the token may be newer than what this
        process knows).

        Before the data set could be read at all, every token is accepted: each route
        that reads the database still checks the user.
        """
        current = self._current
        if current is None or claims.dataset == current:
            return True
        # ``iat`` is rounded down: a read started a second after it follows the login.
        return False if self._read_at >= claims.issued_at + 1 else None

    def admits(self, claims: TokenClaims) -> bool:
        """``verdict``, reading the data set again first if it cannot tell (blocking I/O:
        call it from a worker thread). Concurrent callers read once."""
        decided = self.verdict(claims)
        if decided is not None:
            return decided
        with self._lock:
            if self._read_at < claims.issued_at + 1:
                self._read_now()
        return self._current == claims.dataset


class AccountWatch:
    """The data set and the recently deleted users, read by a background thread.

    ``forget_user(user_id)`` drops a user's cached recommendations. ``window_s`` is how
    long a deletion matters: the cache's TTL, plus a margin for the polling interval.
    """

    def __init__(
        self, engine: Engine, *, forget_user: Callable[[int], None], window_s: float
    ) -> None:
        self._engine = engine
        self._forget_user = forget_user
        self._window_s = window_s
        self.datasets = DatasetView(self._read_dataset)
        self._poll_lock = threading.Lock()
        self._forgotten: set[int] = set()  # ids of deleted_users rows already handled

    def _read_dataset(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.scalar(select(DATASET_ID)) or 0)

    def poll(self) -> None:
        """Read the data set and drop the cache of every user deleted lately and not yet
        handled by this process; prune deletions too old to matter. Not counted as any
        request's SQL."""
        token = metrics.suspend_counting()
        try:
            with self._poll_lock:
                self.datasets.refresh()
                self._forget_deleted_users()
        finally:
            metrics.resume_counting(token)

    def _forget_deleted_users(self) -> None:
        # A time window rather than "ids above the last one seen": ids are handed out
        # before commit, so a later commit can bring a lower id.
        oldest = func.clock_timestamp() - func.make_interval(0, 0, 0, 0, 0, 0, self._window_s)
        with self._engine.begin() as conn:
            conn.execute(delete(DeletedUser).where(DeletedUser.deleted_at < oldest))
            rows = conn.execute(
                select(DeletedUser.id, DeletedUser.user_id).where(DeletedUser.deleted_at >= oldest)
            ).all()
        handled, self._forgotten = self._forgotten, {row_id for row_id, _ in rows}
        fresh = [user_id for row_id, user_id in rows if row_id not in handled]
        for user_id in fresh:
            self._forget_user(user_id)
        if fresh:
            log.info("dropped the cached recommendations of %d deleted user(s)", len(fresh))
