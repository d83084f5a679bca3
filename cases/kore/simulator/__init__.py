"""The Kore.ai simulator: Kore's case API spoken from Kore's side (core), its cases as the
documentation shows them (store), served over HTTP (server) or inside the dev site (views)."""

from cases.kore.simulator.apps_file import (
    load_apps_file,
    register_app_in_file,
    register_template_in_file,
)
from cases.kore.simulator.core import RATE_LIMIT_MESSAGE, SimResponse, Simulator
from cases.kore.simulator.store import Readings

__all__ = [
    "RATE_LIMIT_MESSAGE",
    "Readings",
    "SimResponse",
    "Simulator",
    "load_apps_file",
    "register_app_in_file",
    "register_template_in_file",
]
