"""``locust -f scenarios/locustfile.py`` loads, by hand as the gate runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios import SCENARIOS

LOCUSTFILE = Path(__file__).resolve().parents[2] / "scenarios" / "locustfile.py"


def _locust_list(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--list"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **extra_env},
        check=False,
    )


def _list_user_classes(extra_env: dict[str, str]) -> str:
    completed = _locust_list(extra_env)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_plain_locustfile_offers_every_user_class() -> None:
    listed = _list_user_classes({})
    for name in {name for scenario in SCENARIOS.values() for name in scenario.user_classes}:
        assert name in listed


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_loads_its_shape(name: str) -> None:
    assert "DinerUser" in _list_user_classes({"TASTEMATCH_SCENARIO": name, "TASTEMATCH_USERS": "3"})


def test_unknown_scenario_is_named() -> None:
    completed = _locust_list({"TASTEMATCH_SCENARIO": "nope"})
    assert completed.returncode != 0
    assert "unknown scenario 'nope'" in completed.stderr
