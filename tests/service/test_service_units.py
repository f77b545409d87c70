"""Pieces of the service that need no database: settings, ranking, cache, tokens, text."""

from __future__ import annotations

import re
import socket
import time
from typing import Any

import jwt
import numpy as np
import pytest
import redis
from prometheus_client import REGISTRY
from pydantic import ValidationError

import service.cache_entries
from service.accounts import DatasetView
from service.cache import CacheClient
from service.cache_backends import LocalBackend, NullBackend, RedisBackend
from service.config import Settings
from service.insights import TasteProfile, chef_choice, insight
from service.regressions import Regression, parse_regressions
from service.restaurant_index import RestaurantIndex
from service.security import (
    InvalidTokenError,
    TokenClaims,
    create_token,
    hash_password,
    read_token,
    verify_password,
)

SECRET = "unit-test-secret-" + "y" * 32


# -- settings ---------------------------------------------------------------------------------
def test_regressions_parse_case_and_space_insensitively() -> None:
    assert parse_regressions(" r1, R4 ,,") == {Regression.R1, Regression.R4}
    assert parse_regressions("") == frozenset()


def test_settings_reject_unknown_regressions_naming_them(jwt_secret: str) -> None:
    with pytest.raises(ValidationError, match=r"unknown regression id\(s\) R10"):
        Settings(regressions="R1,R10", jwt_secret=jwt_secret)


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, jwt_secret: str) -> None:
    monkeypatch.setenv("TASTEMATCH_JWT_SECRET", jwt_secret)
    monkeypatch.setenv("TASTEMATCH_PROFILE", "baseline")
    monkeypatch.setenv("TASTEMATCH_PORT", "9001")
    settings = Settings()
    assert (settings.profile, settings.port, settings.workers) == ("baseline", 9001, 2)
    monkeypatch.setenv("TASTEMATCH_PROFILE", "fastest")
    with pytest.raises(ValidationError, match="profile"):
        Settings()


def test_the_service_needs_a_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASTEMATCH_JWT_SECRET", raising=False)
    with pytest.raises(ValidationError, match="jwt_secret\n  Field required"):
        Settings()


def test_a_short_jwt_secret_is_refused_without_echoing_it() -> None:
    secret = "s3cret-but-31-bytes-long-......"
    with pytest.raises(ValidationError, match="at least 32 bytes, not 31") as raised:
        Settings(jwt_secret=secret)
    assert secret not in str(raised.value)
    assert Settings(jwt_secret=secret + "!").jwt_secret == secret + "!"


@pytest.mark.parametrize(
    ("regressions", "mode"), [("", "redis"), ("R7", "local"), ("R3", "none"), ("R3,R7", "none")]
)
def test_cache_mode(regressions: str, mode: str, jwt_secret: str) -> None:
    assert Settings(regressions=regressions, jwt_secret=jwt_secret).cache_mode == mode


# -- ranking ----------------------------------------------------------------------------------
def _index(vectors: list[list[float]], ratings: list[float]) -> RestaurantIndex:
    embeddings = np.zeros((len(vectors), 384), dtype=np.float32)
    embeddings[:, : len(vectors[0])] = vectors
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return RestaurantIndex.build(
        ids=np.arange(10, 10 + len(vectors), dtype=np.int64),
        ratings=np.asarray(ratings, dtype=np.float32),
        embeddings=embeddings,
        fingerprint="test",
    )


def test_rank_by_cosine_skipping_low_ratings_and_excluded_ids() -> None:
    index = _index([[1, 0], [1, 1], [0, 1], [1, 0.1], [1, 0]], [4, 4, 4, 4, 2.9])
    taste = index.taste_vector({10: 1.0})
    assert taste is not None
    ranked = index.rank(taste, exclude=[10], limit=10)
    assert [rid for rid, _ in ranked] == [13, 11, 12]  # 14 is rated below 3
    assert [score for _, score in ranked] == pytest.approx([0.995, 0.7071, 0.0], abs=1e-3)
    assert index.rank(taste, exclude=[10], limit=1) == ranked[:1]


