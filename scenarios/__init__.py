"""Locust users and load shapes for the TasteMatch API (``locust -f scenarios/locustfile.py``).

Importing this package does not import Locust (which monkey-patches the process with
gevent): the user classes live in ``scenarios.users``, the shape class in ``scenarios.shapes``.
"""

from scenarios.registry import SCENARIOS, Scenario, get_scenario
from scenarios.stages import Stage, ramp, soak, spike, steady, step_ramp

__all__ = [
    "SCENARIOS",
    "Scenario",
    "Stage",
    "get_scenario",
    "ramp",
    "soak",
    "spike",
    "steady",
    "step_ramp",
]
