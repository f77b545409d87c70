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

memray's heap is judged another way (:func:`heap_growth`). Its phase is short (about
250 requests), and there one allocation that stays (a buffer grown once, a pooled
connection opened late) is a step that a line fits as well as a leak: a clean A/A run
failed on a single 1 MiB step, which over 250 requests reads as 40 MiB per 10,000.
The heap is nearly free of noise, so it is cut into half-second bins and the figure is
the *median* of the bins' growth per request served, with the distribution-free 95 %
interval of a median (order statistics): a leak grows in nearly every bin, a step (up,
or a large free down) in one. Replayed on the 19 memray captures kept on this machine
(clean runs, 2026-12-04): the lower bound was at most 0.0 MiB per 10,000 requests
(least squares: up to 12.0); with a leak of 2 KiB per request added to the heap, at
least 14.3 (least squares 11.4), with 4 KiB at least 30.3 (30.7). The median misses a
leak that grows the heap in fewer than half of the bins (one on a rare endpoint): the
working set's least-squares test over the longer phases covers those.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = ["PER_REQUESTS", "heap_growth", "memory_growth"]

#: Requests the slope is expressed per.
PER_REQUESTS = 10_000
_MAX_BIN_S = 5.0
_MIN_BINS = 6
_CONFIDENCE = 0.95
#: Bin of :func:`heap_growth` (memray snapshots the heap every few milliseconds).
_HEAP_BIN_S = 0.5


def _bins(
    times: npt.NDArray[np.float64],
    sizes: npt.NDArray[np.float64],
    requests: npt.NDArray[np.float64],
    edges: npt.NDArray[np.float64],
    share: float,
) -> tuple[list[float], list[float]]:
    """Per bin with a memory figure: requests served by its middle (counted from the
    first edge, times ``share``) and the median figure."""
    served: list[float] = []
    medians: list[float] = []
    for low, high in itertools.pairwise(edges):
        inside = sizes[(times >= low) & (times < high)]
        inside = inside[~np.isnan(inside)]
        if len(inside) == 0:
            continue
        medians.append(float(np.median(inside)))
        middle = (low + high) / 2
        served.append(
            share * float(np.searchsorted(requests, middle) - np.searchsorted(requests, edges[0]))
        )
    return served, medians


def _served(requests: npt.NDArray[np.float64], start: float, end: float, share: float) -> int:
    return round(share * float(np.searchsorted(requests, end) - np.searchsorted(requests, start)))


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
    served, medians = _bins(times, sizes, requests, np.linspace(start, end, bins + 1), share)
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
        "requests": _served(requests, start, end, share),
        "first_bytes": round(medians[0]),
        "last_bytes": round(medians[-1]),
    }


def heap_growth(
    memory_t: npt.ArrayLike,
    memory_bytes: npt.ArrayLike,
    request_t: npt.ArrayLike,
    *,
    start: float,
    end: float,
) -> dict[str, Any] | None:
    """Median growth per request of a nearly noise-free heap in ``[start, end)``.

    The window is cut into half-second bins; each pair of neighbouring bins that served
    requests gives one rate (the change of the bins' median heap over the requests
    served between their middles). The figure is the median rate, its interval the
    distribution-free 95 % interval of a median. ``None`` with fewer than 6 rates.
    """
    times = np.asarray(memory_t, dtype=np.float64)
    sizes = np.asarray(memory_bytes, dtype=np.float64)
    requests = np.sort(np.asarray(request_t, dtype=np.float64))
    bins = int(np.floor((end - start) / _HEAP_BIN_S))
    if bins < 2:
        return None
    served, medians = _bins(times, sizes, requests, np.linspace(start, end, bins + 1), 1.0)
    grown, more = np.diff(medians), np.diff(served)
    rates = np.sort(grown[more > 0] / more[more > 0] * PER_REQUESTS)
    count = len(rates)
    if count < _MIN_BINS:
        return None
    # The k-th smallest and largest rates bound the median with >= 95 % confidence.
    k = max(1, int(stats.binom.ppf((1 - _CONFIDENCE) / 2, count, 0.5)))
    return {
        "bytes_per_10k_requests": round(float(np.median(rates))),
        "ci95_low_bytes_per_10k_requests": round(float(rates[k - 1])),
        "ci95_high_bytes_per_10k_requests": round(float(rates[count - k])),
        "bins": count,
        "requests": _served(requests, start, end, 1.0),
        "first_bytes": round(medians[0]),
        "last_bytes": round(medians[-1]),
    }