def test_rank_matches_a_brute_force_ranking() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((300, 8)).tolist()
    ratings = np.round(rng.uniform(1, 5, 300), 1).tolist()
    index = _index(vectors, ratings)
    taste = index.embeddings[5] + index.embeddings[77]
    exclude = [10 + k for k in rng.choice(300, 40, replace=False).tolist()]
    scores = index.embeddings @ (taste / np.linalg.norm(taste))
    expected = sorted(
        (
            (-float(scores[row]), 10 + row)
            for row in range(300)
            if ratings[row] >= 3 and 10 + row not in exclude
        ),
    )[:25]
    ranked = index.rank(taste, exclude=exclude, limit=25)
    assert [rid for rid, _ in ranked] == [rid for _, rid in expected]
    everything = index.rank(taste, exclude=exclude, limit=10_000)
    assert len(everything) == sum(
        1 for row in range(300) if ratings[row] >= 3 and 10 + row not in exclude
    )


def test_equal_scores_rank_the_lower_id_first() -> None:
    index = _index([[1, 0]] * 6, [4, 4, 4, 4, 4, 4])
    taste = index.embeddings[0]
    assert [rid for rid, _ in index.rank(taste, exclude=[11], limit=3)] == [10, 12, 13]


def test_cold_start_ranks_by_rating_then_id() -> None:
    index = _index([[1, 0]] * 4, [3.5, 5.0, 3.5, 1.0])
    ranked = index.rank(None, exclude=[], limit=5)
    assert ranked == [(11, 1.0), (10, pytest.approx(0.7)), (12, pytest.approx(0.7))]


def test_taste_vector_is_the_weighted_mean_and_ignores_unknown_ids() -> None:
    index = _index([[1, 0], [0, 1]], [4, 4])
    taste = index.taste_vector({10: 3.0, 11: 1.0, 999: 50.0})
    assert taste is not None
    assert taste[:2] == pytest.approx([0.75, 0.25])
    assert index.taste_vector({999: 1.0}) is None
    assert index.taste_vector({10: 0.0}) is None


# -- cache ------------------------------------------------------------------------------------
def _client(backend: LocalBackend | NullBackend) -> CacheClient:
    return CacheClient(backend, namespace=lambda: "ns")


def test_user_entry_is_cached_until_invalidated() -> None:
    cache = _client(LocalBackend())
    calls: list[int] = []

    def compute() -> dict[str, bytes]:
        calls.append(1)
        return {"f": f"v{len(calls)}".encode(), "sibling": b"s"}

    key = cache.key("rec", 1)
    assert key == "tm:ns:rec:1"
    assert cache.get_user_entry("recommendations", key, "f", compute, 60) == (b"v1", False)
    assert cache.get_user_entry("recommendations", key, "f", compute, 60) == (b"v1", True)
    # The sibling entry computed by the same work was stored too.
    assert cache.get_user_entry("recommendations", key, "sibling", compute, 60) == (b"s", True)
    cache.invalidate_user(key, 60)
    assert cache.get_user_entry("recommendations", key, "f", compute, 60) == (b"v2", False)
    assert cache.get_user_entry("recommendations", key, "f", compute, 60, refresh=True) == (
        b"v3",
        False,
    )


def test_a_result_computed_across_an_invalidation_is_not_stored() -> None:
    cache = _client(LocalBackend())
    key = cache.key("rec", 2)

    def compute_while_an_order_lands() -> dict[str, bytes]:
        cache.invalidate_user(key, 60)  # the order commits while we compute
        return {"f": b"stale"}

    cache.get_user_entry("recommendations", key, "f", compute_while_an_order_lands, 60)
    fresh = cache.get_user_entry("recommendations", key, "f", lambda: {"f": b"fresh"}, 60)
    assert fresh == (b"fresh", False)


def test_entries_expire_after_their_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = _client(LocalBackend())
    key = cache.key("rest", 1)
    cache.put_many({key: b"x"}, ttl_s=60)
    assert cache.get_many("restaurants", [key]) == [b"x"]
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    assert cache.get_many("restaurants", [key]) == [None]


def _hits_by_writer(writer: str) -> float:
    value = REGISTRY.get_sample_value(
        "tastematch_cache_hits_by_writer_total", {"cache": "recommendations", "writer": writer}
    )
    return value or 0.0


