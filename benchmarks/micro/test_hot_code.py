"""pytest-benchmark micro-benchmarks of the service's hot code.

The gate runs this file with ``--benchmark-json`` (:mod:`benchmarks.measure.micro`) and
stores the figures in the result document; each benchmark carries a one-line description
in ``extra_info``. The database ones use ``TASTEMATCH_BENCH_DATABASE_URL`` when the gate
provides its seeded Postgres, else the session's Postgres container (the root
``conftest.py``'s ``postgres_url``), seeded here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from service.catalog import CARD_COLUMNS, card, dumps, get_restaurants
from service.models import EMBEDDING_DIM, Restaurant
from service.restaurant_index import RestaurantIndex
from service.seed import seed

RESTAURANTS = 10_000


def _describe(benchmark: Any, description: str) -> None:
    benchmark.extra_info["description"] = description


@pytest.fixture(scope="module")
def index() -> RestaurantIndex:
    rng = np.random.default_rng(42)
    embeddings = rng.standard_normal((RESTAURANTS, EMBEDDING_DIM)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return RestaurantIndex.build(
        ids=np.arange(1, RESTAURANTS + 1, dtype=np.int64),
        ratings=rng.uniform(1, 5, RESTAURANTS).astype(np.float32),
        embeddings=embeddings,
        fingerprint="bench",
    )


@pytest.mark.benchmark(group="scoring")
def test_rank_one_user_over_10k_restaurants(benchmark: Any, index: RestaurantIndex) -> None:
    _describe(benchmark, "cosine-rank 10,000 restaurants for one taste vector, top 12")
    taste = index.embeddings[:5].mean(axis=0)
    ranked = benchmark(index.rank, taste, [1, 2, 3], 12)
    assert len(ranked) == 12
    assert all(rid not in (1, 2, 3) for rid, _ in ranked)


def _recommendations_body() -> dict[str, Any]:
    restaurant = {
        "id": 1,
        "name": "Trattoria",
        "cuisine_type": "Italian",
        "description": "x" * 200,
        "rating": 4.5,
        "price_range": "medium",
        "location": "Main St 1",
        "created_at": "2026-11-29T00:00:00+00:00",
    }
    item = {"restaurant": restaurant, "similarity_score": 0.9, "insight": "y" * 80}
    return {"recommendations": [item] * 12, "count": 12, "generated_at": "2026-11-29T00:00:00"}


@pytest.mark.benchmark(group="cache")
def test_encode_cached_recommendations(benchmark: Any) -> None:
    _describe(benchmark, "encode a 12-item recommendation answer for the cache")
    body = _recommendations_body()
    encoded = benchmark(dumps, body)
    assert json.loads(encoded) == body


@pytest.mark.benchmark(group="cache")
def test_decode_cached_recommendations(benchmark: Any) -> None:
    _describe(benchmark, "decode a cached 12-item recommendation answer")
    encoded = dumps(_recommendations_body())
    assert benchmark(json.loads, encoded)["count"] == 12


@pytest.fixture(scope="module")
def database_session(request: pytest.FixtureRequest) -> Iterator[Session]:
    url = os.environ.get("TASTEMATCH_BENCH_DATABASE_URL")
    if not url:
        url = str(request.getfixturevalue("postgres_url"))
        seed(url, restaurants=RESTAURANTS, users=2_000, orders=50_000, seed=42)
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


@pytest.mark.docker
@pytest.mark.benchmark(group="restaurant query")
def test_metadata_query_10k(benchmark: Any, database_session: Session) -> None:
    _describe(benchmark, "the metadata columns of 10,000 restaurants (the optimised query)")

    def metadata() -> list[dict[str, Any]]:
        query = select(*CARD_COLUMNS).order_by(Restaurant.id).limit(RESTAURANTS)
        return [card(row) for row in database_session.execute(query)]

    assert len(benchmark.pedantic(metadata, rounds=5, iterations=1, warmup_rounds=1)) == RESTAURANTS


@pytest.mark.docker
@pytest.mark.benchmark(group="restaurant query")
def test_full_row_query_10k(benchmark: Any, database_session: Session) -> None:
    _describe(benchmark, "full ORM rows of 10,000 restaurants, JSON embeddings included (R1)")

    def full_rows() -> int:
        rows = get_restaurants(database_session, limit=RESTAURANTS)
        database_session.expunge_all()  # each round loads afresh, as each request did
        return len(rows)

    assert benchmark.pedantic(full_rows, rounds=3, iterations=1, warmup_rounds=1) == RESTAURANTS
