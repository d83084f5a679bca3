"""The webhook outbox: each new event becomes one message per endpoint that wants it (its type,
one of its streams) and keeps events (on, or switched off by the sender after a day of failing:
its messages wait unsent until it is switched on again; not one an administrator switched off),
in one transaction with marking the event dispatched. Events are read by their ``dispatched``
flag, not by an id cursor, so an event whose transaction commits late is never skipped. One
dispatcher at a time (a lease, cases/notify/tasks.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from cases.models import CaseEvent, WebhookEndpoint, WebhookMessage
from cases.notify import clock

BATCH = 2000


@dataclass(frozen=True)
class Route:
    endpoint_id: int
    kinds: frozenset[str]
    streams: frozenset[int] | None  # None: every stream

    def wants(self, event: dict) -> bool:
        return event["kind"] in self.kinds and (self.streams is None or event["stream_id"] in self.streams)


def routes() -> list[Route]:
    return [
        Route(
            endpoint_id=endpoint.pk,
            kinds=frozenset(endpoint.events or []),
            streams=frozenset(stream.pk for stream in endpoint.streams.all()) or None,
        )
        for endpoint in WebhookEndpoint.objects.keeping_events().prefetch_related("streams")
    ]


def events_dispatch(*, batch: int = BATCH) -> int:
    """Fan every undispatched event out; returns how many events were handled."""
    table = routes()
    handled = 0
    while True:
        events = list(
            CaseEvent.objects.filter(dispatched=False)
            .order_by("id")
            .values("id", "kind", "case_id", "stream_id")[:batch]
        )
        if not events:
            return handled
        now = clock.now()
        until = now + timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS)
        messages = [
            WebhookMessage(
                endpoint_id=route.endpoint_id,
                event_id=event["id"],
                case_id=event["case_id"],
                created_at=now,
                next_attempt_at=now,
                retry_until=until,
            )
            for event in events
            for route in table
            if route.wants(event)
        ]
        with transaction.atomic():
            WebhookMessage.objects.bulk_create(messages, batch_size=500)
            CaseEvent.objects.filter(id__in=[event["id"] for event in events]).update(dispatched=True)
        handled += len(events)
        if len(events) < batch:
            return handled
