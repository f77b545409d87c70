"""Which seeded account a simulated diner logs in as: a few accounts are very active.

Real traffic is skewed — a small share of accounts makes most requests — and that
skew decides how often the per-user recommendation cache is hit. A Zipf-like
choice (weight ``1 / (rank + 1) ** exponent``) reproduces it deterministically.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, field

__all__ = ["LOAD_TEST_PASSWORD", "AccountPicker", "user_email"]

from service.seed import LOAD_TEST_PASSWORD, user_email


@dataclass
class AccountPicker:
    """Draws account indexes in ``[0, accounts)`` with Zipf-like weights."""

    accounts: int
    exponent: float = 1.1
    seed: int | None = None
    _cumulative: list[float] = field(init=False, repr=False)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.accounts < 1:
            raise ValueError(f"accounts must be >= 1, got {self.accounts}")
        weights = (1.0 / (rank + 1) ** self.exponent for rank in range(self.accounts))
        self._cumulative = list(itertools.accumulate(weights))
        self._rng = random.Random(self.seed)

    def pick(self) -> int:
        """One account index; index 0 is the most likely."""
        point = self._rng.random() * self._cumulative[-1]
        return min(bisect.bisect_right(self._cumulative, point), self.accounts - 1)
