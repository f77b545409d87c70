"""The recommendation algorithm, optimised and as it was before the fix (R1).

A user's taste vector is the weighted mean of the embeddings of the restaurants they ordered
in the last 365 days; an order weighs ``recency * rating / 5`` where recency falls linearly
from 1 (today) to 0 (365 days ago) and an unrated order counts as rated 3. Candidates are
restaurants rated at least 3 that are not among the user's 10 most recent orders, ranked by
cosine similarity to the taste vector. Without a taste vector (cold start) the best-rated
candidates are recommended.

The optimised path reads three small results from Postgres (the user's state, their order
weights when the stored vector is stale, and the metadata of the few winners) and ranks over
the process-wide ``RestaurantIndex``. The R1 path loads every restaurant as a full ORM row
and parses its JSON embedding, two to four times per request, as the original code did.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session, joinedload

from service.catalog import card, cards_by_id, dumps, get_restaurants
from service.context import AppContext
from service.database import release_connection
from service.insights import TasteProfile, chef_choice, insight
from service.models import Order, Restaurant, User, UserPreference
from service.regressions import Regression
from service.restaurant_index import MIN_CANDIDATE_RATING

__all__ = [
    "CHEF_FIELD",
    "Ranked",
    "UnknownUserError",
    "chef_choice_entries",
    "insight_entries",
    "insight_field",
    "list_field",
    "recommendation_entries",
]

#: Orders older than this do not shape the taste vector.
TASTE_WINDOW_DAYS = 365
#: Restaurants of this many most recent orders are not recommended again.
RECENT_ORDERS_EXCLUDED = 10
#: The pre-fix code looked at this many orders at most.
BASELINE_ORDER_LIMIT = 1000

_USER_STATE_SQL = text(
    """
    SELECT p.preference_vector,
           coalesce(p.vector_stale OR p.vector_updated_at < now() - interval '1 day', true)
             AS vector_stale,
           coalesce(p.cuisine_counts, '{}'::jsonb) AS cuisine_counts,
           coalesce(p.total_orders, 0) AS total_orders, p.last_updated,
           ARRAY(SELECT o.restaurant_id FROM orders o WHERE o.user_id = u.id
                 ORDER BY o.order_date DESC, o.id DESC LIMIT :recent) AS recent
    FROM users u LEFT JOIN user_preferences p ON p.user_id = u.id
    WHERE u.id = :user_id
    """
)

_TASTE_WEIGHTS_SQL = text(
    """
    SELECT restaurant_id,
           sum(least(1.0, greatest(0.0,
                 1.0 - extract(epoch FROM now() - order_date) / (86400.0 * :days)))
               * coalesce(rating, 3) / 5.0) AS weight
    FROM orders
    WHERE user_id = :user_id AND order_date > now() - make_interval(days => :days)
    GROUP BY restaurant_id
    """
)


class UnknownUserError(Exception):
    """The token names a user that does not exist."""


@dataclass(slots=True)
class Ranked:
    """Recommended restaurants (cards and scores) and what explains them."""

    items: list[tuple[dict[str, Any], float]]
    profile: TasteProfile
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


def order_weight(order_date: datetime, rating: int | None, now: datetime) -> float:
    """Weight of one order in the taste vector (see the module docstring)."""
    age_days = (now - order_date).total_seconds() / 86400.0
    if age_days >= TASTE_WINDOW_DAYS:
        return 0.0
    recency = min(1.0, max(0.0, 1.0 - age_days / TASTE_WINDOW_DAYS))
    return recency * (rating if rating is not None else 3) / 5.0


# -- optimised ------------------------------------------------------------------------------
def _vector_from_bytes(blob: bytes | None) -> npt.NDArray[np.float32] | None:
    return None if blob is None else np.frombuffer(blob, dtype="<f4").copy()


def rank_optimised(ctx: AppContext, session: Session, user_id: int, limit: int) -> Ranked:
    """Top ``limit`` recommendations with at most four SQL statements."""
    state = session.execute(
        _USER_STATE_SQL, {"user_id": user_id, "recent": RECENT_ORDERS_EXCLUDED}
    ).one_or_none()
    if state is None:
        raise UnknownUserError(user_id)
    index = ctx.index.get()
    taste = _vector_from_bytes(state.preference_vector)
    if state.vector_stale:
        weights = {
            int(rid): float(weight)
            for rid, weight in session.execute(
                _TASTE_WEIGHTS_SQL, {"user_id": user_id, "days": TASTE_WINDOW_DAYS}
            )
        }
        taste = index.taste_vector(weights)
        # Only if no order arrived meanwhile: otherwise the vector stays stale.
        session.execute(
            update(UserPreference)
            .where(
                UserPreference.user_id == user_id,
                UserPreference.last_updated == state.last_updated,
            )
            .values(
                preference_vector=None if taste is None else taste.astype("<f4").tobytes(),
                vector_stale=False,
                vector_updated_at=func.now(),
            )
        )
    release_connection(session)
    ranked = index.rank(taste, list(state.recent), limit)
    cards = cards_by_id(ctx, session, [rid for rid, _ in ranked])
    profile = TasteProfile(
        total_orders=int(state.total_orders), cuisine_counts=dict(state.cuisine_counts)
    )
    return Ranked([(cards[rid], score) for rid, score in ranked if rid in cards], profile)


# -- before the fix (R1) --------------------------------------------------------------------
def _parsed_restaurants(session: Session) -> list[tuple[Restaurant, list[float]]]:
    """Every restaurant with its embedding parsed from JSON (the pre-fix helper)."""
    return [(row, json.loads(row.embedding)) for row in get_restaurants(session, limit=10_000)]


def _cosine(a: list[float], b: list[float]) -> float:
    va, vb = np.asarray(a), np.asarray(b)
    denominator = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(np.dot(va, vb)) / denominator if denominator else 0.0


def rank_baseline(
    ctx: AppContext, session: Session, user_id: int, limit: int, *, lazy_orders: bool
) -> Ranked:
    """Top ``limit`` recommendations the pre-fix way.

    Every restaurant is loaded as a full row with its parsed embedding twice (three times
    for a cold start), and the orders come with their restaurants (lazily under R4).
    """
    if session.get(User, user_id) is None:
        raise UnknownUserError(user_id)
    prefs = session.get(UserPreference, user_id)
    query = (
        select(Order)
        .where(Order.user_id == user_id)
        .order_by(Order.order_date.desc(), Order.id.desc())
        .limit(BASELINE_ORDER_LIMIT)
    )
    if not lazy_orders:
        query = query.options(joinedload(Order.restaurant))
    orders = list(session.scalars(query).unique())
    now = datetime.now(UTC)
    total: list[float] | None = None
    weight_sum = 0.0
    for order in orders:
        weight = order_weight(order.order_date, order.rating, now)
        if weight <= 0:
            continue
        embedding = json.loads(order.restaurant.embedding)  # a lazy load per order under R4
        if total is None:
            total = [weight * e for e in embedding]
        else:
            total = [t + weight * e for t, e in zip(total, embedding, strict=True)]
        weight_sum += weight
    taste = [t / weight_sum for t in total] if total is not None and weight_sum > 0 else None
    if prefs is not None:
        prefs.preference_vector = (
            None if taste is None else np.asarray(taste, dtype="<f4").tobytes()
        )
        prefs.vector_stale = False
        prefs.vector_updated_at = now
        session.commit()
    recent = {order.restaurant_id for order in orders[:RECENT_ORDERS_EXCLUDED]}
    candidates = [
        (row, emb)
        for row, emb in _parsed_restaurants(session)
        if row.rating >= MIN_CANDIDATE_RATING and row.id not in recent
    ]
    if taste is None:
        # The cold-start helper read its own full list of "popular" restaurants.
        popular = [
            row
            for row, _ in _parsed_restaurants(session)
            if row.rating >= MIN_CANDIDATE_RATING and row.id not in recent
        ]
        scored = [(row, row.rating / 5.0) for row in popular]
    else:
        scored = [(row, max(0.0, min(1.0, _cosine(taste, emb)))) for row, emb in candidates]
    del candidates
    scored.sort(key=lambda item: (-item[1], item[0].id))
    # The insight helper looked each winner up in yet another full list.
    by_id = {row.id: row for row, _ in _parsed_restaurants(session)}
    profile = TasteProfile(
        total_orders=prefs.total_orders if prefs else 0,
        cuisine_counts=dict(prefs.cuisine_counts) if prefs else {},
    )
    return Ranked([(card(by_id[row.id]), score) for row, score in scored[:limit]], profile)


# -- response bodies ------------------------------------------------------------------------
def _rank(ctx: AppContext, session: Session, user_id: int, limit: int) -> Ranked:
    if ctx.settings.has(Regression.R1):
        lazy = ctx.settings.has(Regression.R4)
        return rank_baseline(ctx, session, user_id, limit, lazy_orders=lazy)
    return rank_optimised(ctx, session, user_id, limit)


#: Hash field of the cached chef's choice; recommendation lists use ``list_field(limit)``.
CHEF_FIELD = "chef"


def list_field(limit: int) -> str:
    """Hash field of the cached recommendation list of size ``limit``."""
    return f"list:{limit}"


def _list_body(ranked: Ranked) -> dict[str, Any]:
    recommendations = [
        {
            "restaurant": restaurant,
            "similarity_score": round(score, 4),
            "insight": insight(restaurant, score, ranked.profile),
            "generated_at": ranked.generated_at,
        }
        for restaurant, score in ranked.items
    ]
    return {
        "recommendations": recommendations,
        "count": len(recommendations),
        "generated_at": ranked.generated_at,
    }


def _chef_body(ranked: Ranked) -> bytes:
    """The chef's choice: the best-ranked restaurant explained (empty: nothing to pick)."""
    if not ranked.items:
        return b""
    restaurant, score = ranked.items[0]
    explanation, reasoning, confidence = chef_choice(restaurant, score, ranked.profile)
    return dumps(
        {
            "restaurant": restaurant,
            "similarity_score": round(score, 4),
            "explanation": explanation,
            "reasoning": reasoning,
            "confidence": min(1.0, max(0.0, confidence)),
            "generated_at": ranked.generated_at,
        }
    )


