"""Engine, pool and schema: the service's one path to Postgres."""

from __future__ import annotations

import logging
import weakref
from typing import Any

from sqlalchemy import Engine, Row, Select, create_engine, event, func, text
from sqlalchemy.orm import Session, sessionmaker

from service import metrics
from service.config import Settings
from service.models import Base, Restaurant
from service.regressions import Regression

__all__ = [
    "NoCountError",
    "create_schema",
    "fetch_page",
    "make_engine",
    "make_session_factory",
]

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every process creating the schema.
_SCHEMA_LOCK_KEY = 0x7A57E


def pool_options(settings: Settings) -> dict[str, Any]:
    """Pool arguments: the tuned ones, or SQLAlchemy's defaults under R2."""
    if settings.has(Regression.R2):
        return {"pool_size": 5, "max_overflow": 10, "pool_timeout": 30.0}
    return {
        "pool_size": 4,
        "max_overflow": 0,
        "pool_recycle": 1800,
        "pool_pre_ping": True,
        "pool_timeout": settings.pool_timeout_s,
    }


def connect_args(settings: Settings) -> dict[str, Any]:
    """psycopg connection arguments: network timeouts (``db_network_timeout_s``, and TCP
    keepalives that find an idle connection whose peer vanished); behind a
    transaction-mode pooler, no prepared statements.

    psycopg prepares a statement on the server after its 5th execution on a connection; a
    transaction pooler (PgBouncer before 1.21) hands the next transaction another backend,
    where that prepared statement does not exist.
    """
    timeout_s = settings.db_network_timeout_s
    args: dict[str, Any] = {
        "connect_timeout": max(2, round(timeout_s)),  # libpq: whole seconds, 2 at least
        "tcp_user_timeout": round(timeout_s * 1000),
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "application_name": "tastematch",
    }
    if settings.transaction_pooler:
        args["prepare_threshold"] = None
    return args


def make_engine(settings: Settings, *, instrument: bool = True) -> Engine:
    """An engine for ``settings.database_url`` with the profile's pool.

    With ``instrument`` the engine counts statements per request and pool check-outs.
    """
    options = pool_options(settings)
    engine = create_engine(settings.database_url, connect_args=connect_args(settings), **options)
    if instrument:
        _instrument(engine, options["pool_size"] + options["max_overflow"])
    return engine


_capacities: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()


def _instrument(engine: Engine, capacity: int) -> None:
    metrics.POOL_CAPACITY.inc(capacity)
    _capacities[engine] = capacity

    @event.listens_for(engine, "before_cursor_execute")
    def _count_statement(*_args: Any) -> None:
        stats = metrics.current_stats()
        if stats is not None:
            stats.statements += 1

    @event.listens_for(engine, "checkout")
    def _checked_out(*_args: Any) -> None:
        metrics.POOL_CHECKED_OUT.inc()

    @event.listens_for(engine, "checkin")
    def _checked_in(*_args: Any) -> None:
        metrics.POOL_CHECKED_OUT.dec()


def release_engine(engine: Engine) -> None:
    """Dispose of ``engine`` and take its capacity off the pool gauge."""
    capacity = _capacities.pop(engine, 0)
    engine.dispose()
    metrics.POOL_CAPACITY.dec(capacity)


@event.listens_for(Restaurant, "load")
@event.listens_for(Restaurant, "refresh")
def _count_restaurant_row(*_args: Any) -> None:
    # "refresh" fires when a query re-populates a row the session already holds.
    metrics.RESTAURANT_ROWS.inc()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (responses are built afterwards)."""
    return sessionmaker(engine, expire_on_commit=False)


#: Columns added after the first schema: ``create_all`` makes missing tables, not columns.
_ADDED_COLUMNS = (
    "ALTER TABLE user_preferences ADD COLUMN IF NOT EXISTS vector_updated_at timestamptz",
)


#: Records every deleted user in ``deleted_users`` (``service.accounts`` reads them). The
#: function's search path is the one it is created with, like the tables it writes to.
_RECORD_DELETION_FUNCTION = """
CREATE OR REPLACE FUNCTION tm_record_user_deletion() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO deleted_users (user_id) VALUES (OLD.id);
    RETURN OLD;
END
$$
"""
_RECORD_DELETION_TRIGGER = (
    "CREATE TRIGGER tm_users_deleted AFTER DELETE ON users"
    " FOR EACH ROW EXECUTE FUNCTION tm_record_user_deletion()"
)
_HAS_DELETION_TRIGGER = text(
    "SELECT EXISTS (SELECT 1 FROM pg_trigger"
    " WHERE tgrelid = 'users'::regclass AND tgname = 'tm_users_deleted')"
)


def create_schema(engine: Engine) -> None:
    """Create every table, column, index and trigger that is missing; safe from several
    processes."""
    with engine.begin() as conn:
        # create_all checks then creates; the lock keeps two processes from racing.
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        Base.metadata.create_all(conn)
        for statement in _ADDED_COLUMNS:
            conn.execute(text(statement))
        # Created only when missing: CREATE TRIGGER locks users against writes.
        if not conn.scalar(_HAS_DELETION_TRIGGER):
            conn.execute(text(_RECORD_DELETION_FUNCTION))
            conn.execute(text(_RECORD_DELETION_TRIGGER))


def release_connection(session: Session) -> None:
    """End the session's transaction so that its connection goes back to the pool now.

    Reads call this once they have their rows: the rest of the request (ranking, building
    the JSON) is CPU work, and under load a connection held through it is one the next
    request waits for. Loaded objects stay readable (sessions do not expire on commit).
    """
    session.commit()


class NoCountError(Exception):
    """A page's count query returned no row: what the list belongs to does not exist."""


def fetch_page(
    session: Session, query: Select[*tuple[Any, ...]], count_query: Select[int]
) -> tuple[list[Row[*tuple[Any, ...]]], int]:
    """Rows of a paged ``query`` and the total it pages over, in one statement if possible.

    The total rides along as a window count; only an empty page needs ``count_query``.
    Raise ``NoCountError`` if that returns no row at all (a query can say so when the
    list's owner does not exist). The connection is released before returning.
    """
    rows = list(session.execute(query.add_columns(func.count().over().label("total_rows"))))
    counted = (rows[0].total_rows,) if rows else session.execute(count_query).first()
    release_connection(session)
    if counted is None:
        raise NoCountError
    return rows, int(counted[0] or 0)
