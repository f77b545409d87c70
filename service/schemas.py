"""Request and response bodies of the API (field names as in the original TasteMatch)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "AuthOut",
    "ChefChoiceOut",
    "InsightOut",
    "LoginIn",
    "OnboardingIn",
    "OnboardingOut",
    "OrderIn",
    "OrderItem",
    "OrderListOut",
    "OrderOut",
    "PreferencesOut",
    "RecommendationListOut",
    "RecommendationOut",
    "RegisterIn",
    "RestaurantListOut",
    "RestaurantOut",
    "SimulationResetOut",
    "UserOut",
]


def _normalise_email(value: str) -> str:
    try:
        # test_environment admits the reserved ".test" domain of the seeded accounts.
        checked = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None
    return checked.normalized.lower()


Email = Annotated[str, Field(max_length=255), AfterValidator(_normalise_email)]
PriceRange = Literal["low", "medium", "high"]


class RegisterIn(BaseModel):
    """``POST /auth/register``."""

    email: Email
    name: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=8, max_length=128)


class LoginIn(BaseModel):
    """``POST /auth/login``."""

    email: str = Field(min_length=3, max_length=255)
    password: str = Field(min_length=1, max_length=128)


class UserOut(BaseModel):
    """A user as the API shows it (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    created_at: datetime


class AuthOut(BaseModel):
    """A user and a bearer token valid for 24 hours."""

    user: UserOut
    token: str
    token_type: Literal["bearer"] = "bearer"


class PreferencesOut(BaseModel):
    """``GET /api/users/me/preferences``."""

    user_id: int
    favorite_cuisines: list[str]
    total_orders: int
    average_order_value: float
    last_updated: datetime | None


class RestaurantOut(BaseModel):
    """A restaurant without its embedding."""

    id: int
    name: str
    cuisine_type: str
    description: str
    rating: float
    price_range: str
    location: str
    created_at: datetime


class RestaurantListOut(BaseModel):
    """One page of restaurants."""

    restaurants: list[RestaurantOut]
    total: int
    page: int
    limit: int


class OrderItem(BaseModel):
    """One line of an order.

    Keys other than these are accepted and dropped: the original clients type an item as
    any object, so refusing them could break a call that works there, and storing them
    would let a client put anything of any size into its order history.
    """

    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1, max_length=255)
    quantity: int = Field(default=1, ge=1, le=1000)
    price: float = Field(ge=0, le=100_000)


class OrderIn(BaseModel):
    """``POST /api/orders``."""

    restaurant_id: int = Field(ge=1)
    total_amount: float = Field(gt=0, le=1_000_000)
    items: list[OrderItem] = Field(default_factory=list, max_length=100)
    rating: int | None = Field(default=None, ge=1, le=5)
    is_simulation: bool = False
    order_date: datetime | None = None


class OrderOut(BaseModel):
    """An order with its restaurant's name."""

    id: int
    restaurant_id: int
    restaurant_name: str
    order_date: datetime
    total_amount: float
    items: list[dict[str, Any]]
    rating: int | None
    is_simulation: bool
    created_at: datetime


class OrderListOut(BaseModel):
    """One page of the user's orders, most recent first."""

    orders: list[OrderOut]
    total: int
    count: int


class RecommendationOut(BaseModel):
    """One recommended restaurant."""

    restaurant: RestaurantOut
    similarity_score: float = Field(ge=0, le=1)
    insight: str
    generated_at: datetime


class RecommendationListOut(BaseModel):
    """``GET /api/recommendations``."""

    recommendations: list[RecommendationOut]
    count: int
    generated_at: datetime


class ChefChoiceOut(BaseModel):
    """``GET /api/recommendations/chef-choice``."""

    restaurant: RestaurantOut
    similarity_score: float = Field(ge=0, le=1)
    explanation: str
    reasoning: list[str]
    confidence: float = Field(ge=0, le=1)
    generated_at: datetime


class InsightOut(BaseModel):
    """``GET /api/recommendations/{restaurant_id}/insight``."""

    restaurant_id: int
    insight: str
    generated_at: datetime


Cuisine = Annotated[str, Field(min_length=1, max_length=64)]
Restriction = Annotated[str, Field(min_length=1, max_length=64)]


class OnboardingIn(BaseModel):
    """``POST /api/onboarding/complete``: the tastes a new user picks."""

    selected_cuisines: list[Cuisine] = Field(min_length=1, max_length=5)
    price_preference: PriceRange | None = None
    #: Accepted and not used, as in the original: the taste vector ignores them.
    dietary_restrictions: list[Restriction] | None = Field(default=None, max_length=20)


class OnboardingOut(BaseModel):
    """Whether a taste vector could be made from the picks."""

    success: bool
    message: str
    has_synthetic_vector: bool


class SimulationResetOut(BaseModel):
    """``DELETE /api/orders/simulation``."""

    deleted: int
    message: str