def recommendation_entries(
    ctx: AppContext, session: Session, user_id: int, limit: int
) -> dict[str, bytes]:
    """The body of ``GET /api/recommendations?limit=...`` and, from the same ranking, of
    ``GET /api/recommendations/chef-choice`` (its best item): both go into the cache.
    """
    ranked = _rank(ctx, session, user_id, limit)
    return {list_field(limit): dumps(_list_body(ranked)), CHEF_FIELD: _chef_body(ranked)}


def chef_choice_entries(ctx: AppContext, session: Session, user_id: int) -> dict[str, bytes]:
    """The body of ``GET /api/recommendations/chef-choice`` (empty: nothing to pick)."""
    return {CHEF_FIELD: _chef_body(_rank(ctx, session, user_id, 1))}


# -- one restaurant's insight ---------------------------------------------------------------
_INSIGHT_STATE_SQL = text(
    """
    SELECT p.preference_vector,
           coalesce(p.cuisine_counts, '{}'::jsonb) AS cuisine_counts,
           coalesce(p.total_orders, 0) AS total_orders
    FROM users u LEFT JOIN user_preferences p ON p.user_id = u.id
    WHERE u.id = :user_id
    """
)


def insight_field(restaurant_id: int) -> str:
    """Hash field of the cached insight of one restaurant."""
    return f"insight:{restaurant_id}"


