"""``/api/onboarding``: a taste profile for a new user, before their first order."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from service.deps import UNKNOWN_USER, CtxDep, SessionDep, UserIdDep, unauthorized
from service.models import User
from service.onboarding import save_vector, synthetic_vector
from service.regressions import Regression
from service.schemas import OnboardingIn, OnboardingOut

router = APIRouter(prefix="/api/onboarding", tags=["onboarding"])

_DONE = (
    "Onboarding complete: your taste profile was created and your recommendations are "
    "personalised from now on."
)
_NO_MATCH = (
    "No well-rated restaurant matches these choices: your recommendations stay based on "
    "popularity until you order."
)


@router.post(
    "/complete",
    responses={400: {"description": "the body is not text (UTF-8) and cannot be parsed"}},
)
def complete_onboarding(
    body: OnboardingIn, ctx: CtxDep, session: SessionDep, user_id: UserIdDep
) -> OnboardingOut:
    """Make the user's taste vector from their picks and drop their cached recommendations.

    ``success`` is false (and nothing changes) when no restaurant rated 4 or more matches
    the cuisines and price preference.
    """
    vector = synthetic_vector(
        ctx,
        session,
        cuisines=body.selected_cuisines,
        price=body.price_preference,
        full_rows=ctx.settings.has(Regression.R1),
    )
    if vector is None:
        # Nothing is written, so no foreign key tells whether the token's user still
        # exists: ask (one statement, on this path only).
        if session.scalar(select(User.id).where(User.id == user_id)) is None:
            raise unauthorized(UNKNOWN_USER)
        return OnboardingOut(success=False, message=_NO_MATCH, has_synthetic_vector=False)
    try:
        save_vector(session, user_id=user_id, vector=vector)
        session.commit()
    except IntegrityError:  # the token's user was deleted
        session.rollback()
        raise unauthorized(UNKNOWN_USER) from None
    ctx.cache.invalidate_user(ctx.user_cache_key(user_id), ctx.settings.recommendation_cache_ttl_s)
    return OnboardingOut(success=True, message=_DONE, has_synthetic_vector=True)