def test_a_hit_counts_the_replica_that_wrote_the_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    # Two replicas on one shared backend: each signs what it writes with its own id.
    shared = LocalBackend()
    cache = _client(shared)
    key = cache.key("rec", 3)
    before = {writer: _hits_by_writer(writer) for writer in ("this-replica", "another-replica")}
    monkeypatch.setattr(service.cache_entries, "REPLICA_ID", b"replica1")
    cache.get_user_entry("recommendations", key, "f", lambda: {"f": b"v"}, 60)  # writes
    cache.get_user_entry("recommendations", key, "f", lambda: {"f": b"x"}, 60)  # own hit
    monkeypatch.setattr(service.cache_entries, "REPLICA_ID", b"replica2")
    assert cache.get_user_entry("recommendations", key, "f", lambda: {"f": b"x"}, 60) == (
        b"v",
        True,
    )
    assert _hits_by_writer("this-replica") - before["this-replica"] == 1
    assert _hits_by_writer("another-replica") - before["another-replica"] == 1


def test_no_cache_always_computes() -> None:
    cache = _client(NullBackend())
    assert cache.get_or_compute("restaurants", "k", lambda: b"a", 60) == b"a"
    assert cache.get_or_compute("restaurants", "k", lambda: b"b", 60) == b"b"


