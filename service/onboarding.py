"""Onboarding: a synthetic taste vector from the cuisines a new user picks.

As in the original, the vector is the normalised mean embedding of the best-rated
restaurants (rating at least 4) of the chosen cuisines, at most 20 per cuisine, filtered by
the price preference when one is given. The optimised path asks Postgres for the ids of
those restaurants only (bounded, through the cuisine/rating index) and averages their
vectors from the process-wide index; the pre-fix path (R1) loads every restaurant of the
chosen cuisines as a full row and parses each JSON embedding.
"""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from service.context import AppContext
from service.models import Restaurant, UserPreference

__all__ = ["ARCHETYPES_PER_CUISINE", "MIN_ARCHETYPE_RATING", "save_vector", "synthetic_vector"]

#: Only restaurants rated at least this represent a cuisine.
MIN_ARCHETYPE_RATING = 4.0
#: At most this many restaurants per chosen cuisine shape the vector.
ARCHETYPES_PER_CUISINE = 20


def _conditions(cuisines: list[str], price: str | None) -> list[ColumnElement[bool]]:
    wanted = sorted({cuisine.strip().lower() for cuisine in cuisines})
    conditions: list[ColumnElement[bool]] = [
        func.lower(Restaurant.cuisine_type).in_(wanted),
        Restaurant.rating >= MIN_ARCHETYPE_RATING,
    ]
    if price is not None:
        conditions.append(Restaurant.price_range == price)
    return conditions


def synthetic_vector(
    ctx: AppContext,
    session: Session,
    *,
    cuisines: list[str],
    price: str | None,
    full_rows: bool,
) -> npt.NDArray[np.float32] | None:
    """The unit-length taste vector of the picks, or ``None`` when no restaurant fits.

    ``full_rows`` is the pre-fix way (R1): every restaurant of the cuisines as a full row.
    """
    conditions = _conditions(cuisines, price)
    take = ARCHETYPES_PER_CUISINE * len(cuisines)
    if full_rows:
        rows = list(session.scalars(select(Restaurant).where(*conditions)))
        rows.sort(key=lambda row: (-row.rating, row.id))
        embeddings = [json.loads(row.embedding) for row in rows[:take]]
        if not embeddings:
            return None
        mean = np.asarray(embeddings, dtype=np.float64).mean(axis=0).astype(np.float32)
    else:
        ids = session.scalars(
            select(Restaurant.id)
            .where(*conditions)
            .order_by(Restaurant.rating.desc(), Restaurant.id.asc())
            .limit(take)
        ).all()
        found = ctx.index.get().taste_vector({int(rid): 1.0 for rid in ids})
        if found is None:
            return None
        mean = found
    norm = float(np.linalg.norm(mean))
    if norm == 0.0:
        return None
    vector: npt.NDArray[np.float32] = (mean / np.float32(norm)).astype(np.float32)
    return vector


def save_vector(session: Session, *, user_id: int, vector: npt.NDArray[np.float32]) -> None:
    """Store ``vector`` as the user's taste vector in one atomic statement.

    ``INSERT ... ON CONFLICT DO UPDATE`` locks the preference row; bumping ``last_updated``
    makes a recommendation request that read the row before this one drop its own write
    of a recomputed vector (it writes only if ``last_updated`` is unchanged), so the
    synthetic vector is never silently overwritten by a stale computation.
    """
    blob = vector.astype("<f4").tobytes()
    table = UserPreference.__table__
    statement = insert(UserPreference).values(
        user_id=user_id,
        preference_vector=blob,
        vector_stale=False,
        vector_updated_at=func.now(),
        last_updated=func.clock_timestamp(),
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.user_id],
        set_={
            "preference_vector": statement.excluded.preference_vector,
            "vector_stale": False,
            "vector_updated_at": func.now(),
            "last_updated": func.clock_timestamp(),
        },
    )
    session.execute(statement)
