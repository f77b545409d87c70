"""The compact, process-wide view of every restaurant that recommendations rank over.

One float32 matrix of unit-length embeddings (10,000 restaurants x 384 = 15 MiB) plus
ratings, shared by every request of the process. It is loaded once and reloaded in the
background when the restaurant table changes, outside any request's statement count.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, text

from service import metrics
from service.models import EMBEDDING_DIM

__all__ = ["IndexHolder", "RestaurantIndex", "fingerprint"]

log = logging.getLogger(__name__)

#: Restaurants rated below this are never recommended.
MIN_CANDIDATE_RATING = 3.0

_FINGERPRINT_SQL = text(
    "SELECT (SELECT count(*) FROM restaurants), (SELECT coalesce(max(id), 0) FROM restaurants),"
    " (SELECT coalesce(max(loaded_at)::text, '') FROM dataset_info)"
)
_LOAD_SQL = text("SELECT id, rating, embedding_f32 FROM restaurants ORDER BY id")
_CHUNK_ROWS = 1000


@dataclass(frozen=True, slots=True)
class RestaurantIndex:
    """Ids (sorted), ratings and unit-length embeddings of every restaurant.

    Build it with ``RestaurantIndex.build``, which also derives the cold-start order and
    the candidate mask once, so that ranking needs a single scratch array of one float32
    per restaurant.
    """

    ids: npt.NDArray[np.int64]
    ratings: npt.NDArray[np.float32]
    embeddings: npt.NDArray[np.float32]
    fingerprint: str
    #: Rows of the candidates, best rated first (ties: lower id): the cold-start ranking.
    popular: npt.NDArray[np.intp]
    #: 0 for a candidate, -inf for a restaurant rated too low: added to similarity scores.
    penalty: npt.NDArray[np.float32]

    @classmethod
    def build(
        cls,
        ids: npt.NDArray[np.int64],
        ratings: npt.NDArray[np.float32],
        embeddings: npt.NDArray[np.float32],
        fingerprint: str,
    ) -> RestaurantIndex:
        """An index over restaurants sorted by id (``embeddings`` already unit-length)."""
        candidate = ratings >= MIN_CANDIDATE_RATING
        by_rating = np.lexsort((ids, -ratings))  # last key first: rating desc, then id
        penalty = np.where(candidate, np.float32(0.0), np.float32(-np.inf)).astype(np.float32)
        return cls(
            ids=ids,
            ratings=ratings,
            embeddings=embeddings,
            fingerprint=fingerprint,
            popular=by_rating[candidate[by_rating]].astype(np.intp),
            penalty=penalty,
        )

    @property
    def size(self) -> int:
        """Number of restaurants."""
        return int(self.ids.shape[0])

    def rows_of(self, restaurant_ids: list[int]) -> npt.NDArray[np.intp]:
        """Row numbers of the given ids; ids not in the index are left out."""
        if not restaurant_ids or self.size == 0:
            return np.empty(0, dtype=np.intp)
        wanted = np.asarray(restaurant_ids, dtype=np.int64)
        rows = np.searchsorted(self.ids, wanted)
        rows = np.minimum(rows, self.size - 1)
        found: npt.NDArray[np.intp] = rows[self.ids[rows] == wanted]
        return found

    def taste_vector(self, weights: dict[int, float]) -> npt.NDArray[np.float32] | None:
        """Weighted mean of the embeddings of ``weights``' restaurants (``None`` if empty)."""
        ids = list(weights)
        rows = self.rows_of(ids)
        if rows.size == 0:
            return None
        by_id = dict(zip(self.ids[rows].tolist(), rows.tolist(), strict=True))
        w = np.array([weights[rid] for rid in ids if rid in by_id], dtype=np.float32)
        if float(w.sum()) <= 0.0:
            return None
        picked = np.array([by_id[rid] for rid in ids if rid in by_id], dtype=np.intp)
        vector: npt.NDArray[np.float32] = (w @ self.embeddings[picked]) / np.float32(w.sum())
        return vector

    def rank(
        self, taste: npt.NDArray[np.float32] | None, exclude: list[int], limit: int
    ) -> list[tuple[int, float]]:
        """The best ``limit`` candidates as ``(restaurant id, score in [0, 1])``.

        With a taste vector the score is the cosine similarity (negative clipped to 0);
        without one (cold start) restaurants are ranked by rating and scored rating / 5.
        Candidates are rated at least ``MIN_CANDIDATE_RATING`` and not in ``exclude``.
        Equal scores rank the lower id first.
        """
        if self.size == 0 or limit <= 0:
            return []
        excluded = set(self.rows_of(exclude).tolist())
        norm = float(np.linalg.norm(taste)) if taste is not None else 0.0
        if taste is None or norm == 0.0:
            # At most len(excluded) of the first rows are skipped.
            head = self.popular[: limit + len(excluded)].tolist()
            rows = [row for row in head if row not in excluded][:limit]
            return [(int(self.ids[row]), float(self.ratings[row]) / 5.0) for row in rows]
        scores = self.embeddings @ (taste / np.float32(norm))  # the request's one O(n) array
        scores += self.penalty
        if excluded:
            scores[list(excluded)] = -np.inf
        allowed = self.popular.size - sum(1 for row in excluded if self.penalty[row] == 0)
        take = min(limit, allowed)
        if take <= 0:
            return []
        # The take-th best score; every row reaching it competes, so ties at the boundary
        # are broken by id like all others rather than by the partition's whim.
        threshold = np.partition(scores, self.size - take)[self.size - take]
        top = np.flatnonzero(scores >= threshold).tolist()
        top.sort(key=lambda row: (-scores[row], self.ids[row]))
        return [(int(self.ids[row]), min(1.0, max(0.0, float(scores[row])))) for row in top[:take]]


