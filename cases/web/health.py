"""Health endpoints for load balancers and orchestrators.

``/healthz`` (liveness) answers as long as the process serves requests and touches nothing else,
so a database outage does not get every web process restarted. ``/readyz`` (readiness) checks
what a request needs: the database answers, every migration is applied, the broker accepts a
connection. Both are open without signing in; failures name the check and the error's type
only (the details go to the log), since anyone can read them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from kombu import Connection

logger = logging.getLogger(__name__)


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_migrations() -> str:
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        names = ", ".join(f"{migration.app_label}.{migration.name}" for migration, _ in pending)
        raise RuntimeError(f"{len(pending)} migration(s) not applied: {names}")
    return "ok"


def check_broker() -> str:
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem"):
        # The embedded broker is a pair of folders the worker polls.
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        for key in ("data_folder_in", "processed_folder"):
            if not Path(options[key]).is_dir():
                raise RuntimeError(f"broker folder {key} is missing")
        return "ok"
    with Connection(url, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.5, timeout=2)
    return "ok"


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
}


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process is up and serving. Touches neither the database nor the broker."""
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every check passes, 503 with each check's result otherwise."""
    results: dict[str, dict[str, str | bool]] = {}
    for name, check in CHECKS.items():
        try:
            results[name] = {"ok": True, "detail": check()}
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", never a 500
            logger.warning("readiness check %s failed: %s", name, exc)
            detail = str(exc) if name == "migrations" else type(exc).__name__
            results[name] = {"ok": False, "detail": detail}
    ready = all(result["ok"] for result in results.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503
    )
