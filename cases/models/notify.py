"""What the portal tells people and tools about cases (cases/notify/ does the telling):

- ``CaseEvent``: something that happened to a case (delivered, failed for good, needs review,
  changed at Kore, made at Kore), to one of its tasks (added, changed) or to a stream's sync
  (``sync.backfilled``). Delivery, the sync and the actions write one **in the same
  transaction as the change it describes**, through ``record_case_event`` /
  ``record_case_events`` / ``record_task_event`` below: an outbox, read later by Celery tasks,
  so telling never slows or breaks the change itself. These functions are the whole of what
  they know about notifications (they may not import cases.notify);
- ``Follow``: a person follows a case (its submitter from the start; anyone who sees it);
- ``NotificationSettings``: a person's e-mail kinds, daily digest, time zone and bell mark;
- ``CaseMailMark``: when a case's followers were last mailed (at most one message per window);
- ``WebhookEndpoint``, ``WebhookMessage`` (one event for one endpoint: the webhook outbox, with
  a stable webhook-id) and ``WebhookAttempt`` (each POST and its answer: the delivery log).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.utils import timezone

from cases import crypto
from cases.models.cases import Case
from cases.models.streams import Stream

if TYPE_CHECKING:
    from cases.models.actions import CaseTask

WEBHOOK_SECRET_PURPOSE = "webhook.secret"


class CaseEvent(models.Model):
    """One thing people and tools are told about; ``data`` is a snapshot taken when it happened."""

    class Kind(models.TextChoices):
        DELIVERED = "case.delivered", "Delivered to Kore"
        FAILED = "case.failed", "Delivery failed for good"
        NEEDS_REVIEW = "case.needs_review", "Needs review"
        CHANGED = "case.changed", "Changed at Kore"
        CREATED_AT_KORE = "case.created_at_kore", "Made at Kore"
        TASK_CREATED = "task.created", "Task added"
        TASK_CHANGED = "task.changed", "Task changed"
        BACKFILLED = "sync.backfilled", "A stream's first sync (summary)"

    kind = models.CharField(max_length=40, choices=Kind.choices)
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="+")
    data = models.JSONField(default=dict)
    occurred_at = models.DateTimeField(default=timezone.now)
    # Fanned out into webhook messages, and handed to the e-mail batcher (or nobody to mail).
    dispatched = models.BooleanField(default=False)
    mailed = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The bell: a followed case's events newer than the person's mark.
            models.Index(fields=["case", "id"], name="case_event_case_id"),
            # The outbox readers walk only what they have not handled yet.
            models.Index(fields=["dispatched", "id"], name="case_event_dispatch"),
            models.Index(fields=["mailed", "case", "id"], name="case_event_mail"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


# The kinds followers may be mailed about; the others are for tools (webhooks) only.
MAILED_KINDS = {
    CaseEvent.Kind.DELIVERED,
    CaseEvent.Kind.FAILED,
    CaseEvent.Kind.NEEDS_REVIEW,
    CaseEvent.Kind.CHANGED,
    CaseEvent.Kind.TASK_CREATED,
    CaseEvent.Kind.TASK_CHANGED,
}
EVENT_FOR_STATE = {
    Case.State.DELIVERED: CaseEvent.Kind.DELIVERED,
    Case.State.FAILED: CaseEvent.Kind.FAILED,
    Case.State.NEEDS_REVIEW: CaseEvent.Kind.NEEDS_REVIEW,
}
SNAPSHOT_FIELDS = [
    "ref_id", "kore_id", "name", "state", "origin", "status_name", "status_category",
    "priority_name", "assignee_name", "due_date", "created_at", "last_error",
]  # fmt: skip


def _json_value(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def case_snapshot(case: Case, *, stream: Stream | None = None, fields: dict | None = None) -> dict:
    """The case as an event tells it (the read API's names), ``fields`` being values the row
    takes in the very transaction that records the event."""
    fields = fields or {}
    values = {name: fields.get(name, getattr(case, name)) for name in SNAPSHOT_FIELDS}
    stream = stream or case.stream
    data = {"id": case.pk, **{name: _json_value(value) for name, value in values.items()}}
    data["refId"] = data.pop("ref_id")
    data["stream"] = {"id": stream.pk, "stream_id": stream.stream_id, "name": stream.name}
    return data


def case_event(
    kind: str, case: Case, *, stream: Stream | None = None, fields: dict | None = None, **extra
) -> CaseEvent:
    """An unsaved event about ``case``: its snapshot plus ``extra`` (changes, error…)."""
    stream = stream or case.stream
    data = {"case": case_snapshot(case, stream=stream, fields=fields), **extra}
    return CaseEvent(
        kind=kind, case=case, stream=stream, data=data, mailed=kind not in MAILED_KINDS or case.pk is None
    )


def record_case_event(kind: str | None, case: Case, **kwargs) -> CaseEvent | None:
    """Record one event; call it inside the transaction that makes the change. None: no event."""
    if not kind:
        return None
    event = case_event(kind, case, **kwargs)
    event.save(force_insert=True)
    return event


def record_case_events(events: Iterable[CaseEvent]) -> None:
    CaseEvent.objects.bulk_create(list(events), batch_size=500)


def record_changes(case: Case, changes: list, *, stream: Stream) -> None:
    """A case changed at Kore: ``changes`` are its new ``CaseChange`` rows (of one answer, so of
    one source: the sync, a refresh, a read through the gateway, or the portal's own change)."""
    if changes:
        described = [
            {"field": change.field, "old": change.old_value, "new": change.new_value} for change in changes
        ]
        record_case_event(
            CaseEvent.Kind.CHANGED, case, stream=stream, changes=described, source=changes[0].source
        )


# Changes the portal itself asked for and Kore confirmed: always news, whatever the sync has read.
OWN_SOURCES = ("portal", "api")
TASK_SNAPSHOT_FIELDS = [
    "kore_id", "ref_id", "name", "state", "origin", "status_name", "status_category", "priority_name",
]  # fmt: skip


def task_snapshot(task: CaseTask, *, fields: dict | None = None) -> dict:
    """A task as an event tells it; ``fields``: values it takes in the event's transaction."""
    fields = fields or {}
    data = {"id": task.pk, **{name: fields.get(name, getattr(task, name)) for name in TASK_SNAPSHOT_FIELDS}}
    data["refId"] = data.pop("ref_id")
    return data


def record_task_event(
    kind: str, task: CaseTask, *, case: Case, stream: Stream, source: str, fields: dict | None = None, **extra
) -> CaseEvent:
    """A task added or changed (``extra``: its ``changes``), about its case: its followers and
    the case's webhook order. Call it inside the transaction that makes the change."""
    event = case_event(
        kind, case, stream=stream, task=task_snapshot(task, fields=fields), **extra, source=source
    )
    event.save(force_insert=True)
    return event


def record_backfilled(stream: Stream, *, reason: str, seen: int, new: int, changed: int) -> CaseEvent:
    """One summary instead of the events of a stream's first pass (or of a full re-read run
    before that pass completed)."""
    event = CaseEvent(
        kind=CaseEvent.Kind.BACKFILLED,
        stream=stream,
        mailed=True,
        data={
            "stream": {"id": stream.pk, "stream_id": stream.stream_id, "name": stream.name},
            "reason": reason,
            "cases_seen": seen,
            "cases_new": new,
            "cases_changed": changed,
            "cases_known": Case.objects.filter(stream=stream).count(),
        },
    )
    event.save(force_insert=True)
    return event


class Follow(models.Model):
    """A person follows a case: they are told about its events while they may see it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follows")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="follows")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "case"], name="unique_follow")]
        indexes = [models.Index(fields=["case", "user"], name="follow_case_user")]

    def __str__(self) -> str:
        return f"{self.user} follows {self.case_id}"


def follow_by_submitters(cases: Iterable[Case]) -> None:
    """Submitters follow their cases (called where cases are submitted)."""
    Follow.objects.bulk_create(
        [Follow(user_id=case.submitted_by_id, case=case) for case in cases if case.submitted_by_id],
        batch_size=500,
        ignore_conflicts=True,
    )


class NotificationSettings(models.Model):
    """What a person wants to hear: e-mail per kind, the daily digest and its time zone, and the
    bell's mark (the newest event they have seen)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings"
    )
    mail_delivered = models.BooleanField("Delivered to Kore", default=True)
    mail_failed = models.BooleanField("Delivery failed for good", default=True)
    mail_needs_review = models.BooleanField("Needs review", default=True)
    mail_changed = models.BooleanField("Status, priority or assignee changed at Kore", default=True)
    mail_tasks = models.BooleanField("Given a task, or a task's status or priority changed", default=True)
    daily_digest = models.BooleanField(
        "Daily digest of overdue cases",
        default=False,
        help_text="At 08:00 in your time zone: the unresolved cases of your streams past their due date.",
    )
    time_zone = models.CharField(max_length=64, blank=True, help_text="Empty: the portal's own.")
    last_digest_on = models.DateField(null=True, blank=True)
    read_up_to = models.BigIntegerField(default=0)

    MAIL_FIELDS = {
        CaseEvent.Kind.DELIVERED: "mail_delivered",
        CaseEvent.Kind.FAILED: "mail_failed",
        CaseEvent.Kind.NEEDS_REVIEW: "mail_needs_review",
        CaseEvent.Kind.CHANGED: "mail_changed",
        CaseEvent.Kind.TASK_CREATED: "mail_tasks",
        CaseEvent.Kind.TASK_CHANGED: "mail_tasks",
    }

    def __str__(self) -> str:
        return f"Notification settings of {self.user}"

    def wants(self, kind: str) -> bool:
        field = self.MAIL_FIELDS.get(kind)
        return bool(field and getattr(self, field))


class CaseMailMark(models.Model):
    """When a case's followers were last mailed: the next message waits out the window."""

    case = models.OneToOneField(Case, primary_key=True, on_delete=models.CASCADE, related_name="+")
    last_sent_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Case {self.case_id} mailed at {self.last_sent_at:%Y-%m-%d %H:%M}"


class WebhookEndpointQuerySet(models.QuerySet):
    def keeping_events(self) -> WebhookEndpointQuerySet:
        """The endpoints new events are queued for: those on, and those the sender switched off
        after a day of failing (their messages wait, unsent, until an administrator switches
        them on again). One an administrator switched off gets nothing new."""
        return self.filter(models.Q(is_active=True) | models.Q(switched_off_at__isnull=False))


class WebhookEndpoint(models.Model):
    """A receiver of signed event POSTs, registered by an administrator. Off is one of two
    states: switched off by the sender after a day of failing (``switched_off_at`` set: its
    events are kept for it), or by an administrator (``switched_off_at`` empty: they are not)."""

    name = models.CharField(max_length=120, unique=True)
    url = models.URLField("URL", max_length=500)
    events = models.JSONField(default=list, help_text="Event types sent here.")
    streams = models.ManyToManyField(
        Stream, related_name="webhook_endpoints", blank=True, help_text="None: every stream."
    )
    # Only ciphertext is stored; the secret (whsec_…) is shown once.
    secret_encrypted = models.TextField(editable=False)
    is_active = models.BooleanField("On", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Health: failing since the first failure after the last 2xx; switched off after a day of it.
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    switched_off_at = models.DateTimeField(null=True, blank=True)
    switched_off_reason = models.TextField(blank=True)

    objects = WebhookEndpointQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret, purpose=WEBHOOK_SECRET_PURPOSE)

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted, purpose=WEBHOOK_SECRET_PURPOSE)


