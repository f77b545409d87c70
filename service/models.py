"""The TasteMatch data model (SQLAlchemy 2 declarative, typed)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "EMBEDDING_DIM",
    "Base",
    "DatasetInfo",
    "DeletedUser",
    "Order",
    "Restaurant",
    "User",
    "UserPreference",
]

#: Length of every restaurant embedding.
EMBEDDING_DIM = 384


class Base(DeclarativeBase):
    """Declarative base of every table."""


class User(Base):
    """A registered customer."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(72))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Restaurant(Base):
    """A restaurant with its 384-float embedding.

    ``embedding`` is the JSON text the original service stored; ``embedding_f32`` holds the
    same vector as little-endian float32 bytes (1.5 KiB) for the optimised path.
    """

    __tablename__ = "restaurants"
    __table_args__ = (
        CheckConstraint("rating >= 0 AND rating <= 5", name="ck_restaurants_rating"),
        CheckConstraint(
            "price_range IN ('low', 'medium', 'high')", name="ck_restaurants_price_range"
        ),
        Index("ix_restaurants_rating", "rating"),
        # The list filters cuisines case-insensitively.
        Index("ix_restaurants_cuisine_rating", func.lower(text("cuisine_type")), "rating"),
        Index("ix_restaurants_name", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    cuisine_type: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    rating: Mapped[float] = mapped_column(Float)
    price_range: Mapped[str] = mapped_column(String(8))
    location: Mapped[str] = mapped_column(String(255))
    embedding: Mapped[str] = mapped_column(Text)
    embedding_f32: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Order(Base):
    """One order of a user at a restaurant."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="ck_orders_rating"),
        Index("ix_orders_user_date", "user_id", "order_date", "id"),
        Index("ix_orders_restaurant", "restaurant_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    restaurant_id: Mapped[int] = mapped_column(ForeignKey("restaurants.id", ondelete="CASCADE"))
    order_date: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    total_amount: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    rating: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    is_simulation: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    # Lazy "select" loading is what the N+1 regression (R4) relies on; the optimised code
    # never touches this attribute and joins the columns it needs instead.
    restaurant: Mapped[Restaurant] = relationship(lazy="select")


class UserPreference(Base):
    """Per-user taste profile and counters, updated on every order."""

    __tablename__ = "user_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    #: Taste vector as float32 bytes, or ``None`` until first computed.
    preference_vector: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: True when orders were placed after the vector was last computed.
    vector_stale: Mapped[bool] = mapped_column(Boolean, default=True)
    #: When the vector was computed: recency weights drift, so it is redone after a day.
    vector_updated_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    cuisine_counts: Mapped[dict[str, int]] = mapped_column(JSONB, default=dict)
    total_orders: Mapped[int] = mapped_column(Integer, default=0)
    total_spent: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(0))
    last_updated: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class DatasetInfo(Base):
    """What ``service.seed`` loaded; one row, used to keep seeding idempotent.

    Its ``loaded_at`` also identifies the data set that tokens are bound to
    (``service.accounts.DATASET_ID``).
    """

    __tablename__ = "dataset_info"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    restaurants: Mapped[int] = mapped_column(Integer)
    users: Mapped[int] = mapped_column(Integer)
    orders: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    reference_date: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DeletedUser(Base):
    """A user deleted lately, written by a trigger on ``users`` (``create_schema``).

    Replicas read these rows periodically and drop the users' cached recommendations,
    which are otherwise served without any SQL (``service.accounts``). No foreign key:
    the user is gone. Rows older than the cache's TTL are of no use and are pruned.
    """

    __tablename__ = "deleted_users"
    __table_args__ = (Index("ix_deleted_users_deleted_at", "deleted_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer)
    #: When the row was deleted (the statement's clock, not its transaction's start).
    deleted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.clock_timestamp()
    )
