"""``/api/recommendations``: personal recommendations, cached per user."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from sqlalchemy.orm import Session

from service.context import AppContext
from service.contract import RECOMMENDATION_LIMIT_DEFAULT, RECOMMENDATIONS_CACHE_CONTROL
from service.deps import (
    BEARER_SECURITY,
    UNKNOWN_USER,
    RecommendationLimit,
    bearer_token,
    cacheable_json,
    capped,
    get_context,
    unauthorized,
    user_id_for_token,
)
from service.recommend import (
    CHEF_FIELD,
    UnknownUserError,
    chef_choice_entries,
    insight_entries,
    insight_field,
    list_field,
    recommendation_entries,
)
from service.schemas import MAX_ID, ChefChoiceOut, InsightOut, RecommendationListOut

router = APIRouter(prefix="/api/recommendations", tags=["recommendations"])

Refresh = Annotated[bool, Query(description="ignore the cached answer and recompute it")]


async def _caller(request: Request) -> tuple[AppContext, int]:
    """The app's resources and the id of the user the bearer token names (401 without one).

    Read here, not through dependencies: FastAPI resolves each dependency (and each of its
    own) per request, and that was half of a cached hit's time in the app (profiled). The
    routes declare the bearer token in the OpenAPI document with :data:`BEARER_SECURITY`.
    """
    ctx = await get_context(request)
    return ctx, await user_id_for_token(ctx, bearer_token(request.headers.get("authorization")))


def _in_a_session(
    ctx: AppContext, work: Callable[[Session], Mapping[str, bytes]]
) -> Callable[[], Mapping[str, bytes]]:
    """``work`` with a session of its own, opened only when the entry must be computed
    (in the worker thread of a miss): a hit costs no session at all."""

    def compute() -> Mapping[str, bytes]:
        with ctx.sessions() as session:
            return work(session)

    return compute


async def _cached(
    ctx: AppContext,
    user_id: int,
    field: str,
    compute: Callable[[], Mapping[str, bytes]],
    *,
    refresh: bool,
) -> bytes:
    """The user's cached entry ``field``, computed on a miss (no SQL at all on a hit).

    A hit is answered on the event loop, without a worker thread; ``compute`` runs in one.
    """
    try:
        return await ctx.cache.get_user_entry_async(
            "recommendations",
            ctx.user_cache_key(user_id),
            field,
            compute,
            ctx.settings.recommendation_cache_ttl_s,
            refresh=refresh,
        )
    except UnknownUserError:
        raise unauthorized(UNKNOWN_USER) from None


@router.get("", response_model=RecommendationListOut, openapi_extra=BEARER_SECURITY)
async def recommendations(
    request: Request,
    refresh: Refresh = False,
    limit: RecommendationLimit = RECOMMENDATION_LIMIT_DEFAULT,
) -> Response:
    """The user's top ``limit`` restaurants with a similarity score and an insight each."""
    ctx, user_id = await _caller(request)
    limit = capped(ctx, limit)
    body = await _cached(
        ctx,
        user_id,
        list_field(limit),
        _in_a_session(ctx, lambda session: recommendation_entries(ctx, session, user_id, limit)),
        refresh=refresh,
    )
    return cacheable_json(ctx, body, RECOMMENDATIONS_CACHE_CONTROL)


@router.get(
    "/chef-choice",
    response_model=ChefChoiceOut,
    responses={404: {"description": "no restaurant to recommend"}},
    openapi_extra=BEARER_SECURITY,
)
async def chef_choice(request: Request, refresh: Refresh = False) -> Response:
    """The single best restaurant for the user, with the reasoning behind it."""
    ctx, user_id = await _caller(request)
    body = await _cached(
        ctx,
        user_id,
        CHEF_FIELD,
        _in_a_session(ctx, lambda session: chef_choice_entries(ctx, session, user_id)),
        refresh=refresh,
    )
    if not body:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="No restaurant to recommend")
    return cacheable_json(ctx, body, RECOMMENDATIONS_CACHE_CONTROL)


@router.get(
    "/{restaurant_id}/insight",
    response_model=InsightOut,
    responses={404: {"description": "no such restaurant"}},
    openapi_extra=BEARER_SECURITY,
)
async def restaurant_insight(
    request: Request, restaurant_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> Response:
    """Why one restaurant suits the user (or not): one sentence, cached with their
    recommendations and dropped with them."""
    ctx, user_id = await _caller(request)
    body = await _cached(
        ctx,
        user_id,
        insight_field(restaurant_id),
        _in_a_session(ctx, lambda session: insight_entries(ctx, session, user_id, restaurant_id)),
        refresh=False,
    )
    if not body:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"Restaurant {restaurant_id} not found"
        )
    return cacheable_json(ctx, body, RECOMMENDATIONS_CACHE_CONTROL)
