"""The Kore.ai simulator: Kore's case API spoken from Kore's side (core), its cases as the
documentation shows them (store, catalog), updateCase (updates), tasks (tasks), a Kore agent
working the cases (agent), the control plane (control), served over HTTP (server) or inside the
dev site (views)."""

from cases.kore.simulator.agent import KoreAgent
from cases.kore.simulator.apps_file import (
    load_apps_file,
    register_app_in_file,
    register_template_in_file,
)
from cases.kore.simulator.core import RATE_LIMIT_MESSAGE, Simulator
from cases.kore.simulator.readings import Readings
from cases.kore.simulator.responses import SimResponse

__all__ = [
    "RATE_LIMIT_MESSAGE",
    "KoreAgent",
    "Readings",
    "SimResponse",
    "Simulator",
    "load_apps_file",
    "register_app_in_file",
    "register_template_in_file",
]
