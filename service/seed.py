"""Deterministic TasteMatch data set, bulk-loaded with COPY.

``python -m service.seed --database-url URL --restaurants 10000 --users 2000 --orders 50000
--seed 42`` creates the schema if needed and loads the data set. The same arguments always
give the same data (order dates are relative to ``--reference-date``, by default today, UTC;
only the bcrypt salt of the password hash is random).
Running it again with the same sizes and seed does nothing; other sizes replace the data.

What the data looks like:

- restaurant embeddings are clustered by cuisine (a unit centroid per cuisine plus noise, then
  normalised), so restaurants of one cuisine are similar and recommendations mean something;
- each user has two favourite cuisines that three orders in four come from;
- orders per user are heavy-tailed: most users have a handful, a few have up to 1,000, and
  some have none (cold start);
- every user ``i`` logs in as ``user_email(i)`` with ``LOAD_TEST_PASSWORD``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from service.database import create_schema
from service.models import EMBEDDING_DIM
from service.security import hash_password

__all__ = ["LOAD_TEST_PASSWORD", "SeedSummary", "main", "seed", "user_email"]

#: Password of every seeded user.
LOAD_TEST_PASSWORD = "tastematch-load"
#: bcrypt cost of the seeded accounts: lower than the API's 12 so that a load test's logins
#: do not saturate the CPU; the hash is computed once and shared by every seeded user.
SEED_BCRYPT_ROUNDS = 10
#: No user gets more orders than this.
MAX_ORDERS_PER_USER = 1000
#: Orders are spread over this many days before the reference date.
ORDER_HISTORY_DAYS = 400

CUISINES = (
    "Italian", "Japanese", "Mexican", "Indian", "Chinese", "Thai",
    "French", "American", "Mediterranean", "Korean", "Vietnamese", "Greek",
)  # fmt: skip
DISHES = {
    "Italian": ("margherita pizza", "tagliatelle al ragù", "risotto", "tiramisu"),
    "Japanese": ("salmon nigiri", "tonkotsu ramen", "chicken katsu", "matcha mochi"),
    "Mexican": ("tacos al pastor", "mole poblano", "chiles rellenos", "churros"),
    "Indian": ("butter chicken", "lamb biryani", "palak paneer", "garlic naan"),
    "Chinese": ("xiaolongbao", "mapo tofu", "peking duck", "char siu bao"),
    "Thai": ("pad thai", "green curry", "tom yum soup", "mango sticky rice"),
    "French": ("coq au vin", "steak frites", "bouillabaisse", "crème brûlée"),
    "American": ("smash burger", "bbq ribs", "mac and cheese", "apple pie"),
    "Mediterranean": ("falafel plate", "shawarma wrap", "hummus trio", "baklava"),
    "Korean": ("bibimbap", "korean fried chicken", "kimchi jjigae", "bulgogi"),
    "Vietnamese": ("pho bo", "banh mi", "bun cha", "fresh spring rolls"),
    "Greek": ("moussaka", "souvlaki", "spanakopita", "greek salad"),
}
ADJECTIVES = (
    "Golden", "Little", "Blue", "Rustic", "Happy", "Silver", "Urban", "Green",
    "Old", "Lucky", "Spicy", "Royal", "Hidden", "Sunny", "Wild", "Humble",
)  # fmt: skip
NOUNS = (
    "Fork", "Spoon", "Lantern", "Garden", "Table", "Kitchen", "Oven", "Bowl",
    "Harbor", "Corner", "Olive", "Pepper", "Terrace", "Market", "House", "Grill",
)  # fmt: skip
CITIES = (
    "Portland", "Austin", "Denver", "Seattle", "Chicago", "Boston", "Atlanta", "Miami",
    "San Diego", "Nashville", "Phoenix", "Minneapolis", "Philadelphia", "Detroit",
)  # fmt: skip
STREETS = ("Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Park", "Lake", "Hill", "Market")
PRICE_RANGES = ("low", "medium", "high")

RESTAURANT_COLUMNS = (
    "id", "name", "cuisine_type", "description", "rating", "price_range", "location",
    "embedding", "embedding_f32", "created_at",
)  # fmt: skip
ORDER_COLUMNS = (
    "id", "user_id", "restaurant_id", "order_date", "total_amount", "items", "rating",
    "is_simulation", "created_at",
)  # fmt: skip
PREFERENCE_COLUMNS = (
    "user_id", "vector_stale", "cuisine_counts", "total_orders", "total_spent", "last_updated",
)  # fmt: skip


def user_email(i: int) -> str:
    """Login of seeded user ``i`` (from 0)."""
    return f"user{i:05d}@tastematch.test"


@dataclass(frozen=True, slots=True)
class SeedSummary:
    """What ``seed`` did."""

    restaurants: int
    users: int
    orders: int
    seed: int
    reference_date: str
    seconds: float
    skipped: bool


class SeedError(Exception):
    """The arguments or the database make seeding impossible; the message says why."""


# -- generation -----------------------------------------------------------------------------
@dataclass(slots=True)
class _Restaurants:
    cuisine: npt.NDArray[np.intp]
    embeddings: npt.NDArray[np.float64]
    rating: npt.NDArray[np.float64]


def _restaurants(rng: np.random.Generator, count: int) -> _Restaurants:
    centroids = rng.standard_normal((len(CUISINES), EMBEDDING_DIM))
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    cuisine = rng.integers(0, len(CUISINES), count)
    # Per-dimension noise of 0.05 has about the centroid's length (0.05 * sqrt(384) = 0.98):
    # same-cuisine restaurants end up at cosine ~0.5, different cuisines near 0.
    embeddings = centroids[cuisine] + 0.05 * rng.standard_normal((count, EMBEDDING_DIM))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    rating = np.round(1.0 + 4.0 * rng.beta(5.0, 2.0, count), 1)
    return _Restaurants(cuisine=cuisine, embeddings=embeddings, rating=rating)


def _restaurant_rows(
    rng: np.random.Generator, data: _Restaurants, reference: datetime
) -> Iterator[tuple[Any, ...]]:
    count = len(data.cuisine)
    adjective = rng.integers(0, len(ADJECTIVES), count)
    noun = rng.integers(0, len(NOUNS), count)
    city = rng.integers(0, len(CITIES), count)
    street = rng.integers(0, len(STREETS), count)
    number = rng.integers(1, 999, count)
    price = rng.choice(len(PRICE_RANGES), count, p=[0.35, 0.45, 0.2])
    dish = rng.integers(0, 4, (count, 2))
    age_days = rng.integers(30, 3 * 365, count)
    embeddings32 = data.embeddings.astype("<f4")
    for i in range(count):
        cuisine = CUISINES[data.cuisine[i]]
        dishes = DISHES[cuisine]
        first, second = dishes[dish[i, 0]], dishes[(dish[i, 0] + 1 + dish[i, 1] % 3) % 4]
        city_name = CITIES[city[i]]
        yield (
            i + 1,
            f"{ADJECTIVES[adjective[i]]} {NOUNS[noun[i]]} {i + 1}",
            cuisine,
            f"A {ADJECTIVES[adjective[i]].lower()} {cuisine} place in {city_name}, "
            f"loved for its {first} and its {second}.",
            float(data.rating[i]),
            PRICE_RANGES[price[i]],
            f"{number[i]} {STREETS[street[i]]} St, {city_name}",
            json.dumps(data.embeddings[i].tolist()),
            embeddings32[i].tobytes(),
            reference - timedelta(days=int(age_days[i])),
        )


def _orders_per_user(rng: np.random.Generator, users: int, orders: int) -> npt.NDArray[np.int64]:
    """Heavy-tailed counts summing to ``orders``, none above ``MAX_ORDERS_PER_USER``."""
    if users == 0:
        return np.zeros(0, dtype=np.int64)
    appetite = rng.lognormal(0.0, 1.5, users)
    counts = np.minimum(np.floor(appetite / appetite.sum() * orders), MAX_ORDERS_PER_USER)
    counts = counts.astype(np.int64)
    while (deficit := orders - int(counts.sum())) > 0:
        open_users = np.flatnonzero(counts < MAX_ORDERS_PER_USER)
        weights = appetite[open_users] / appetite[open_users].sum()
        picks = rng.choice(open_users, deficit, p=weights)
        np.add.at(counts, picks, 1)
        counts = np.minimum(counts, MAX_ORDERS_PER_USER)
    result: npt.NDArray[np.int64] = counts
    return result


@dataclass(slots=True)
class _Orders:
    user: npt.NDArray[np.int64]
    restaurant: npt.NDArray[np.int64]
    seconds_ago: npt.NDArray[np.int64]
    rating: npt.NDArray[np.int64]  # 0 = not rated
    items: list[str]
    total: list[float]


def _orders(
    rng: np.random.Generator, restaurants: _Restaurants, users: int, orders: int
) -> _Orders:
    per_user = _orders_per_user(rng, users, orders)
    user = np.repeat(np.arange(users, dtype=np.int64), per_user)
    favourites = rng.integers(0, len(CUISINES), (max(users, 1), 2))
    n_rest = len(restaurants.cuisine)
    by_cuisine = np.argsort(restaurants.cuisine, kind="stable")
    starts = np.searchsorted(restaurants.cuisine[by_cuisine], np.arange(len(CUISINES)))
    sizes = np.bincount(restaurants.cuisine, minlength=len(CUISINES))
    wanted = favourites[user, rng.integers(0, 2, orders)]
    from_favourite = (rng.random(orders) < 0.75) & (sizes[wanted] > 0)
    within = np.floor(rng.random(orders) * np.maximum(sizes[wanted], 1)).astype(np.int64)
    favourite_pick = by_cuisine[np.minimum(starts[wanted] + within, n_rest - 1)]
    restaurant = np.where(from_favourite, favourite_pick, rng.integers(0, n_rest, orders))
    seconds_ago = rng.integers(0, ORDER_HISTORY_DAYS * 86400, orders)
    rating = rng.choice(6, orders, p=[0.2, 0.03, 0.07, 0.2, 0.3, 0.2])
    n_items = rng.integers(1, 5, orders)
    dish = rng.integers(0, 4, (orders, 4))
    quantity = rng.integers(1, 4, (orders, 4))
    cents = rng.integers(500, 3000, (orders, 4))
    items: list[str] = []
    totals: list[float] = []
    for k in range(orders):
        dishes = DISHES[CUISINES[restaurants.cuisine[restaurant[k]]]]
        lines = [
            {
                "name": dishes[dish[k, j]],
                "quantity": int(quantity[k, j]),
                "price": cents[k, j] / 100,
            }
            for j in range(n_items[k])
        ]
        items.append(json.dumps(lines))
        totals.append(round(sum(line["quantity"] * line["price"] for line in lines), 2))
    return _Orders(user, restaurant, seconds_ago, rating, items, totals)


# -- loading --------------------------------------------------------------------------------
#: The role's per-session timeouts, lifted for the seeding sessions.
SEED_UNLIMITED = ("statement_timeout", "idle_in_transaction_session_timeout")


def _conninfo(database_url: str) -> dict[str, Any]:
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise SeedError(f"not a database URL: {database_url!r}") from None
    if not url.drivername.startswith("postgresql"):
        raise SeedError(f"not a PostgreSQL URL: {url.render_as_string(hide_password=True)}")
    info: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
        "connect_timeout": 10,
    }
    # Query parameters (options=-csearch_path=..., sslmode, ...) are libpq's too.
    info.update({key: value for key, value in url.query.items() if isinstance(value, str)})
    # Seeding is one long transaction with client-side work between statements, and a second
    # seeder waits on the first one's lock: the role's request-sized timeouts do not fit it.
    info["options"] = " ".join(
        filter(None, [info.get("options"), *(f"-c {name}=0" for name in SEED_UNLIMITED)])
    )
    return {key: value for key, value in info.items() if value is not None}


def _already_loaded(conn: psycopg.Connection[Any], wanted: tuple[int, int, int, int]) -> bool:
    row = conn.execute(
        "SELECT restaurants, users, orders, seed FROM dataset_info ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None or tuple(row) != wanted:
        return False
    counts = conn.execute(
        "SELECT (SELECT count(*) FROM restaurants), (SELECT count(*) FROM users),"
        " (SELECT count(*) FROM orders)"
    ).fetchone()
    return counts is not None and tuple(counts) == wanted[:3]


def _copy(
    conn: psycopg.Connection[Any], table: str, columns: Sequence[str], rows: Iterator[Any]
) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _load(
    conn: psycopg.Connection[Any],
    *,
    restaurants: int,
    users: int,
    orders: int,
    seed_value: int,
    reference: datetime,
) -> None:
    rng = np.random.default_rng(seed_value)
    rest = _restaurants(rng, restaurants)
    conn.execute(
        "TRUNCATE orders, user_preferences, users, restaurants, dataset_info RESTART IDENTITY"
    )
    _copy(
        conn,
        "restaurants",
        RESTAURANT_COLUMNS,
        _restaurant_rows(rng, rest, reference),
    )
    password_hash = hash_password(LOAD_TEST_PASSWORD, rounds=SEED_BCRYPT_ROUNDS)
    joined = rng.integers(1, 3 * 365, max(users, 1))
    _copy(
        conn,
        "users",
        ("id", "email", "name", "password_hash", "created_at", "updated_at"),
        (
            (
                i + 1,
                user_email(i),
                f"Load User {i:05d}",
                password_hash,
                reference - timedelta(days=int(joined[i])),
                reference,
            )
            for i in range(users)
        ),
    )
    made = _orders(rng, rest, users, orders) if restaurants else None
    if made is not None:
        _copy(
            conn,
            "orders",
            ORDER_COLUMNS,
            (
                (
                    k + 1,
                    int(made.user[k]) + 1,
                    int(made.restaurant[k]) + 1,
                    when,
                    made.total[k],
                    made.items[k],
                    int(made.rating[k]) or None,
                    True,
                    when,
                )
                for k in range(len(made.user))
                for when in (reference - timedelta(seconds=int(made.seconds_ago[k])),)
            ),
        )
    _copy(
        conn,
        "user_preferences",
        PREFERENCE_COLUMNS,
        _preference_rows(users, rest, made, reference),
    )
    for table in ("restaurants", "users", "orders"):
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
            f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
        )


def _preference_rows(
    users: int, rest: _Restaurants, made: _Orders | None, reference: datetime
) -> Iterator[tuple[Any, ...]]:
    """Counters that match the loaded orders; the taste vector is computed on first use."""
    totals = np.zeros(users)
    counts = np.zeros((users, len(CUISINES)), dtype=np.int64)
    if made is not None and len(made.user):
        np.add.at(totals, made.user, np.asarray(made.total))
        np.add.at(counts, (made.user, rest.cuisine[made.restaurant]), 1)
    for i in range(users):
        per_cuisine = {CUISINES[c]: int(n) for c, n in enumerate(counts[i]) if n}
        yield (
            i + 1,
            True,
            json.dumps(per_cuisine),
            int(counts[i].sum()),
            round(float(totals[i]), 2),
            reference,
        )


def seed(
    database_url: str,
    *,
    restaurants: int,
    users: int,
    orders: int,
    seed: int,
    reference_date: date | None = None,
) -> SeedSummary:
    """Create the schema and load the data set unless it is already there.

    Raise ``SeedError`` for impossible sizes (orders without restaurants or users, or more
    orders than ``users * MAX_ORDERS_PER_USER``).
    """
    if min(restaurants, users, orders) < 0:
        raise SeedError("sizes must not be negative")
    if orders and (restaurants == 0 or users == 0):
        raise SeedError("orders need at least one restaurant and one user")
    if orders > users * MAX_ORDERS_PER_USER:
        raise SeedError(f"at most {MAX_ORDERS_PER_USER} orders per user: {orders} > {users} users")
    conninfo = _conninfo(database_url)  # refuses anything but PostgreSQL before connecting
    started = time.perf_counter()
    day = reference_date or datetime.now(UTC).date()
    reference = datetime(day.year, day.month, day.day, tzinfo=UTC)
    engine = create_engine(database_url)
    try:
        create_schema(engine)
    finally:
        engine.dispose()
    wanted = (restaurants, users, orders, seed)
    with psycopg.connect(**conninfo) as conn:
        # One seeding at a time; a second one waits and then finds the data in place.
        conn.execute("SELECT pg_advisory_xact_lock(7507)")
        skipped = reference_date is None and _already_loaded(conn, wanted)
        if not skipped:
            _load(
                conn,
                restaurants=restaurants,
                users=users,
                orders=orders,
                seed_value=seed,
                reference=reference,
            )
            conn.execute(
                "INSERT INTO dataset_info (restaurants, users, orders, seed, reference_date)"
                " VALUES (%s, %s, %s, %s, %s)",
                (*wanted, reference),
            )
    if not skipped:
        with psycopg.connect(**conninfo, autocommit=True) as conn:
            conn.execute("ANALYZE")
    return SeedSummary(
        restaurants=restaurants,
        users=users,
        orders=orders,
        seed=seed,
        reference_date=day.isoformat(),
        seconds=round(time.perf_counter() - started, 3),
        skipped=skipped,
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: seed and print a JSON summary; 2 on bad arguments or database errors."""
    parser = argparse.ArgumentParser(prog="python -m service.seed", description=__doc__)
    parser.add_argument("--database-url", required=True, help="postgresql+psycopg://...")
    parser.add_argument("--restaurants", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--reference-date",
        type=date.fromisoformat,
        help="YYYY-MM-DD that order dates count back from (default today; forces a reload)",
    )
    args = parser.parse_args(argv)
    try:
        summary = seed(
            args.database_url,
            restaurants=args.restaurants,
            users=args.users,
            orders=args.orders,
            seed=args.seed,
            reference_date=args.reference_date,
        )
    except SeedError as error:
        print(f"seed: {error}", file=sys.stderr)
        return 2
    except (psycopg.Error, SQLAlchemyError, OSError) as error:
        print(f"seed: database error: {str(error).strip()}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(summary), sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
