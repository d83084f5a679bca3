"""Sending webhook messages: at least once, never again after a 2xx, in order per case.

A round takes each case's oldest pending message when it is due (a case's later messages wait
behind it, other cases do not), POSTs them side by side (``WEBHOOK_CONCURRENCY`` threads, which
touch only the network; the database is written by the caller's thread), then records every
attempt in the delivery log and moves each message on: delivered, retried after a backoff with
jitter, or given up once its ``retry_until`` (a day, ``WEBHOOK_RETRY_FOR_SECONDS``) has passed,
after which the case's next message may go. An endpoint whose POSTs keep failing is probed with
one message a round until it answers again, and is switched off, with a notice to the
administrators, after ``WEBHOOK_SWITCH_OFF_AFTER_SECONDS`` without a 2xx. One sender per
endpoint at a time (a lease, cases/notify/tasks.py).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef

from cases.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from cases.notify import clock, payloads, signing, transport
from cases.notify.mail import tell_administrators
from cases.sync.lease import LeaseLost

logger = logging.getLogger(__name__)
State = WebhookMessage.State
# After this many failed POSTs in a row an endpoint gets one message a round, until one passes.
PROBE_AFTER = 10
# Seconds between renewals of the sender's lease while a round's answers come in.
RENEW_EVERY = 10.0

_pool: ThreadPoolExecutor | None = None


def pool() -> ThreadPoolExecutor:
    """One pool per process: its threads keep their connections to receivers between rounds."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=settings.WEBHOOK_CONCURRENCY, thread_name_prefix="webhook")
    return _pool


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter (a random point in the upper half), capped."""
    ceiling = min(
        settings.WEBHOOK_RETRY_MAX_SECONDS, settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempts - 1)
    )
    return random.uniform(ceiling / 2, ceiling)


def due_heads(endpoint_id: int, now: datetime, limit: int) -> list[WebhookMessage]:
    """Each case's oldest pending message, when it is due, oldest first."""
    earlier = WebhookMessage.objects.filter(
        state=State.PENDING,
        endpoint_id=OuterRef("endpoint_id"),
        case_id=OuterRef("case_id"),
        id__lt=OuterRef("id"),
    )
    return list(
        WebhookMessage.objects.filter(state=State.PENDING, endpoint_id=endpoint_id, next_attempt_at__lte=now)
        .filter(~Exists(earlier))
        .select_related("event")
        .order_by("id")[:limit]
    )


def endpoints_due(now: datetime | None = None) -> list[int]:
    """Switched-on endpoints with a message due."""
    now = now or clock.now()
    due = WebhookMessage.objects.filter(
        endpoint=OuterRef("pk"), state=State.PENDING, next_attempt_at__lte=now
    )
    return list(
        WebhookEndpoint.objects.filter(is_active=True).filter(Exists(due)).values_list("pk", flat=True)
    )


def _post(url: str, key: bytes, message: WebhookMessage) -> transport.Answer:
    body = payloads.body(message.event)
    return transport.post(url, body, signing.signed_headers(key, message.webhook_id, body))


@dataclass
class SendRun:
    """What one run of an endpoint's sender did."""

    rounds: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    gave_up: int = 0
    switched_off: bool = False
    statuses: Counter = field(default_factory=Counter)


def endpoint_send(endpoint_id: int, *, budget_seconds: float | None = None, renew=None) -> SendRun:
    """Send what is due for one endpoint, round after round, for at most ``budget_seconds``.
    ``renew`` keeps the caller's lease. When it raises (the lease was lost), the answers already
    in are recorded first, so a message a receiver accepted is never sent again; the POSTs not
    yet started are called off, and the round's other messages are sent again by the new
    holder (at least once)."""
    run = SendRun()
    budget = settings.WEBHOOK_RUN_SECONDS if budget_seconds is None else budget_seconds
    started = time.monotonic()
    key = None
    while time.monotonic() - started < budget:
        endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).first()
        if endpoint is None:
            break
        key = key or signing.secret_key(endpoint.secret)
        probing = endpoint.consecutive_failures >= PROBE_AFTER
        now = clock.now()
        heads = due_heads(endpoint.pk, now, 1 if probing else settings.WEBHOOK_BATCH)
        if not heads:
            break
        posts = [pool().submit(_post, endpoint.url, key, message) for message in heads]
        try:
            wait_for_answers(posts, renew)
        except LeaseLost:
            answered, answers = answers_in(heads, posts)
            if answered:
                record_round(endpoint, answered, answers, now=now, run=run)
            raise
        passed = record_round(endpoint, heads, [post.result() for post in posts], now=now, run=run)
        run.rounds += 1
        if renew is not None:
            renew()
        if run.switched_off or (probing and not passed):
            break  # a probe that failed: the next tick tries again
    return run


