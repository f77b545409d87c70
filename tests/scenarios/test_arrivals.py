"""Open-model arithmetic: due times, arrivals counted by a time, pool sizes, the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.arrivals import (
    ANCHORED_MULTIPLIERS,
    LadderConfig,
    LadderPlan,
    arrivals_due,
    due_times,
    pool_size,
)

T0 = 1_800_000_000.0


def _config(**changes: object) -> LadderConfig:
    fields: dict[str, object] = {
        "path": "/health/live",
        "name": "/health/live",
        "step_s": 15.0,
        "settle_s": 3.0,
        "accounts": 1,
        "min_pool": 8,
    }
    fields.update(changes)
    return LadderConfig(**fields)  # type: ignore[arg-type]


def test_arrivals_are_due_at_fixed_intervals_from_the_step_start() -> None:
    assert due_times(10.0, 4.0, 1.0) == [10.0, 10.25, 10.5, 10.75]
    # 0.3/s for 40 s is 12 arrivals, although 0.3 * 40 is a hair above 12 in floating point.
    assert len(due_times(0.0, 0.3, 40.0)) == 12
    assert arrivals_due(0.3, 40.0, 40.0) == 12


def test_arrivals_due_count_those_strictly_before_the_time() -> None:
    assert arrivals_due(4.0, 0.0, 1.0) == 0
    assert arrivals_due(4.0, 0.25, 1.0) == 1  # only k = 0: k = 1 is due at 0.25 exactly
    assert arrivals_due(4.0, 0.26, 1.0) == 2
    assert arrivals_due(4.0, 5.0, 1.0) == 4  # never more than the step holds


def test_the_pool_follows_littles_law_with_a_floor() -> None:
    assert pool_size(400.0, minimum=8) == 100
    assert pool_size(10.0, minimum=8) == 8
    assert pool_size(0.1, minimum=2) == 2
    with pytest.raises(ValueError, match="rate must be > 0"):
        pool_size(0.0, minimum=1)


def test_an_anchored_ladder_multiplies_the_warm_up_throughput() -> None:
    plan = LadderPlan.build(_config(), x0=400.0, start=T0)

    assert [step.rate for step in plan.steps] == [round(400.0 * m, 3) for m in ANCHORED_MULTIPLIERS]
    assert plan.steps[0].start == T0
    assert plan.steps[1].start == T0 + 15.0
    assert plan.steps[0].measured_start == T0 + 3.0
    assert plan.steps[0].arrivals == 3000
    assert plan.step_at(T0 + 15.0) == plan.steps[1]
    assert plan.step_at(T0 - 1) is None
    assert plan.arrivals_due_by(T0 + 16.0) == 3000 + 280


def test_fixed_rates_need_no_warm_up_and_bad_ladders_are_refused() -> None:
    plan = LadderPlan.build(_config(rates=(0.1, 0.2)), x0=None, start=T0)
    assert [step.rate for step in plan.steps] == [0.1, 0.2]
    with pytest.raises(ValueError, match="measured no throughput"):
        LadderPlan.build(_config(), x0=0.0, start=T0)
    with pytest.raises(ValueError, match="longer than its settling time"):
        _config(step_s=3.0)
    with pytest.raises(ValueError, match="must be > 0"):
        _config(rates=(0.1, -1.0))


def test_config_and_plan_survive_their_files(tmp_path: Path) -> None:
    config = _config(rates=(0.5, 1.0))
    assert LadderConfig.from_json(config.to_json()) == config
    plan = LadderPlan.build(config, x0=None, start=T0)
    assert LadderPlan.read(tmp_path / "ladder.json") is None
    plan.write(tmp_path / "ladder.json")
    assert LadderPlan.read(tmp_path / "ladder.json") == plan
