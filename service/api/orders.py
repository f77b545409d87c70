"""``/api/orders``: the signed-in user's orders."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import Integer, Select, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.context import AppContext
from service.database import NoCountError, fetch_page
from service.deps import (
    UNKNOWN_USER,
    CtxDep,
    OrderLimitDep,
    SessionDep,
    UserIdDep,
    unauthorized,
)
from service.models import Order, Restaurant, User, UserPreference
from service.regressions import Regression
from service.schemas import OrderIn, OrderListOut, OrderOut, SimulationResetOut

router = APIRouter(prefix="/api/orders", tags=["orders"])

_COLUMNS = (
    Order.id,
    Order.restaurant_id,
    Restaurant.name.label("restaurant_name"),
    Order.order_date,
    Order.total_amount,
    Order.items,
    Order.rating,
    Order.is_simulation,
    Order.created_at,
)


def _out(row: Any, restaurant_name: str) -> OrderOut:
    return OrderOut(
        id=row.id,
        restaurant_id=row.restaurant_id,
        restaurant_name=restaurant_name,
        order_date=row.order_date,
        total_amount=float(row.total_amount),
        items=row.items,
        rating=row.rating,
        is_simulation=row.is_simulation,
        created_at=row.created_at,
    )


def _list_n_plus_one(
    session: Session, user_id: int, limit: int, offset: int
) -> tuple[list[OrderOut], int]:
    """Before the fix (R4): the orders, then each one's restaurant lazily."""
    orders = session.scalars(
        select(Order)
        .where(Order.user_id == user_id)
        .order_by(Order.order_date.desc(), Order.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    total = session.scalar(_count_if_user_exists(user_id))
    if total is None:
        raise unauthorized(UNKNOWN_USER)
    # Each access loads the restaurant (a full row) in its own statement.
    return [_out(order, order.restaurant.name) for order in orders], int(total)


def _count_if_user_exists(user_id: int) -> Select[int]:
    """The user's number of orders; no row at all when the user does not exist."""
    count = select(func.count()).select_from(Order).where(Order.user_id == user_id)
    return select(count.scalar_subquery()).where(select(User.id).where(User.id == user_id).exists())


@router.get("")
def list_orders(
    ctx: CtxDep,
    session: SessionDep,
    user_id: UserIdDep,
    limit: OrderLimitDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> OrderListOut:
    """The user's orders, most recent first, with each restaurant's name.

    401 when the token's user does not exist (any more): checked only when the page is
    empty, with the count that an empty page needs anyway (a user with orders exists).
    """
    if ctx.settings.has(Regression.R4):
        orders, total = _list_n_plus_one(session, user_id, limit, offset)
    else:
        try:
            rows, total = fetch_page(
                session,
                select(*_COLUMNS)
                .join(Restaurant, Restaurant.id == Order.restaurant_id)
                .where(Order.user_id == user_id)
                .order_by(Order.order_date.desc(), Order.id.desc())
                .offset(offset)
                .limit(limit),
                _count_if_user_exists(user_id),
            )
        except NoCountError:
            raise unauthorized(UNKNOWN_USER) from None
        orders = [_out(row, row.restaurant_name) for row in rows]
    return OrderListOut(orders=orders, total=total, count=len(orders))


def _count_order(session: Session, user_id: int, cuisine: str, amount: Decimal) -> None:
    """Add one order to the user's counters in one atomic statement.

    ``INSERT ... ON CONFLICT DO UPDATE`` locks the row and computes the new values from the
    stored ones, so concurrent orders never lose an update.
    """
    table = UserPreference.__table__
    statement = insert(UserPreference).values(
        user_id=user_id,
        total_orders=1,
        total_spent=amount,
        cuisine_counts=func.jsonb_build_object(cuisine, 1),
        vector_stale=True,
        last_updated=func.clock_timestamp(),
    )
    counts = table.c.cuisine_counts
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.user_id],
        set_={
            "total_orders": table.c.total_orders + 1,
            "total_spent": table.c.total_spent + statement.excluded.total_spent,
            "cuisine_counts": counts.op("||")(
                func.jsonb_build_object(
                    cuisine,
                    func.coalesce(counts.op("->>")(literal(cuisine)).cast(Integer), 0) + 1,
                )
            ),
            "vector_stale": True,
            "last_updated": func.clock_timestamp(),
        },
    )
    session.execute(statement)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={400: {"description": "unknown restaurant"}},
)
def place_order(body: OrderIn, ctx: CtxDep, session: SessionDep, user_id: UserIdDep) -> OrderOut:
    """Record an order, update the user's counters and drop their cached recommendations."""
    restaurant = session.execute(
        select(Restaurant.name, Restaurant.cuisine_type).where(Restaurant.id == body.restaurant_id)
    ).one_or_none()
    if restaurant is None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail=f"Restaurant {body.restaurant_id} does not exist"
        )
    amount = Decimal(str(round(body.total_amount, 2)))
    order = Order(
        user_id=user_id,
        restaurant_id=body.restaurant_id,
        order_date=body.order_date or datetime.now(UTC),
        total_amount=amount,
        items=[item.model_dump() for item in body.items],
        rating=body.rating,
        is_simulation=body.is_simulation,
    )
    session.add(order)
    try:
        session.flush()
        _count_order(session, user_id, restaurant.cuisine_type, amount)
        session.commit()
    except IntegrityError:
        session.rollback()
        raise unauthorized(UNKNOWN_USER) from None
    _invalidate(ctx, user_id)
    return _out(order, restaurant.name)


