"""``/api/recommendations``: personal recommendations, cached per user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status

from service.catalog import dumps
from service.deps import (
    UNKNOWN_USER,
    CtxDep,
    RecommendationLimitDep,
    SessionDep,
    UserIdDep,
    cacheable_json,
    unauthorized,
)
from service.recommend import UnknownUserError, chef_choice_body, recommendations_body
from service.schemas import ChefChoiceOut, RecommendationListOut

router = APIRouter(prefix="/api/recommendations", tags=["recommendations"])

CACHE_CONTROL = "private, max-age=600"
_NOTHING = "No restaurant to recommend"


@router.get("", response_model=RecommendationListOut)
def recommendations(
    ctx: CtxDep,
    session: SessionDep,
    user_id: UserIdDep,
    limit: RecommendationLimitDep,
    refresh: Annotated[bool, Query(description="ignore the cached answer")] = False,
) -> Response:
    """The user's top ``limit`` restaurants with a similarity score and an insight each.

    A cache hit runs no SQL at all: the user id comes from the token.
    """
    try:
        body, _ = ctx.cache.get_user_entry(
            "recommendations",
            ctx.user_cache_key(user_id),
            f"list:{limit}",
            lambda: dumps(recommendations_body(ctx, session, user_id, limit)),
            ctx.settings.recommendation_cache_ttl_s,
            refresh=refresh,
        )
    except UnknownUserError:
        raise unauthorized(UNKNOWN_USER) from None
    return cacheable_json(ctx, body, CACHE_CONTROL)


def _chef_choice(ctx: CtxDep, session: SessionDep, user_id: int) -> bytes:
    body = chef_choice_body(ctx, session, user_id)
    return b"" if body is None else dumps(body)


@router.get(
    "/chef-choice",
    response_model=ChefChoiceOut,
    responses={404: {"description": "no restaurant to recommend"}},
)
def chef_choice(
    ctx: CtxDep,
    session: SessionDep,
    user_id: UserIdDep,
    refresh: Annotated[bool, Query(description="ignore the cached answer")] = False,
) -> Response:
    """The single best restaurant for the user, with the reasoning behind it."""
    try:
        body, _ = ctx.cache.get_user_entry(
            "recommendations",
            ctx.user_cache_key(user_id),
            "chef",
            lambda: _chef_choice(ctx, session, user_id),
            ctx.settings.recommendation_cache_ttl_s,
            refresh=refresh,
        )
    except UnknownUserError:
        raise unauthorized(UNKNOWN_USER) from None
    if not body:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=_NOTHING)
    return cacheable_json(ctx, body, CACHE_CONTROL)