def new_webhook_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class WebhookMessage(models.Model):
    """One event for one endpoint: sent until a 2xx (then never again), in order per case."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Gave up"

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    event = models.ForeignKey(CaseEvent, on_delete=models.CASCADE, related_name="webhook_messages")
    # The event's case, copied so the sender orders a case's messages without a join.
    case_id = models.BigIntegerField(null=True, blank=True)
    # The webhook-id header: the same on every attempt and on "send again".
    webhook_id = models.CharField(max_length=40, unique=True, default=new_webhook_id)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Retried until then (a day after it was made, or after "send again"), then given up.
    retry_until = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The delivery log, newest first.
            models.Index(fields=["endpoint", "id"], name="webhook_msg_endpoint"),
            # The sender: each case's oldest pending message is the one that may go, when due.
            # (State leads rather than being a partial index's condition: SQLite uses a partial
            # index only when it sees the condition's value in the SQL, never through a parameter.)
            models.Index(fields=["state", "endpoint", "case_id", "id"], name="webhook_msg_case_order"),
            models.Index(fields=["state", "endpoint", "next_attempt_at"], name="webhook_msg_due"),
        ]

    def __str__(self) -> str:
        return self.webhook_id


class WebhookAttempt(models.Model):
    """One POST of a message and the receiver's answer."""

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="attempt_log")
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    http_status = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_body = models.TextField(blank=True)

    class Meta:
        ordering = ["message", "id"]

    def __str__(self) -> str:
        return f"Attempt for {self.message_id}: {self.http_status or self.error}"
