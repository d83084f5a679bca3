"""Keeping the delivery log and the events for ``NOTIFY_KEEP_DAYS``: older messages that are
settled (delivered or given up) go with their attempts, and so do older events that every
reader has handled and no pending message still needs."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef

from cases.models import CaseEvent, WebhookMessage
from cases.notify import clock

BATCH = 5000


def prune() -> int:
    before = clock.now() - timedelta(days=settings.NOTIFY_KEEP_DAYS)
    removed = 0
    settled = WebhookMessage.objects.filter(created_at__lt=before).exclude(state=WebhookMessage.State.PENDING)
    while ids := list(settled.values_list("pk", flat=True)[:BATCH]):
        removed += WebhookMessage.objects.filter(pk__in=ids).delete()[0]
    pending = WebhookMessage.objects.filter(event=OuterRef("pk"))
    old = CaseEvent.objects.filter(occurred_at__lt=before, dispatched=True, mailed=True).filter(
        ~Exists(pending)
    )
    while ids := list(old.values_list("pk", flat=True)[:BATCH]):
        removed += CaseEvent.objects.filter(pk__in=ids).delete()[0]
    return removed