def _delete_one_by_one(session: Session, user_id: int) -> list[tuple[str, Decimal]]:
    """Before the fix (R4): every simulated order loaded, its restaurant fetched lazily,
    then each deleted in its own statement."""
    orders = session.scalars(
        select(Order).where(Order.user_id == user_id, Order.is_simulation.is_(True))
    ).all()
    gone = [(order.restaurant.cuisine_type, order.total_amount) for order in orders]
    for order in orders:
        session.delete(order)
        session.flush()
    return gone


def _uncount_simulations(session: Session, user_id: int, *, n_plus_one: bool) -> int | None:
    """Delete the user's simulated orders and take them out of their counters; the count,
    or ``None`` when the user does not exist.

    The preference row is locked first (``SELECT ... FOR UPDATE``): an order placed
    meanwhile waits for this transaction, so neither its counting nor this subtraction is
    lost. One ``DELETE ... RETURNING`` removes the orders; under R4 they are loaded and
    deleted one by one, as the pre-fix code did.
    """
    prefs = session.execute(
        select(
            UserPreference.cuisine_counts, UserPreference.total_orders, UserPreference.total_spent
        )
        .where(UserPreference.user_id == user_id)
        .with_for_update()
    ).one_or_none()
    # Every user has counters from registration (or seeding) on: without them, one more
    # statement (only then) tells whether the user exists at all.
    if prefs is None and session.get(User, user_id) is None:
        return None
    gone: list[tuple[str, Decimal]]
    if n_plus_one:
        gone = _delete_one_by_one(session, user_id)
    else:
        rows = session.execute(
            delete(Order)
            .where(
                Order.user_id == user_id,
                Order.is_simulation.is_(True),
                Restaurant.id == Order.restaurant_id,
            )
            .returning(Restaurant.cuisine_type, Order.total_amount)
        ).all()
        gone = [(cuisine, amount) for cuisine, amount in rows]
    if prefs is not None and gone:
        counts = dict(prefs.cuisine_counts)
        for cuisine, _ in gone:
            remaining = counts.get(cuisine, 0) - 1
            if remaining > 0:
                counts[cuisine] = remaining
            else:
                counts.pop(cuisine, None)
        spent = sum((amount for _, amount in gone), Decimal(0))
        session.execute(
            update(UserPreference)
            .where(UserPreference.user_id == user_id)
            .values(
                cuisine_counts=counts,
                total_orders=max(0, prefs.total_orders - len(gone)),
                total_spent=max(Decimal(0), prefs.total_spent - spent),
                vector_stale=True,
                last_updated=func.clock_timestamp(),
            )
        )
    return len(gone)


@router.delete("/simulation")
def reset_simulation(ctx: CtxDep, session: SessionDep, user_id: UserIdDep) -> SimulationResetOut:
    """Delete the user's simulated orders (``is_simulation``), keep their real ones.

    The counters and taste vector no longer count them, and the cached recommendations
    are dropped when any was deleted. 401 when the token's user does not exist (any more).
    """
    deleted = _uncount_simulations(session, user_id, n_plus_one=ctx.settings.has(Regression.R4))
    session.commit()
    if deleted is None:
        raise unauthorized(UNKNOWN_USER)
    if deleted:
        _invalidate(ctx, user_id)
    return SimulationResetOut(deleted=deleted, message=f"{deleted} simulated order(s) deleted")


def _invalidate(ctx: AppContext, user_id: int) -> None:
    ctx.cache.invalidate_user(ctx.user_cache_key(user_id), ctx.settings.recommendation_cache_ttl_s)
