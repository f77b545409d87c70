"""Deltas of the service's Prometheus metrics over a window, summed across replicas."""

from __future__ import annotations

import pytest

from benchmarks.measure.metrics import (
    Snapshot,
    cache_figures,
    parse_exposition,
    pool_capacity_per_replica,
    sql_figures,
)
from benchmarks.measure.micro import parse_benchmark_json


def _exposition(hits: int, misses: int, one_statement: int, four_statements: int) -> str:
    total = one_statement + four_statements
    statements = one_statement + 4 * four_statements
    buckets = "\n".join(
        f'tastematch_sql_statements_per_request_bucket{{cache="miss",le="{le}",'
        f'route="/api/recommendations"}} {count}'
        for le, count in (
            ("0.0", 0),
            ("1.0", one_statement),
            ("2.0", one_statement),
            ("3.0", one_statement),
            ("4.0", total),
            ("5.0", total),
            ("+Inf", total),
        )
    )
    return f"""# HELP tastematch_cache_requests_total Cache look-ups
# TYPE tastematch_cache_requests_total counter
tastematch_cache_requests_total{{cache="recommendations",outcome="hit"}} {hits}
tastematch_cache_requests_total{{cache="recommendations",outcome="miss"}} {misses}
# HELP tastematch_sql_statements_per_request SQL statements
# TYPE tastematch_sql_statements_per_request histogram
{buckets}
tastematch_sql_statements_per_request_count{{cache="miss",route="/api/recommendations"}} {total}
tastematch_sql_statements_per_request_sum{{cache="miss",route="/api/recommendations"}} {statements}
"""


def _snapshot(t: float, *texts: str) -> Snapshot:
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for text in texts:  # two replicas' expositions add up
        for key, value in parse_exposition(text).items():
            values[key] = values.get(key, 0.0) + value
    return Snapshot(t, values)


def test_cache_hit_rate_is_a_delta_over_the_window() -> None:
    before = _snapshot(0, _exposition(100, 100, 0, 0))
    after = _snapshot(60, _exposition(190, 110, 0, 0))
    figures = cache_figures(before, after)["recommendations"]
    assert (figures["hits"], figures["misses"], figures["hit_rate"]) == (90, 10, 0.9)


def test_replicas_are_summed() -> None:
    before = _snapshot(0, _exposition(0, 0, 0, 0), _exposition(0, 0, 0, 0))
    after = _snapshot(1, _exposition(5, 5, 0, 0), _exposition(3, 7, 0, 0))
    assert cache_figures(before, after)["recommendations"]["hit_rate"] == pytest.approx(0.4)


def _pool(capacity: float) -> str:
    return f"""# HELP tastematch_db_pool_capacity Connections the pool may open
# TYPE tastematch_db_pool_capacity gauge
tastematch_db_pool_capacity {capacity}
"""


def test_pool_capacity_is_per_replica_and_needs_every_replica() -> None:
    # Two replicas: one optimised (4), one with R2's two workers of 5 + 10 (30).
    both = _snapshot(1, _pool(4), _pool(30))
    assert pool_capacity_per_replica(both, replicas=2) == 17
    assert pool_capacity_per_replica(_snapshot(1, _pool(4)), replicas=1) == 4
    # A replica that did not answer, or a service without the gauge: no figure.
    missed = Snapshot(1, both.values, ("http://127.0.0.1:1: ConnectError",))
    assert pool_capacity_per_replica(missed, replicas=2) is None
    assert pool_capacity_per_replica(_snapshot(1, _exposition(1, 1, 0, 0)), replicas=1) is None


def test_statements_per_request_mean_and_reached_bucket() -> None:
    before = _snapshot(0, _exposition(0, 0, 5, 0))
    after = _snapshot(1, _exposition(0, 0, 8, 2))
    figures = sql_figures(before, after)["/api/recommendations"]["miss"]
    assert figures["count"] == 5
    assert figures["mean"] == pytest.approx((3 * 1 + 2 * 4) / 5)
    assert figures["max"] == 4.0


def test_benchmark_json_becomes_microbenchmark_entries() -> None:
    data = {
        "benchmarks": [
            {
                "name": "test_rank",
                "group": "scoring",
                "extra_info": {"description": "rank"},
                "stats": {
                    "mean": 0.002,
                    "median": 0.0019,
                    "stddev": 0.0001,
                    "min": 0.0018,
                    "max": 0.003,
                    "rounds": 200,
                },
            }
        ]
    }
    assert parse_benchmark_json(data) == [
        {
            "name": "test_rank",
            "group": "scoring",
            "description": "rank",
            "mean_s": 0.002,
            "median_s": 0.0019,
            "stddev_s": 0.0001,
            "min_s": 0.0018,
            "max_s": 0.003,
            "rounds": 200,
        }
    ]


def _writers(this_replica: int, another_replica: int) -> str:
    name = "tastematch_cache_hits_by_writer_total"
    return (
        f"# HELP {name} Cache hits by writer\n# TYPE {name} counter\n"
        f'{name}{{cache="recommendations",writer="this-replica"}} {this_replica}\n'
        f'{name}{{cache="recommendations",writer="another-replica"}} {another_replica}\n'
    )


def test_cross_replica_hit_share_is_the_share_of_hits_another_replica_wrote() -> None:
    before = _snapshot(0, _exposition(0, 0, 0, 0), _writers(10, 10), _writers(0, 0))
    after = _snapshot(
        60, _exposition(50, 10, 0, 0), _writers(30, 40), _writers(10, 20)
    )  # window: 30 own hits, 50 another replica's
    figures = cache_figures(before, after)["recommendations"]
    assert figures["cross_replica_hits"] == 50
    assert figures["cross_replica_hit_share"] == pytest.approx(50 / 80)


def test_cross_replica_hit_share_is_unknown_without_signed_hits() -> None:
    before = _snapshot(0, _exposition(0, 0, 0, 0))
    after = _snapshot(1, _exposition(5, 5, 0, 0))
    figures = cache_figures(before, after)["recommendations"]
    assert figures["cross_replica_hit_share"] is None
