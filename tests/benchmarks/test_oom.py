"""The OOM reproduction's summary, from a phase entry as the gate records it."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.commands.capacity import main as capacity_main
from benchmarks.commands.oom import (
    OOM_LOAD,
    TRACED_REGRESSIONS,
    oom_markdown,
    ramp_text,
    reproduce_command,
)
from benchmarks.commands.oom import main as oom_main
from benchmarks.judge.kill import kill_report

MIB = 2**20


def _phase(*, killed: bool) -> dict[str, Any]:
    """A recorded phase: warm-up at 1 user, then steps of 1 and 2 users; a kill at 57.3 s."""
    service = {
        "cap_bytes": 1024 * MIB,
        "cgroup_peak_bytes": 1023 * MIB,
        "peak_usage_bytes": 1020 * MIB,
        "peak_working_set_bytes": 1010 * MIB,
        "oom_killed": killed,
        "oom_kill_t": 57.3 if killed else None,
        "exit_code": 137 if killed else None,
    }
    return {
        "name": "oom",
        "containers": {"service-0": service, "postgres": {"oom_killed": False}},
        "stages": [
            {"name": "warm-up", "start_t": 0, "end_t": 10, "users": 1},
            {"name": "step-1", "start_t": 10, "end_t": 50, "users": 1},
            {"name": "step-2", "start_t": 50, "end_t": 90, "users": 2},
        ],
        "timeline": {
            "users": [{"t": 1.0, "users": 1}, {"t": 51.0, "users": 2}, {"t": 58.0, "users": 2}],
            "requests": [
                {"t": 40.0, "endpoint": "GET /api/recommendations", "p95_ms": 3400.0},
                {"t": 56.0, "endpoint": "GET /api/recommendations", "p95_ms": 5100.0},
                {"t": 56.0, "endpoint": "GET /api/orders", "p95_ms": 9.0},
                {"t": 60.0, "endpoint": "GET /api/recommendations", "p95_ms": 1.0},
            ],
        },
    }


def test_the_kill_is_placed_on_the_load_timeline() -> None:
    kill = kill_report(_phase(killed=True))
    assert kill.killed
    assert kill.users == 2
    assert kill.stage_users == 2
    assert kill.p95_ms == 5100.0  # the last figure before the kill, not after
    assert kill.peak_bytes == 1023 * MIB  # the cgroup's own peak counter wins
    assert kill.line() == "OOM-killed at t=57.3s, users=2, peak=1023 MiB"


def test_no_kill_says_it_did_not_reproduce() -> None:
    kill = kill_report(_phase(killed=False))
    assert not kill.killed
    assert kill.line().startswith("NOT reproduced: service-0 was not OOM-killed")
    assert kill.to_json()["reproduced"] is False


def test_a_killed_second_replica_is_the_one_reported() -> None:
    phase = _phase(killed=False)
    phase["containers"]["service-1"] = dict(_phase(killed=True)["containers"]["service-0"])
    assert kill_report(phase).container == "service-1"


def test_the_traced_service_runs_every_regression_but_r2() -> None:
    assert sorted(TRACED_REGRESSIONS) == ["R1", "R3", "R4", "R5", "R6", "R7", "R8"]
    assert reproduce_command(baseline=False, scenario=OOM_LOAD) == "python -m benchmarks oom"
    assert reproduce_command(
        baseline=True, scenario=OOM_LOAD.with_overrides(users=3, measure_s=60)
    ) == ("python -m benchmarks oom --baseline --users 3 --measure 60")


def test_markdown_names_the_sites_and_the_command() -> None:
    kill = kill_report(_phase(killed=True))
    document = {
        "oom": {
            "kill": kill.to_json(),
            "service": "every regression but R2",
            "load": "recommendations-step-ramp",
            "reproduce": "python -m benchmarks oom",
        },
        "memray": {
            "top_allocations": [
                {
                    "location": "service/catalog.py:40 get_restaurants",
                    "bytes": 700 * MIB,
                    "count": 9,
                }
            ]
        },
    }
    text = oom_markdown(document)
    assert "**OOM-killed at t=57.3s, users=2, peak=1023 MiB**" in text
    assert "| `service/catalog.py:40 get_restaurants` | 700.0 | 9 |" in text
    assert "`python -m benchmarks oom`" in text
    document["memray"] = {"errors": ["not measured: --baseline runs without memray"]}
    assert "memray: not measured (not measured: --baseline" in oom_markdown(document)


def test_bad_input_is_named_before_anything_boots(capsys: pytest.CaptureFixture[str]) -> None:
    assert oom_main(["--users", "0"]) == 2
    assert "users must be >= 1" in capsys.readouterr().err
    assert capacity_main(["--step", "-5"]) == 2
    assert "must be > 0" in capsys.readouterr().err


def test_the_ramp_is_described_step_by_step() -> None:
    assert ramp_text(OOM_LOAD) == (
        "recommendations-step-ramp: users 1 -> 1 -> 2 -> 3 -> 4 -> 5, 40 s per step"
    )
