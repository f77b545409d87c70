"""The catalogue of historical regressions R1..R8: one home for every package.

The service switches each on by ``TASTEMATCH_REGRESSIONS`` (``service.config``); the
stack passes them to its containers (``containers.stack``; R6 is a Postgres setting,
chosen in ``containers.replicas``); the self-test runs each alone
(``benchmarks.judge.cases``); README's table is checked against :data:`CATALOGUE` by a
test. This module imports nothing of the service, so the other packages can read it
without FastAPI or SQLAlchemy.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "CATALOGUE",
    "POSTGRES_REGRESSION",
    "REGRESSION_IDS",
    "SERVICE_REGRESSIONS",
    "Regression",
    "RegressionInfo",
    "parse_regressions",
]


class Regression(enum.StrEnum):
    """One historical mistake that can be re-created."""

    R1 = "R1"
    R2 = "R2"
    R3 = "R3"
    R4 = "R4"
    R5 = "R5"
    R6 = "R6"
    R7 = "R7"
    R8 = "R8"


@dataclass(frozen=True)
class RegressionInfo:
    """What a regression re-creates: a few words, and README's sentence."""

    summary: str
    detail: str


CATALOGUE: dict[Regression, RegressionInfo] = {
    Regression.R1: RegressionInfo(
        "full rows of the catalogue per recommendation, insight and onboarding",
        "full rows of the catalogue (JSON embeddings parsed): up to 10,000 restaurants 2\u20134 "
        "times per recommendation, every restaurant per insight, every restaurant of the "
        "picked cuisines per onboarding",
    ),
    Regression.R2: RegressionInfo(
        "default pool (5 + 10) and 2 workers",
        "default pool (5 + 10 overflow) and 2 uvicorn workers",
    ),
    Regression.R3: RegressionInfo("no cache", "no cache"),
    Regression.R4: RegressionInfo(
        "N+1 order loading", "N+1: orders loaded, each restaurant fetched lazily"
    ),
    Regression.R5: RegressionInfo("no pagination cap", "no pagination cap (`limit` up to 10,000)"),
    Regression.R6: RegressionInfo(
        "untuned Postgres", "untuned Postgres (defaults, `max_connections=100`)"
    ),
    Regression.R7: RegressionInfo(
        "per-process cache with 2 replicas",
        "per-process in-memory cache instead of the shared Redis one",
    ),
    Regression.R8: RegressionInfo("no Cache-Control headers", "no `Cache-Control` headers"),
}

#: Every regression id, in order.
REGRESSION_IDS: tuple[str, ...] = tuple(regression.value for regression in Regression)
#: The Postgres-side regression: untuned Postgres (a database-container setting).
POSTGRES_REGRESSION = Regression.R6
#: Every regression that lives in the service's code.
SERVICE_REGRESSIONS = frozenset(Regression) - {POSTGRES_REGRESSION}


def parse_regressions(value: str | Iterable[str]) -> frozenset[Regression]:
    """``"R1, r4"`` (or an iterable of ids) as regressions; ``ValueError`` names an unknown id."""
    items = value.split(",") if isinstance(value, str) else list(value)
    found = [item.strip() for item in items if item.strip()]
    unknown = [item for item in found if item.upper() not in REGRESSION_IDS]
    if unknown:
        raise ValueError(
            f"unknown regression id(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(REGRESSION_IDS)}"
        )
    return frozenset(Regression(item.upper()) for item in found)
