"""Load shapes as typed stages, and the scenario registry."""

from __future__ import annotations

import pytest

from scenarios import SCENARIOS, get_scenario
from scenarios.stages import Stage, stage_at, step_ramp, total_duration


def test_steady_standard_scenario_matches_the_design() -> None:
    stages = get_scenario("standard").stages()
    assert [(s.name, s.duration_s, s.users, s.measured) for s in stages] == [
        ("warm-up", 10, 50, False),
        ("measured", 45, 50, True),
    ]


def test_overrides_replace_only_what_is_given() -> None:
    scenario = get_scenario("standard").with_overrides(users=5, measure_s=10)
    assert (scenario.users, scenario.warmup_s, scenario.measure_s) == (5, 10, 10)
    assert total_duration(scenario.stages()) == 20


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_has_valid_stages(name: str) -> None:
    scenario = SCENARIOS[name]
    stages = scenario.stages()
    assert scenario.description
    assert not stages[0].measured, "every scenario starts with an unmeasured warm-up"
    assert all(stage.measured for stage in stages[1:])
    assert max(stage.users for stage in stages) == scenario.users
    assert total_duration(stages) == pytest.approx(scenario.warmup_s + scenario.measure_s)


def test_stage_at_walks_the_stages_then_ends() -> None:
    stages = step_ramp(100, 10, 50, steps=5)
    assert stage_at(stages, 0).name == "warm-up"  # type: ignore[union-attr]
    assert stage_at(stages, 10.0).users == 20  # type: ignore[union-attr]
    assert stage_at(stages, 59.9).users == 100  # type: ignore[union-attr]
    assert stage_at(stages, 60.0) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duration_s": 0}, "duration_s must be > 0"),
        ({"users": -1}, "users must be >= 0"),
        ({"spawn_rate": 0}, "spawn_rate must be > 0"),
    ],
)
def test_invalid_stage_is_rejected(kwargs: dict[str, float], message: str) -> None:
    fields: dict[str, float] = {"duration_s": 1, "users": 1, "spawn_rate": 1} | kwargs
    with pytest.raises(ValueError, match=message):
        Stage("s", fields["duration_s"], int(fields["users"]), fields["spawn_rate"])


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown scenario 'nope' \\(known: comparison"):
        get_scenario("nope")


def test_non_positive_durations_are_rejected() -> None:
    with pytest.raises(ValueError, match="durations must be > 0"):
        get_scenario("standard").with_overrides(measure_s=0).stages()
