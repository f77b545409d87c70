"""The leak test: working set fitted against requests served, judged on the lower
bound of the slope's 95 % confidence interval."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.measure.growth import PER_REQUESTS, heap_growth, memory_growth

MIB = 1024**2


def _phase(
    leak_bytes_per_request: float,
    *,
    noise_mib: float = 1.0,
    plateau_mib: float = 0.0,
    seed: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """60 s at 100 requests/s sampled at 4 Hz: a leak per request, noise, and a cache that
    fills in the first 10 s and then stays (``plateau_mib``)."""
    rng = np.random.default_rng(seed)
    requests = np.sort(rng.uniform(0, 60, 6000))
    memory_t = np.arange(0, 60, 0.25)
    served = np.searchsorted(requests, memory_t)
    cache = plateau_mib * MIB * np.minimum(memory_t / 10, 1.0)
    working_set = (
        140 * MIB
        + served * leak_bytes_per_request
        + cache
        + rng.normal(0, noise_mib * MIB, len(memory_t))
    )
    return memory_t, working_set, requests


def test_a_leak_of_a_few_kib_per_request_is_certain_growth() -> None:
    growth = memory_growth(*_phase(4096), start=0, end=60)
    assert growth is not None
    expected = 4096 * PER_REQUESTS
    assert growth["ci95_low_bytes_per_10k_requests"] > 16 * MIB
    assert (
        growth["ci95_low_bytes_per_10k_requests"]
        <= expected
        <= growth["ci95_high_bytes_per_10k_requests"]
    )
    assert growth["requests"] == 6000


@pytest.mark.parametrize("seed", range(5))
def test_noise_alone_is_not_growth(seed: int) -> None:
    growth = memory_growth(*_phase(0, noise_mib=2.0, seed=seed), start=0, end=60)
    assert growth is not None
    assert growth["ci95_low_bytes_per_10k_requests"] < 16 * MIB


def test_a_cache_that_fills_during_the_warm_up_and_stays_is_not_growth() -> None:
    growth = memory_growth(*_phase(0, plateau_mib=40), start=15, end=60)
    assert growth is not None
    assert growth["ci95_low_bytes_per_10k_requests"] < 16 * MIB


def test_too_little_to_fit_is_no_figure() -> None:
    memory_t, working_set, _ = _phase(0)
    assert memory_growth(memory_t, working_set, np.array([]), start=0, end=60) is None
    assert memory_growth(memory_t, working_set, np.array([1.0]), start=30, end=30) is None


def test_one_replica_of_two_is_judged_per_request_it_served() -> None:
    # The stack served 6000 requests, this replica about half: 4 KiB per request it
    # served is 8 KiB per request the stack served.
    memory_t, working_set, requests = _phase(4096)
    growth = memory_growth(memory_t, working_set / 2, requests, start=0, end=60, share=0.5)
    assert growth is not None
    assert growth["requests"] == 3000
    low, high = (
        growth["ci95_low_bytes_per_10k_requests"],
        growth["ci95_high_bytes_per_10k_requests"],
    )
    assert low <= 4096 * PER_REQUESTS <= high


def test_a_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="share must be in"):
        memory_growth(*_phase(0), start=0, end=60, share=0)


def _heap(
    leak_bytes_per_request: float, *, steps: tuple[tuple[float, float], ...] = (), seed: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """15 s at 20 requests/s, the heap snapshotted every 10 ms: a leak per request, a
    little noise (requests in flight), and ``steps`` of (time, MiB) that stay."""
    rng = np.random.default_rng(seed)
    requests = np.sort(rng.uniform(0, 15, 300))
    memory_t = np.arange(0, 15, 0.01)
    served = np.searchsorted(requests, memory_t)
    heap = 117 * MIB + served * leak_bytes_per_request + rng.normal(0, 20 * 1024, len(memory_t))
    for at, mib in steps:
        heap = heap + (memory_t >= at) * mib * MIB
    return memory_t, heap, requests


def test_a_leak_in_the_heap_is_certain_growth_per_request() -> None:
    growth = heap_growth(*_heap(4096), start=3, end=15)
    assert growth is not None
    assert growth["ci95_low_bytes_per_10k_requests"] > 16 * MIB
    low, high = (
        growth["ci95_low_bytes_per_10k_requests"],
        growth["ci95_high_bytes_per_10k_requests"],
    )
    assert low <= 4096 * PER_REQUESTS <= high
    assert growth["bins"] == 23


def test_a_step_in_the_heap_is_not_a_leak_and_a_big_free_does_not_hide_one() -> None:
    # The allocation that failed a clean A/A run: 1 MiB that stays, 6.5 s in.
    step = heap_growth(*_heap(0, steps=((9.5, 1.0),)), start=3, end=15)
    assert step is not None
    assert step["ci95_low_bytes_per_10k_requests"] < 1 * MIB
    # Least squares calls the same step certain growth.
    fitted = memory_growth(*_heap(0, steps=((9.5, 1.0),)), start=3, end=15)
    assert fitted is not None
    assert fitted["ci95_low_bytes_per_10k_requests"] > 8 * MIB
    freed = heap_growth(*_heap(4096, steps=((8.0, -30.0),)), start=3, end=15)
    assert freed is not None
    assert freed["ci95_low_bytes_per_10k_requests"] > 16 * MIB


def test_too_short_a_heap_window_is_no_figure() -> None:
    assert heap_growth(*_heap(0), start=3, end=5) is None
