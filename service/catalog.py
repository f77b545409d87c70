"""Restaurant metadata: JSON-ready cards, read through the restaurant cache."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.context import AppContext
from service.database import release_connection
from service.models import Restaurant

__all__ = ["CARD_COLUMNS", "card", "cards_by_id", "dumps", "get_restaurants"]

#: Every column the API shows; the embedding columns are deliberately absent.
CARD_COLUMNS = (
    Restaurant.id,
    Restaurant.name,
    Restaurant.cuisine_type,
    Restaurant.description,
    Restaurant.rating,
    Restaurant.price_range,
    Restaurant.location,
    Restaurant.created_at,
)


def dumps(body: Any) -> bytes:
    """Compact JSON bytes of ``body``."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def card(row: Any) -> dict[str, Any]:
    """The API's view of a restaurant, from a column row or an ORM object."""
    return {
        "id": row.id,
        "name": row.name,
        "cuisine_type": row.cuisine_type,
        "description": row.description,
        "rating": round(float(row.rating), 2),
        "price_range": row.price_range,
        "location": row.location,
        "created_at": row.created_at.isoformat(),
    }


def cards_by_id(
    ctx: AppContext, session: Session, ids: Sequence[int], *, full_rows: bool = False
) -> dict[int, dict[str, Any]]:
    """Cards of ``ids`` from the restaurant cache, reading only the missing ones from Postgres.

    ``full_rows`` reads them as full ORM rows, embeddings included (the pre-fix way, R1).
    """
    keys = [ctx.cache.key("rest", rid) for rid in ids]
    found: dict[int, dict[str, Any]] = {}
    for rid, cached in zip(ids, ctx.cache.get_many("restaurants", keys), strict=True):
        if cached is not None:
            found[rid] = json.loads(cached)
    missing = [rid for rid in ids if rid not in found]
    if missing:
        where = Restaurant.id.in_(missing)
        if full_rows:
            fresh = {row.id: card(row) for row in session.scalars(select(Restaurant).where(where))}
        else:
            rows = session.execute(select(*CARD_COLUMNS).where(where)).all()
            fresh = {row.id: card(row) for row in rows}
        release_connection(session)
        ctx.cache.put_many(
            {ctx.cache.key("rest", rid): dumps(body) for rid, body in fresh.items()},
            ctx.settings.restaurant_cache_ttl_s,
        )
        found.update(fresh)
    return found


def get_restaurants(session: Session, *, limit: int = 10_000) -> list[Restaurant]:
    """Full ORM rows of up to ``limit`` restaurants, embeddings included.

    This is the pre-fix helper that regression R1 calls several times per request. Every
    call re-materialises every row (``populate_existing``), even those already in the session.
    """
    query = select(Restaurant).order_by(Restaurant.id).limit(limit)
    return list(session.scalars(query.execution_options(populate_existing=True)))
