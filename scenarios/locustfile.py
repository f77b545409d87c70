"""TasteMatch load test: ``locust -f scenarios/locustfile.py --host http://127.0.0.1:8000``.

Without ``TASTEMATCH_SCENARIO`` the web UI (or ``--headless -u N -r R -t T``)
chooses users freely among the diner classes. With ``TASTEMATCH_SCENARIO=<name>``
(see ``scenarios.SCENARIOS``) the scenario's load shape drives the test;
``TASTEMATCH_USERS``, ``TASTEMATCH_WARMUP_S`` and ``TASTEMATCH_MEASURE_S``
override its defaults; name the scenario's user classes on the command line
(``Scenario.user_classes``), as the gate does. ``--samples-dir DIR`` records
every request exactly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from scenarios import recording  # noqa: F401  (registers the sample and exit-code listeners)
from scenarios.accounts import use_stream
from scenarios.protocol import MEASURE_ENV, SCENARIO_ENV, USERS_ENV, WARMUP_ENV
from scenarios.registry import get_scenario
from scenarios.shapes import StagedShape
from scenarios.stages import Stage
from scenarios.users import (
    DinerUser,
    NewDinerUser,
    OrderingDinerUser,
    RecommendationsUser,
    SaturatingUser,
    SimulatorUser,
)

__all__ = [
    "DinerUser",
    "NewDinerUser",
    "OrderingDinerUser",
    "RecommendationsUser",
    "SaturatingUser",
    "SimulatorUser",
]


def _optional_float(variable: str) -> float | None:
    value = os.environ.get(variable)
    return float(value) if value else None


def _scenario_stages(name: str) -> tuple[Stage, ...]:
    try:
        users = os.environ.get(USERS_ENV)
        scenario = get_scenario(name).with_overrides(
            users=int(users) if users else None,
            warmup_s=_optional_float(WARMUP_ENV),
            measure_s=_optional_float(MEASURE_ENV),
        )
        return scenario.stages()
    except (KeyError, ValueError) as error:
        # This file is Locust's entry script: name the bad setting, not a traceback.
        raise SystemExit(f"locustfile: {error.args[0] if error.args else error}") from None


_SCENARIO_NAME = os.environ.get(SCENARIO_ENV, "")

if _SCENARIO_NAME:

    class ScenarioShape(StagedShape):
        """The load shape of the scenario named by ``TASTEMATCH_SCENARIO``."""

        stages = _scenario_stages(_SCENARIO_NAME)


def _account_stream(environment: Environment, **_: Any) -> None:
    # Forked workers share the master's picker state: give each one accounts of its own.
    runner = environment.runner
    if isinstance(runner, WorkerRunner) and runner.worker_index >= 0:
        use_stream(runner.worker_index)


def _listen(hook: Any, handler: Callable[..., None]) -> None:
    hook.add_listener(handler)


_listen(events.test_start, _account_stream)