def _score(
    taste: npt.NDArray[np.float32] | None, embedding: npt.NDArray[np.float32], rating: float
) -> float:
    """Cosine similarity clipped to [0, 1], or rating / 5 without a taste vector."""
    norm = float(np.linalg.norm(taste)) if taste is not None else 0.0
    if taste is None or norm == 0.0:
        return rating / 5.0
    unit = float(np.linalg.norm(embedding)) or 1.0
    return min(1.0, max(0.0, float(embedding @ taste) / (norm * unit)))


def _insight_baseline(
    session: Session, user_id: int, restaurant_id: int
) -> tuple[dict[str, Any], float, TasteProfile] | None:
    """The pre-fix work (R1): the restaurant, 100 orders with their restaurants and every
    restaurant, all as full rows, parsed embeddings included."""
    if session.get(User, user_id) is None:
        raise UnknownUserError(user_id)
    found = session.get(Restaurant, restaurant_id)
    if found is None:
        return None
    session.scalars(
        select(Order)
        .where(Order.user_id == user_id)
        .order_by(Order.order_date.desc(), Order.id.desc())
        .limit(100)
        .options(joinedload(Order.restaurant))
    ).unique().all()
    by_id = {row.id: json.loads(row.embedding) for row, _ in _parsed_restaurants(session)}
    prefs = session.get(UserPreference, user_id)
    taste = _vector_from_bytes(prefs.preference_vector if prefs else None)
    embedding = np.asarray(by_id.get(restaurant_id, json.loads(found.embedding)), np.float32)
    profile = TasteProfile(
        total_orders=prefs.total_orders if prefs else 0,
        cuisine_counts=dict(prefs.cuisine_counts) if prefs else {},
    )
    return card(found), _score(taste, embedding, found.rating), profile


def _insight_optimised(
    ctx: AppContext, session: Session, user_id: int, restaurant_id: int
) -> tuple[dict[str, Any], float, TasteProfile] | None:
    """The user's state in one statement, the restaurant's card from the cache (or one
    statement), its vector from the process-wide index."""
    state = session.execute(_INSIGHT_STATE_SQL, {"user_id": user_id}).one_or_none()
    if state is None:
        raise UnknownUserError(user_id)
    found = cards_by_id(ctx, session, [restaurant_id]).get(restaurant_id)
    release_connection(session)
    if found is None:
        return None
    index = ctx.index.get()
    rows = index.rows_of([restaurant_id])
    taste = _vector_from_bytes(state.preference_vector)
    rating = float(found["rating"])
    score = rating / 5.0 if rows.size == 0 else _score(taste, index.embeddings[rows[0]], rating)
    profile = TasteProfile(
        total_orders=int(state.total_orders), cuisine_counts=dict(state.cuisine_counts)
    )
    return found, score, profile


def insight_entries(
    ctx: AppContext, session: Session, user_id: int, restaurant_id: int
) -> dict[str, bytes]:
    """The body of ``GET /api/recommendations/{restaurant_id}/insight`` (empty: no such
    restaurant)."""
    if ctx.settings.has(Regression.R1):
        found = _insight_baseline(session, user_id, restaurant_id)
    else:
        found = _insight_optimised(ctx, session, user_id, restaurant_id)
    if found is None:
        return {insight_field(restaurant_id): b""}
    restaurant, score, profile = found
    body = {
        "restaurant_id": restaurant_id,
        "insight": insight(restaurant, score, profile),
        "generated_at": datetime.now(UTC).isoformat(),
    }
    return {insight_field(restaurant_id): dumps(body)}
