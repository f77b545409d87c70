"""``/api/users``: the signed-in user and their preference counters."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import CurrentUserDep, SessionDep
from service.insights import TasteProfile
from service.models import UserPreference
from service.schemas import PreferencesOut, UserOut

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("/me")
def me(user: CurrentUserDep) -> UserOut:
    """The signed-in user."""
    return UserOut.model_validate(user)


@router.get("/me/preferences")
def my_preferences(user: CurrentUserDep, session: SessionDep) -> PreferencesOut:
    """Favourite cuisines (top 3), order count and average order value of the signed-in user."""
    prefs = session.get(UserPreference, user.id)
    if prefs is None:
        return PreferencesOut(
            user_id=user.id,
            favorite_cuisines=[],
            total_orders=0,
            average_order_value=0.0,
            last_updated=None,
        )
    profile = TasteProfile(total_orders=prefs.total_orders, cuisine_counts=prefs.cuisine_counts)
    average = float(prefs.total_spent) / prefs.total_orders if prefs.total_orders else 0.0
    return PreferencesOut(
        user_id=user.id,
        favorite_cuisines=profile.favorite_cuisines,
        total_orders=prefs.total_orders,
        average_order_value=round(average, 2),
        last_updated=prefs.last_updated,
    )
