"""Which seeded account a simulated diner logs in as: a few accounts are very active.

Real traffic is skewed — a small share of accounts makes most requests — and that
skew decides how often the per-user recommendation cache is hit. A Zipf-like
choice (weight ``1 / (rank + 1) ** exponent``) reproduces it deterministically.

Locust's distributed workers are forked from a master that has already imported
the user classes, so every worker starts with the same picker state and would log
its diners in as the same accounts as the others: fewer distinct diners, more
cache hits than one process with the same users. :func:`use_stream` gives each
worker a sequence of its own (worker 0 keeps the single-process one).
"""

from __future__ import annotations

import bisect
import itertools
import random
import weakref
from dataclasses import dataclass, field

__all__ = ["LOAD_TEST_PASSWORD", "AccountPicker", "use_stream", "user_email"]

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
        _PICKERS.append(weakref.ref(self))

    def use_stream(self, stream: int) -> None:
        """Restart the draws as sequence ``stream`` of this seed (0: the seed's own)."""
        if stream < 0:
            raise ValueError(f"stream must be >= 0, got {stream}")
        if self.seed is None:
            self._rng = random.Random()
        else:
            self._rng = random.Random(self.seed if stream == 0 else f"{self.seed}/{stream}")

    def pick(self) -> int:
        """One account index; index 0 is the most likely."""
        point = self._rng.random() * self._cumulative[-1]
        return min(bisect.bisect_right(self._cumulative, point), self.accounts - 1)


# Weak: a picker made in a test goes away with it. (Pickers are unhashable dataclasses.)
_PICKERS: list[weakref.ref[AccountPicker]] = []


def use_stream(stream: int) -> None:
    """Every picker of this process draws sequence ``stream`` from now on (one per worker)."""
    for reference in list(_PICKERS):
        picker = reference()
        if picker is None:
            _PICKERS.remove(reference)
        else:
            picker.use_stream(stream)
