"""The seeded data set: deterministic, idempotent, shaped like real traffic, and fast."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Any

import numpy as np
import pytest

from service import seed as seeding
from service.seed import LOAD_TEST_PASSWORD, MAX_ORDERS_PER_USER, SeedError, seed, user_email

REFERENCE = date(2026, 1, 15)
DIGEST_SQL = """
SELECT
  (SELECT md5(string_agg(concat_ws('|', id, name, cuisine_type, description, rating,
      price_range, location, embedding, encode(embedding_f32, 'hex'), created_at), ',' ORDER BY id))
   FROM restaurants),
  (SELECT md5(string_agg(concat_ws('|', id, email, name), ',' ORDER BY id)) FROM users),
  (SELECT md5(string_agg(concat_ws('|', id, user_id, restaurant_id, order_date, total_amount,
      items::text, rating), ',' ORDER BY id)) FROM orders),
  (SELECT md5(string_agg(concat_ws('|', user_id, total_orders, total_spent,
      cuisine_counts::text), ',' ORDER BY user_id)) FROM user_preferences)
"""


def test_orders_per_user_are_heavy_tailed_and_capped() -> None:
    counts = seeding._orders_per_user(np.random.default_rng(42), 2000, 50_000)
    assert int(counts.sum()) == 50_000
    assert int(counts.max()) <= MAX_ORDERS_PER_USER
    assert int(counts.max()) >= 500  # a few heavy users
    assert int(np.median(counts)) <= 15  # most users order little
    assert int((counts == 0).sum()) > 0  # some users have no history (cold start)


def test_embeddings_are_clustered_by_cuisine() -> None:
    data = seeding._restaurants(np.random.default_rng(1), 600)
    norms = np.linalg.norm(data.embeddings, axis=1)
    assert np.allclose(norms, 1.0)
    similarity = data.embeddings @ data.embeddings.T
    same = data.cuisine[:, None] == data.cuisine[None, :]
    np.fill_diagonal(same, False)
    different = data.cuisine[:, None] != data.cuisine[None, :]
    assert similarity[same].mean() > 0.3
    assert abs(similarity[different].mean()) < 0.05
    assert data.rating.min() >= 0.0
    assert data.rating.max() <= 5.0


@pytest.mark.docker
def test_same_arguments_give_the_same_data_and_reseeding_is_a_no_op(
    sql: Any, database_url: str, scratch_database: Any
) -> None:
    first = seed(database_url, restaurants=50, users=10, orders=200, seed=9)
    assert not first.skipped
    again = seed(database_url, restaurants=50, users=10, orders=200, seed=9)
    assert again.skipped
    ((restaurants, users, orders),) = sql(
        "SELECT (SELECT count(*) FROM restaurants), (SELECT count(*) FROM users),"
        " (SELECT count(*) FROM orders)"
    )
    assert (restaurants, users, orders) == (50, 10, 200)

    pinned = seed(
        database_url, restaurants=50, users=10, orders=200, seed=9, reference_date=REFERENCE
    )
    assert not pinned.skipped  # an explicit reference date always reloads
    digest = sql(DIGEST_SQL)
    other, other_sql = scratch_database("seed-twin")
    seed(other, restaurants=50, users=10, orders=200, seed=9, reference_date=REFERENCE)
    assert other_sql(DIGEST_SQL) == digest
    seed(other, restaurants=50, users=10, orders=200, seed=10, reference_date=REFERENCE)
    assert other_sql(DIGEST_SQL)[0][0] != digest[0][0]

    smaller = seed(database_url, restaurants=20, users=5, orders=30, seed=9)
    assert not smaller.skipped
    assert sql("SELECT count(*) FROM restaurants") == [(20,)]


@pytest.mark.docker
def test_seeded_rows_look_like_the_original_data(database_url: str, sql: Any) -> None:
    seed(database_url, restaurants=40, users=8, orders=300, seed=4)
    ((embedding, blob),) = sql("SELECT embedding, embedding_f32 FROM restaurants WHERE id = 1")
    parsed = json.loads(embedding)
    assert len(parsed) == 384
    assert 7_000 < len(embedding) < 10_000  # about 8.4 KB of JSON text, as in production
    assert np.allclose(np.frombuffer(blob, dtype="<f4"), parsed, atol=1e-6)
    emails = [row[0] for row in sql("SELECT email FROM users ORDER BY id")]
    assert emails == [user_email(i) for i in range(8)]
    mismatched = sql(
        "SELECT p.user_id FROM user_preferences p LEFT JOIN (SELECT user_id, count(*) AS n,"
        " sum(total_amount) AS spent FROM orders GROUP BY user_id) o ON o.user_id = p.user_id"
        " WHERE p.total_orders <> coalesce(o.n, 0) OR p.total_spent <> coalesce(o.spent, 0)"
    )
    assert mismatched == []
    ((bad_totals,),) = sql(
        "SELECT count(*) FROM orders o WHERE total_amount <> (SELECT sum((i->>'quantity')::int"
        " * (i->>'price')::numeric) FROM jsonb_array_elements(o.items) i)"
    )
    assert bad_totals == 0


@pytest.mark.parametrize(
    ("restaurants", "users", "orders", "message"),
    [
        (0, 5, 3, "at least one restaurant"),
        (5, 1, 1001, "at most 1000 orders per user"),
        (-1, 1, 0, "must not be negative"),
    ],
)
def test_impossible_sizes_are_refused_with_a_reason(
    restaurants: int, users: int, orders: int, message: str
) -> None:
    with pytest.raises(SeedError, match=message):
        seed(
            "postgresql+psycopg://unused@127.0.0.1:1/none",
            restaurants=restaurants,
            users=users,
            orders=orders,
            seed=1,
        )


def test_cli_names_the_problem(capsys: pytest.CaptureFixture[str]) -> None:
    code = seeding.main(["--database-url", "postgresql+psycopg://x@127.0.0.1:1/none"])
    assert code == 2
    assert "seed: database error" in capsys.readouterr().err
    code = seeding.main(["--database-url", "mysql://x@localhost/db", "--orders", "0"])
    assert code == 2
    assert "not a PostgreSQL URL" in capsys.readouterr().err


@pytest.mark.docker
@pytest.mark.slow
def test_full_data_set_seeds_in_under_a_minute(
    database_url: str, sql: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = seeding.main(
        [
            "--database-url",
            database_url,
            "--restaurants",
            "10000",
            "--users",
            "2000",
            "--orders",
            "50000",
            "--seed",
            "42",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["seconds"] < 60
    assert sql("SELECT count(*) FROM orders") == [(50_000,)]
    ((heaviest,),) = sql("SELECT max(n) FROM (SELECT count(*) AS n FROM orders GROUP BY user_id) c")
    assert 500 <= heaviest <= MAX_ORDERS_PER_USER


@pytest.mark.docker
def test_data_seeded_after_the_service_started_is_picked_up(
    scratch_database: Any, app_factory: Any, login: Any
) -> None:
    url, _ = scratch_database("late-seed")
    with app_factory(database_url=url) as client:
        assert client.get("/health").json()["restaurants_indexed"] == 0
        seed(url, restaurants=30, users=2, orders=10, seed=2)
        deadline = time.monotonic() + 10
        while client.get("/health").json()["restaurants_indexed"] != 30:
            assert time.monotonic() < deadline, "the new restaurants were never indexed"
            time.sleep(0.2)
        headers = login(client, user_email(0), LOAD_TEST_PASSWORD)
        body = client.get("/api/recommendations", headers=headers).json()
        assert body["count"] == 10
