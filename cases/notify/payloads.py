"""The JSON body each event is sent as (docs/notifications.md lists every type):
``{"type": "case.changed", "timestamp": "…Z", "data": {...}}``, the data being the snapshot the
event took when it happened, with a link to the case's page."""

from __future__ import annotations

import json
from datetime import UTC

from django.conf import settings
from django.urls import reverse

from cases.models import CaseEvent


def case_url(case_id: int) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + reverse("case_detail", args=[case_id])


def envelope(event: CaseEvent) -> dict:
    data = dict(event.data)
    if isinstance(data.get("case"), dict):
        data["case"] = {**data["case"], "url": case_url(data["case"]["id"])}
    timestamp = event.occurred_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"type": event.kind, "timestamp": timestamp, "data": data}


def body(event: CaseEvent) -> bytes:
    """The same bytes on every attempt of a message."""
    return json.dumps(envelope(event), ensure_ascii=False, separators=(",", ":")).encode()
