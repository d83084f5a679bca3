"""The simulator mounted inside the dev site at /simulator/, so a stream's host can be
``http://127.0.0.1:8000/simulator``. One simulator per process, in memory only, learning its JWT
apps from ``KORE_SIMULATOR_APPS_FILE``; its Kore agent works the cases every
``KORE_SIMULATOR_AGENT_SECONDS`` (0: never), so ``make run`` shows cases changing at "Kore". Its
control plane stays off here; a dropped connection, which a Django view cannot produce, is
answered as 502."""

from __future__ import annotations

import threading

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from cases.kore.simulator.core import Simulator

_site_simulator: Simulator | None = None
_lock = threading.Lock()


def get_site_simulator() -> Simulator:
    global _site_simulator
    with _lock:
        if _site_simulator is None:
            _site_simulator = Simulator(control=False)
            if settings.KORE_SIMULATOR_AGENT_SECONDS > 0:
                _site_simulator.start_agent(settings.KORE_SIMULATOR_AGENT_SECONDS)
    _site_simulator.sync_apps_from_file(settings.KORE_SIMULATOR_APPS_FILE)
    return _site_simulator


@csrf_exempt
@login_not_required
def simulator_endpoint(request: HttpRequest, path: str) -> HttpResponse:
    headers = dict(request.headers.items())
    result = get_site_simulator().handle(request.method, "/" + path, headers, request.body)
    if result.action == "drop":
        return HttpResponse(status=502)
    response = HttpResponse(result.body, status=result.status)
    for name, value in result.headers.items():
        response[name] = value
    return response


urlpatterns = [re_path(r"^(?P<path>.*)$", simulator_endpoint, name="simulator")]