def wait_for_answers(posts: list[Future], renew) -> None:
    """Wait for a round's POSTs, renewing the lease along the way: a round of slow receivers
    can outlast it."""
    renewed = time.monotonic()
    for post in posts:
        post.result()
        if renew is not None and time.monotonic() - renewed > RENEW_EVERY:
            renew()
            renewed = time.monotonic()


def answers_in(
    heads: list[WebhookMessage], posts: list[Future]
) -> tuple[list[WebhookMessage], list[transport.Answer]]:
    """The messages whose POST has been answered, and the answers; the POSTs not started yet are
    called off (one in flight goes on regardless: its message is sent again, at least once)."""
    for post in posts:
        post.cancel()
    answered = [(m, p) for m, p in zip(heads, posts, strict=True) if p.done() and not p.cancelled()]
    return [m for m, _ in answered], [p.result() for _, p in answered]


def record_round(
    endpoint: WebhookEndpoint,
    heads: list[WebhookMessage],
    answers: list[transport.Answer],
    *,
    now,
    run: SendRun,
) -> bool:
    """Write a round's attempts, each message's new state and the endpoint's health; True when
    any POST passed."""
    attempts, delivered, retried = [], Counter(), []
    for message, answer in zip(heads, answers, strict=True):
        attempts.append(
            WebhookAttempt(
                message=message,
                started_at=now,
                duration_ms=answer.duration_ms,
                http_status=answer.status,
                error=answer.error[:2000],
                response_body=answer.text,
            )
        )
        run.statuses[answer.status or "no answer"] += 1
        if answer.ok:
            delivered[answer.status] += 1
            message.state = State.DELIVERED
            continue
        message.attempts += 1
        message.last_status, message.last_error = answer.status, answer.error[:2000]
        if now >= message.retry_until:
            message.state = State.FAILED
            run.gave_up += 1
        else:
            message.next_attempt_at = now + timedelta(seconds=retry_delay(message.attempts))
        retried.append(message)
    passed = bool(delivered)
    with transaction.atomic():
        WebhookAttempt.objects.bulk_create(attempts)
        for status in delivered:
            ids = [m.pk for m, a in zip(heads, answers, strict=True) if a.ok and a.status == status]
            WebhookMessage.objects.filter(pk__in=ids).update(
                state=State.DELIVERED,
                attempts=F("attempts") + 1,
                delivered_at=now,
                last_status=status,
                last_error="",
            )
        # A message is only ever moved on from pending: if another sender recorded it meanwhile
        # (after a lost lease), its record stands, and a 2xx is never undone into a retry.
        still_pending = set(
            WebhookMessage.objects.select_for_update()
            .filter(pk__in=[m.pk for m in retried], state=State.PENDING)
            .values_list("pk", flat=True)
        )
        WebhookMessage.objects.bulk_update(
            [m for m in retried if m.pk in still_pending],
            ["state", "attempts", "next_attempt_at", "last_status", "last_error"],
        )
        health = (
            {"failing_since": None, "consecutive_failures": 0, "last_success_at": now, "last_error": ""}
            if passed
            else {
                "failing_since": endpoint.failing_since or now,
                "consecutive_failures": endpoint.consecutive_failures + len(retried),
                "last_error": retried[-1].last_error,
            }
        )
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**health)
    run.delivered += sum(delivered.values())
    run.failed_attempts += len(retried)
    failing_since = health["failing_since"]
    after = timedelta(seconds=settings.WEBHOOK_SWITCH_OFF_AFTER_SECONDS)
    if failing_since is not None and now - failing_since >= after:
        run.switched_off = switch_off(
            endpoint, failing_since=failing_since, last_error=health["last_error"], now=now
        )
    return passed


def switch_off(endpoint: WebhookEndpoint, *, failing_since: datetime, last_error: str, now: datetime) -> bool:
    """After a day without a 2xx: off, with the reason kept for its page, and administrators told.
    Its pending messages stay, and its new events are queued too (cases/notify/dispatch.py);
    nothing is sent until it is switched on again, when they go in order per case."""
    reason = (
        f"Switched off on {now:%Y-%m-%d %H:%M} UTC: no POST has passed since "
        f"{failing_since:%Y-%m-%d %H:%M} UTC (last: {last_error or 'no answer'}). Nothing is sent "
        "while it is off, but its events are kept: those waiting and every new one. Fix the "
        "receiver, then switch it on again: they go in order per case, each with a fresh day of "
        "retries."
    )
    if not WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
        is_active=False, switched_off_at=now, switched_off_reason=reason
    ):
        return False
    logger.warning("webhook endpoint %s switched off: %s", endpoint.name, reason)
    tell_administrators(
        subject=f"Webhook endpoint “{endpoint.name}” switched off", text=reason, endpoint=endpoint
    )
    return True
