"""The clock that retries, the give-up age, switching off, mail windows and the digest read.

One function, looked up at each call (``clock.now()``), so that a benchmark or a test can run
an hour of a receiver's outage in seconds by replacing it. The ``webhook-timestamp`` header is
the real time of sending, never this clock: receivers compare it with their own.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