# -- tokens and passwords ----------------------------------------------------------------------
def test_token_round_trip_expiry_and_forgery() -> None:
    before = int(time.time())
    claims = read_token(create_token(42, dataset=7, secret=SECRET, ttl_s=60), secret=SECRET)
    assert (claims.user_id, claims.dataset) == (42, 7)
    assert before <= claims.issued_at <= time.time()
    with pytest.raises(InvalidTokenError, match="token expired"):
        read_token(create_token(42, dataset=7, secret=SECRET, ttl_s=-1), secret=SECRET)
    with pytest.raises(InvalidTokenError, match="Signature verification failed"):
        read_token(create_token(42, dataset=7, secret=SECRET + "!", ttl_s=60), secret=SECRET)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"sub": "42", "iat": 1}, 'missing the "ds" claim'),
        ({"sub": "42", "ds": 7}, 'missing the "iat" claim'),
        ({"sub": "42", "ds": "7", "iat": 1}, "data set or issue time is not an integer"),
        ({"sub": "42", "ds": True, "iat": 1}, "data set or issue time is not an integer"),
        ({"sub": "me", "ds": 7, "iat": 1}, "subject is not a user id"),
    ],
    ids=["no-dataset", "no-issue-time", "dataset-text", "dataset-bool", "subject"],
)
def test_a_token_without_a_usable_data_set_is_invalid(claims: dict[str, Any], reason: str) -> None:
    token = jwt.encode({**claims, "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    with pytest.raises(InvalidTokenError, match=re.escape(reason)):
        read_token(token, secret=SECRET)


class _Database:
    """The data set id a ``DatasetView`` reads, and how many times it read it."""

    def __init__(self, dataset: int) -> None:
        self.dataset = dataset
        self.reads = 0

    def read(self) -> int:
        self.reads += 1
        return self.dataset


def _claims(dataset: int, issued_at: float) -> TokenClaims:
    return TokenClaims(user_id=1, dataset=dataset, issued_at=int(issued_at))


def test_dataset_view_accepts_every_token_until_it_has_read_the_data_set() -> None:
    view = DatasetView(_Database(5).read)
    assert view.current is None
    assert view.verdict(_claims(99, time.time())) is True


def test_dataset_view_refuses_an_older_token_of_another_data_set_without_reading() -> None:
    database = _Database(5)
    now = [1000.0]
    view = DatasetView(database.read, clock=lambda: now[0])
    assert view.refresh() == 5
    now[0] = 1001.0
    assert view.verdict(_claims(5, 900)) is True
    assert view.verdict(_claims(4, 900)) is False  # issued before the read: from before
    assert view.admits(_claims(4, 900)) is False
    assert database.reads == 1


def test_dataset_view_reads_again_for_a_token_newer_than_what_it_knows() -> None:
    database = _Database(5)
    now = [1000.0]
    view = DatasetView(database.read, clock=lambda: now[0])
    view.refresh()
    database.dataset = 6  # re-seeded; another replica logged someone in
    now[0] = 1003.0
    newer = _claims(6, 1002)
    assert view.verdict(newer) is None
    assert view.admits(newer) is True
    assert (view.current, database.reads) == (6, 2)
    # Known now: the old data set's tokens are refused, the new one's accepted, unread.
    assert view.verdict(_claims(5, 999)) is False
    assert view.admits(_claims(6, 1002)) is True
    assert database.reads == 2


def test_dataset_view_reads_once_for_a_token_newer_than_it_of_a_foreign_data_set() -> None:
    database = _Database(5)
    now = [1000.0]
    view = DatasetView(database.read, clock=lambda: now[0])
    view.refresh()
    now[0] = 1005.0
    stray = _claims(3, 1004)  # issued after the last read, yet not of the current data set
    assert view.admits(stray) is False
    assert view.admits(stray) is False
    assert database.reads == 2  # the read after the token settles it for good


def test_password_hash_verifies_only_the_password() -> None:
    hashed = hash_password("tastematch-load", rounds=4)
    assert verify_password("tastematch-load", hashed)
    assert not verify_password("tastematch-lead", hashed)
    assert not verify_password("anything", "not-a-bcrypt-hash")


# -- explanations --------------------------------------------------------------------------------
RESTAURANT = {"name": "Blue Fork", "cuisine_type": "Thai", "rating": 4.4, "price_range": "low"}


def test_insight_depends_on_the_users_history() -> None:
    fan = TasteProfile(total_orders=12, cuisine_counts={"Thai": 7, "Greek": 5})
    assert insight(RESTAURANT, 0.91, fan) == (
        "You often order Thai (7 orders); this one matches your taste at 91%, "
        "rated 4.4/5 with low prices."
    )
    newcomer = TasteProfile(total_orders=0, cuisine_counts={})
    assert insight(RESTAURANT, 0.88, newcomer).startswith("Popular with diners: rated 4.4/5")
    other = TasteProfile(total_orders=3, cuisine_counts={"Greek": 3})
    assert insight(RESTAURANT, 0.5, other).startswith("Something new: Thai")


def test_chef_choice_confidence_grows_with_history() -> None:
    short = TasteProfile(total_orders=2, cuisine_counts={"Thai": 2})
    long = TasteProfile(total_orders=20, cuisine_counts={"Thai": 20})
    explanation, reasoning, low = chef_choice(RESTAURANT, 0.8, short)
    _, _, high = chef_choice(RESTAURANT, 0.8, long)
    assert explanation == "Blue Fork is the chef's choice for you: it matches your taste at 80%."
    assert reasoning[0] == "Similarity to your taste profile: 0.80"
    assert "Thai is one of your favourite cuisines (2 orders)" in reasoning
    assert low == pytest.approx(0.48)
    assert high == pytest.approx(0.8)
    assert TasteProfile(5, {"A": 1, "B": 3, "C": 3, "D": 2}).favorite_cuisines == ["B", "C", "D"]


def test_server_refuses_bad_settings_naming_them(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.__main__ import main
    from service.config import get_settings

    monkeypatch.setenv("TASTEMATCH_REGRESSIONS", "R1,R42")
    get_settings.cache_clear()
    try:
        assert main([]) == 2
    finally:
        get_settings.cache_clear()
    assert "unknown regression id(s) R42" in capsys.readouterr().err


def test_server_refuses_to_start_without_a_jwt_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.__main__ import main
    from service.config import get_settings

    monkeypatch.delenv("TASTEMATCH_JWT_SECRET", raising=False)
    get_settings.cache_clear()
    try:
        assert main([]) == 2
    finally:
        get_settings.cache_clear()
    error = capsys.readouterr().err
    assert "invalid TASTEMATCH_* setting" in error
    assert "jwt_secret" in error


def test_a_stalled_redis_costs_one_timeout_per_call_not_a_retry_loop() -> None:
    # A server that accepts connections and never answers: what a paused Redis looks like.
    with socket.create_server(("127.0.0.1", 0), backlog=16) as server:
        port = server.getsockname()[1]
        backend = RedisBackend(f"redis://127.0.0.1:{port}/0", timeout_s=0.3)
        try:
            began = time.monotonic()
            with pytest.raises(redis.TimeoutError):
                backend.mget(["a"])
            took = time.monotonic() - began
        finally:
            backend.close()
    assert 0.25 <= took < 0.6
