"""The statistics of a base-vs-head ratio: a bootstrap interval of a percentile's ratio
on the raw samples, and a lower bound of the ratio over pairs of rounds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from scipy.stats import t as student_t

__all__ = ["as_array", "pairs_lower_bound", "ratio_ci95"]


_BOOTSTRAP_RESAMPLES = 1000


_BOOTSTRAP_BATCH = 50


def pairs_lower_bound(ratios: Sequence[float | None], alpha: float) -> float | None:
    """One-sided lower ``1 - alpha`` bound of the geometric mean of ``ratios``.

    Student's t on the logarithms, the pair of rounds being the unit that repeats.
    ``None`` with fewer than 3 ratios (or a missing one): two values say too little
    about their spread for a bound to mean anything.
    """
    if len(ratios) < 3 or any(ratio is None or ratio <= 0 for ratio in ratios):
        return None
    logs = np.log(np.asarray(ratios, dtype=np.float64))
    spread = float(np.std(logs, ddof=1)) / float(np.sqrt(len(logs)))
    margin = float(student_t.ppf(1 - alpha, len(logs) - 1)) * spread
    return round(float(np.exp(float(np.mean(logs)) - margin)), 4)


def as_array(values: Iterable[float] | None) -> npt.NDArray[np.float64]:
    return np.asarray(list(values or []), dtype=np.float64)


def ratio_ci95(
    base: npt.NDArray[np.float64], head: npt.NDArray[np.float64], quantile: float
) -> list[float]:
    """95 % bootstrap interval of ``quantile(head) / quantile(base)`` (seeded)."""
    rng = np.random.default_rng(0)
    ratios: list[npt.NDArray[np.float64]] = []
    for _ in range(_BOOTSTRAP_RESAMPLES // _BOOTSTRAP_BATCH):  # bounded memory per batch
        picks_b = rng.integers(0, len(base), size=(_BOOTSTRAP_BATCH, len(base)))
        picks_h = rng.integers(0, len(head), size=(_BOOTSTRAP_BATCH, len(head)))
        base_q = np.percentile(base[picks_b], quantile, axis=1)
        head_q = np.percentile(head[picks_h], quantile, axis=1)
        ratios.append(head_q / np.where(base_q > 0, base_q, np.nan))
    low, high = np.nanpercentile(np.concatenate(ratios), [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]
