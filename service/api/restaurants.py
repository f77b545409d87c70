"""``/api/restaurants``: browse the catalogue (cached, never with embeddings)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from service.catalog import CARD_COLUMNS, card, cards_by_id, dumps
from service.context import AppContext
from service.contract import RESTAURANTS_CACHE_CONTROL
from service.database import fetch_page
from service.deps import CtxDep, ListLimitDep, SessionDep, cacheable_json
from service.models import Restaurant
from service.regressions import Regression
from service.schemas import MAX_ID, PriceRange, RestaurantListOut, RestaurantOut, Text

router = APIRouter(prefix="/api/restaurants", tags=["restaurants"])

SortBy = Literal["rating_desc", "rating_asc", "name_asc", "name_desc"]
_ORDER: dict[str, tuple[ColumnElement[Any], ColumnElement[Any]]] = {
    "rating_desc": (Restaurant.rating.desc(), Restaurant.id.asc()),
    "rating_asc": (Restaurant.rating.asc(), Restaurant.id.asc()),
    "name_asc": (Restaurant.name.asc(), Restaurant.id.asc()),
    "name_desc": (Restaurant.name.desc(), Restaurant.id.asc()),
}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filters(params: dict[str, Any]) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if params["cuisine_type"]:
        conditions.append(func.lower(Restaurant.cuisine_type) == params["cuisine_type"].lower())
    if params["min_rating"] is not None:
        conditions.append(Restaurant.rating >= params["min_rating"])
    if params["price_range"]:
        conditions.append(Restaurant.price_range == params["price_range"])
    if params["search"]:
        pattern = f"%{_escape_like(params['search'])}%"
        conditions.append(
            or_(
                Restaurant.name.ilike(pattern, escape="\\"),
                Restaurant.description.ilike(pattern, escape="\\"),
            )
        )
    return conditions


def _page(ctx: AppContext, session: Session, params: dict[str, Any]) -> dict[str, Any]:
    conditions = _filters(params)
    limit, page = params["limit"], params["page"]
    count_query = select(func.count()).select_from(Restaurant).where(*conditions)
    order_by = _ORDER[params["sort_by"]]
    offset = (page - 1) * limit
    rows: list[Any]
    if ctx.settings.has(Regression.R1):
        # Before the fix: full rows (embedding and all), then a separate count.
        full = select(Restaurant).where(*conditions).order_by(*order_by)
        rows = list(session.scalars(full.offset(offset).limit(limit)))
        total = int(session.scalar(count_query) or 0)
    else:
        columns = select(*CARD_COLUMNS).where(*conditions).order_by(*order_by)
        rows, total = fetch_page(session, columns.offset(offset).limit(limit), count_query)
    return {
        "restaurants": [card(row) for row in rows],
        "total": total,
        "page": page,
        "limit": limit,
    }


@router.get("", response_model=RestaurantListOut)
def list_restaurants(
    ctx: CtxDep,
    session: SessionDep,
    limit: ListLimitDep,
    page: Annotated[int, Query(ge=1, le=1_000_000, description="page number, from 1")] = 1,
    cuisine_type: Annotated[Text | None, Query(max_length=64)] = None,
    min_rating: Annotated[float | None, Query(ge=0, le=5)] = None,
    price_range: PriceRange | None = None,
    search: Annotated[
        Text | None, Query(max_length=100, description="in name or description")
    ] = None,
    sort_by: SortBy = "rating_desc",
) -> Response:
    """One page of restaurants matching the filters."""
    params: dict[str, Any] = {
        "page": page,
        "limit": limit,
        "cuisine_type": cuisine_type,
        "min_rating": min_rating,
        "price_range": price_range,
        "search": search,
        "sort_by": sort_by,
    }
    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()
    body = ctx.cache.get_or_compute(
        "restaurants",
        ctx.cache.key("rest", "list", digest),
        lambda: dumps(_page(ctx, session, params)),
        ctx.settings.restaurant_cache_ttl_s,
    )
    return cacheable_json(ctx, body, RESTAURANTS_CACHE_CONTROL)


@router.get(
    "/{restaurant_id}",
    response_model=RestaurantOut,
    responses={404: {"description": "no such restaurant"}},
)
def get_restaurant(
    ctx: CtxDep, session: SessionDep, restaurant_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> Response:
    """One restaurant, or 404."""
    found = cards_by_id(
        ctx, session, [restaurant_id], full_rows=ctx.settings.has(Regression.R1)
    ).get(restaurant_id)
    if found is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"Restaurant {restaurant_id} not found"
        )
    return cacheable_json(ctx, dumps(found), RESTAURANTS_CACHE_CONTROL)