def empty_index(fingerprint: str = "") -> RestaurantIndex:
    """An index with no restaurants."""
    return RestaurantIndex.build(
        ids=np.empty(0, dtype=np.int64),
        ratings=np.empty(0, dtype=np.float32),
        embeddings=np.empty((0, EMBEDDING_DIM), dtype=np.float32),
        fingerprint=fingerprint,
    )


def fingerprint(engine: Engine) -> str:
    """A short digest that changes whenever the restaurant data set changes."""
    with engine.connect() as conn:
        row = conn.execute(_FINGERPRINT_SQL).one()
    return hashlib.sha1(repr(tuple(row)).encode()).hexdigest()[:10]


def load_index(engine: Engine) -> RestaurantIndex:
    """Read every restaurant's rating and float32 embedding into a new index."""
    token = metrics.suspend_counting()
    try:
        stamp = fingerprint(engine)
        ids: list[int] = []
        ratings: list[float] = []
        blocks: list[npt.NDArray[np.float32]] = []
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=_CHUNK_ROWS).execute(
                _LOAD_SQL
            )
            for chunk in result.partitions():
                block = np.empty((len(chunk), EMBEDDING_DIM), dtype=np.float32)
                for i, (rid, rating, blob) in enumerate(chunk):
                    ids.append(rid)
                    ratings.append(rating)
                    block[i] = np.frombuffer(blob, dtype="<f4", count=EMBEDDING_DIM)
                blocks.append(block)
    finally:
        metrics.resume_counting(token)
    if not ids:
        return empty_index(stamp)
    embeddings = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    del blocks
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    np.divide(embeddings, norms, out=embeddings, where=norms > 0)
    return RestaurantIndex.build(
        ids=np.asarray(ids, dtype=np.int64),
        ratings=np.asarray(ratings, dtype=np.float32),
        embeddings=embeddings,
        fingerprint=stamp,
    )


class IndexHolder:
    """The process's current index, kept fresh by a background thread.

    The thread also calls ``also_poll`` after each look at the index (the service's other
    periodic reads, ``AccountWatch.poll``), so that they share its rhythm.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        refresh_s: float,
        also_poll: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._refresh_s = refresh_s
        self._also_poll = also_poll
        self._index: RestaurantIndex | None = None
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def get(self) -> RestaurantIndex:
        """The current index, loading it first if this process has none yet."""
        index = self._index
        if index is not None:
            return index
        with self._load_lock:
            if self._index is None:
                self._index = load_index(self._engine)
            return self._index

    @property
    def namespace(self) -> str:
        """The loaded data set's fingerprint ("none" before the first load)."""
        index = self._index
        return index.fingerprint if index is not None else "none"

    @property
    def size_if_loaded(self) -> int | None:
        """Restaurants in the loaded index, or ``None`` before the first load."""
        index = self._index
        return index.size if index is not None else None

    def refresh(self) -> bool:
        """Reload if the restaurant table changed; return whether a reload happened."""
        token = metrics.suspend_counting()
        try:
            stamp = fingerprint(self._engine)
        finally:
            metrics.resume_counting(token)
        current = self._index
        if current is not None and current.fingerprint == stamp:
            return False
        with self._load_lock:
            self._index = load_index(self._engine)
        log.info("restaurant index loaded: %d restaurants", self._index.size)
        return True

    def start(self) -> None:
        """Load now if possible, then keep checking in a daemon thread."""
        try:
            self.refresh()
        except Exception as error:  # the database may come up after the service
            log.warning("restaurant index not loaded yet: %s", error)
        self._poll_also()
        self._thread = threading.Thread(target=self._run, name="restaurant-index", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        # While there is nothing to rank (the data set is loaded after the service started),
        # look again every second so that recommendations appear as soon as it is there.
        while not self._stop.wait(self._refresh_s if self.size_if_loaded else 1.0):
            try:
                self.refresh()
            except Exception as error:
                log.warning("restaurant index refresh failed: %s", error)
            self._poll_also()

    def _poll_also(self) -> None:
        if self._also_poll is None:
            return
        try:
            self._also_poll()
        except Exception as error:
            log.warning("periodic read failed: %s", error)
