"""Request and response bodies of the API (field names as in the original TasteMatch)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

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
    "Text",
    "UserOut",
]

#: Largest id of an ``integer`` column: a larger one can name nothing, and Postgres refuses
#: to compare it (``integer out of range``).
MAX_ID = 2**31 - 1

#: What no stored string may contain: NUL (Postgres refuses it in ``text`` and ``jsonb``)
#: and unpaired UTF-16 surrogates (a JSON ``"\ud800"`` escape: no UTF-8 encodes them).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATES = re.compile("[\ud800-\udfff]")
_UNSTORABLE_REASON = "must not contain NUL characters (\\u0000) or unpaired surrogates"


def _storable(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise ValueError(_UNSTORABLE_REASON)
    return value


#: Text the service may store, compare in SQL or send back: no NUL, no lone surrogate. The
#: pattern documents the rule in the OpenAPI document; the validator gives the reason.
Text = Annotated[
    str,
    AfterValidator(_storable),
    Field(json_schema_extra={"pattern": "^[^\\u0000]*$"}),
]


def _json_safe(value: Any) -> Any:
    """``value`` (a decoded JSON body) with what no JSON answer can echo made harmless.

    A validation error echoes the offending input in its 422 answer, and that answer must
    encode: a lone surrogate becomes NUL (so the ``Text`` check still refuses it, with its
    reason), a non-finite number (``NaN``, ``Infinity``, ``1e999``) its name as a string
    (which every bounded number field refuses).
    """
    if isinstance(value, str):
        return _SURROGATES.sub("\x00", value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_json_safe(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


class _Body(BaseModel):
    """A request body: validated from a JSON-safe copy of the decoded JSON."""

    @model_validator(mode="before")
    @classmethod
    def _safe_input(cls, data: Any) -> Any:
        return _json_safe(data)


def _normalise_email(value: str) -> str:
    _storable(value)
    try:
        # test_environment admits the reserved ".test" domain of the seeded accounts.
        checked = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None
    return checked.normalized.lower()


Email = Annotated[
    str,
    Field(max_length=255, json_schema_extra={"format": "email"}),
    AfterValidator(_normalise_email),
]
PriceRange = Literal["low", "medium", "high"]


class RegisterIn(_Body):
    """``POST /auth/register``."""

    email: Email
    name: Text = Field(min_length=1, max_length=255)
    password: Text = Field(min_length=8, max_length=128)


class LoginIn(_Body):
    """``POST /auth/login``."""

    email: Text = Field(min_length=3, max_length=255)
    password: Text = Field(min_length=1, max_length=128)


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


class OrderItem(_Body):
    """One line of an order.

    Keys other than these are accepted and dropped: the original clients type an item as
    any object, so refusing them could break a call that works there, and storing them
    would let a client put anything of any size into its order history.
    """

    model_config = ConfigDict(extra="ignore")

    name: Text = Field(min_length=1, max_length=255)
    quantity: int = Field(default=1, ge=1, le=1000)
    price: float = Field(ge=0, le=100_000)


#: Earliest ``order_date`` accepted.
EARLIEST_ORDER_DATE = datetime(2000, 1, 1, tzinfo=UTC)
#: How far ahead of the server's clock an ``order_date`` may be (clients' clocks drift).
ORDER_DATE_LEEWAY = timedelta(days=1)


def _plausible_order_date(value: datetime | None) -> datetime | None:
    """UTC when no offset is given; from 2000 to a day ahead of now.

    Beyond that an order would weigh nothing or everything in the recency-weighted taste
    vector, and near the ends of the calendar (year 1, year 9999 with an offset) Postgres
    stores a date Python cannot read back, which broke the user's order list for good.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST_ORDER_DATE <= value <= datetime.now(UTC) + ORDER_DATE_LEEWAY:
        raise ValueError(
            f"must be from {EARLIEST_ORDER_DATE.date().isoformat()} to a day after now (UTC)"
        )
    return value


class OrderIn(_Body):
    """``POST /api/orders``."""

    restaurant_id: int = Field(ge=1, le=MAX_ID)
    total_amount: float = Field(gt=0, le=1_000_000)
    items: list[OrderItem] = Field(default_factory=list, max_length=100)
    rating: int | None = Field(default=None, ge=1, le=5)
    is_simulation: bool = False
    order_date: Annotated[datetime | None, AfterValidator(_plausible_order_date)] = Field(
        default=None,
        description="when the order was placed (UTC if no offset): from 2000-01-01 to a day "
        "after now",
    )


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


Cuisine = Annotated[Text, Field(min_length=1, max_length=64)]
Restriction = Annotated[Text, Field(min_length=1, max_length=64)]


class OnboardingIn(_Body):
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
