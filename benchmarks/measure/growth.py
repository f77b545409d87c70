"""Memory growth per request served: the leak test of a load.

A slow leak never reaches a peak budget within one run: a few KiB per request is a
few MiB a minute. After the warm-up, a memory figure (a container's working set, or
memray's heap of the traced service) is fitted against the number of requests served
so far (least squares), and the figure the budget reads is the lower bound of the
slope's 95 % confidence interval, in bytes per 10,000 requests: it exceeds the budget
only when the growth is certain, not on noise.

Samples are first reduced to the median of equal time bins (at most 5 s, at least
6 bins): neighbouring samples are not independent, and a confidence interval
computed as if they were would be too narrow.

The working set is the blunter of the two: the allocator hands a leak the free
pages it already holds before the process grows, so a leak can hide in it for a
while. memray's heap counts live allocations and shows it from the first request.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = ["PER_REQUESTS", "memory_growth"]

#: Requests the slope is expressed per.
PER_REQUESTS = 10_000
_MAX_BIN_S = 5.0
_MIN_BINS = 6
_CONFIDENCE = 0.95


def memory_growth(
    memory_t: npt.ArrayLike,
    memory_bytes: npt.ArrayLike,
    request_t: npt.ArrayLike,
    *,
    start: float,
    end: float,
    share: float = 1.0,
) -> dict[str, Any] | None:
    """Slope of ``memory_bytes`` against requests served in ``[start, end)``.

    ``memory_t`` and ``request_t`` are on one clock; a memory figure may be ``nan``
    (a sample without it). ``None`` when there are too few bins or requests to fit.
    ``share`` is the fraction of the requests the measured process served: one replica
    of N, each request sent to one picked at random, serves 1/N of them, so its slope
    is per request it served, not per request the stack served.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    times = np.asarray(memory_t, dtype=np.float64)
    sizes = np.asarray(memory_bytes, dtype=np.float64)
    requests = np.sort(np.asarray(request_t, dtype=np.float64))
    window = end - start
    if window <= 0:
        return None
    bins = max(_MIN_BINS, int(np.ceil(window / _MAX_BIN_S)))
    edges = np.linspace(start, end, bins + 1)
    served: list[float] = []
    medians: list[float] = []
    for low, high in itertools.pairwise(edges):
        inside = sizes[(times >= low) & (times < high)]
        inside = inside[~np.isnan(inside)]
        if len(inside) == 0:
            continue
        medians.append(float(np.median(inside)))
        # Requests served by the middle of the bin, counted from the window's start.
        middle = (low + high) / 2
        served.append(
            share * float(np.searchsorted(requests, middle) - np.searchsorted(requests, start))
        )
    if len(medians) < 3 or served[-1] - served[0] <= 0:
        return None
    x = np.asarray(served) / PER_REQUESTS
    fit = stats.linregress(x, np.asarray(medians))
    margin = float(stats.t.ppf((1 + _CONFIDENCE) / 2, len(x) - 2)) * float(fit.stderr)
    slope = float(fit.slope)
    return {
        "bytes_per_10k_requests": round(slope),
        "ci95_low_bytes_per_10k_requests": round(slope - margin),
        "ci95_high_bytes_per_10k_requests": round(slope + margin),
        "bins": len(x),
        "requests": round(
            share * float(np.searchsorted(requests, end) - np.searchsorted(requests, start))
        ),
        "first_bytes": round(medians[0]),
        "last_bytes": round(medians[-1]),
    }
