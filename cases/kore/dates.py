"""Kore's dates: written as ISO-8601 with milliseconds and a Z; read as ISO or epoch milliseconds
(getCases answers ``createdAt`` as ISO and ``dueDate`` as epoch ms; updateCase wants epoch ms)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def format_kore_datetime(value: datetime) -> str:
    """UTC with milliseconds and a Z, as Kore writes it: ``2026-09-04T14:15:00.000Z``."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch, as Kore's ``dueDate`` of getCases and updateCase."""
    return int(value.timestamp() * 1000)


def parse_kore_datetime(value: Any) -> datetime | None:
    """Kore writes dates as ISO-8601 strings or as epoch milliseconds; accept both."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        try:
            return datetime.fromtimestamp(float(value) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
