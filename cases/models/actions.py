"""Working cases from the portal: changes of a case or a task (updateCase, updateTask) and new
tasks (createTask), each an outbox row stored before it is sent and updated after every call,
like a case's delivery; the task templates administrators enter; and bulk changes of many cases.

The rows tell the truth: a change is *pending at Kore* (queued, sending, retrying) until Kore
answers, then *confirmed* (applied from Kore's answer), *refused* (Kore's message kept, the case
left as Kore has it), *superseded* (Kore changed the case meanwhile, so it was not sent again) or
*failed* (delivery gave up, or the credentials were refused).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cases.models.cases import Case
from cases.models.streams import ApiClient, Stream


class TaskTemplate(models.Model):
    """A Kore task template (``ttm-…``) of a stream, entered by administrators: Kore has no API
    that lists them."""

    stream = models.ForeignKey(Stream, on_delete=models.PROTECT, related_name="task_templates")
    template_id = models.CharField(
        "Kore task template id",
        max_length=120,
        validators=[RegexValidator(r"^ttm-[A-Za-z0-9-]+$", "A Kore task template id looks like ttm-…")],
    )
    name = models.CharField("Display name", max_length=120)
    default_source = models.CharField(max_length=60, default="rtm")
    is_active = models.BooleanField("Active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["stream__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "template_id"], name="unique_task_template_per_stream")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.stream.name})"


class OutboxRow(models.Model):
    """What every outbox row keeps about its delivery (see docs/gateway.md)."""

    attempt_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    # An earlier request may have done its work without an answer coming back: read Kore back
    # (getCases or getTasks) before sending again.
    lookup_required = models.BooleanField(default=False)
    # Kore's status and body of the last answer, kept for the gateway to hand back unchanged.
    http_status = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    api_client = models.ForeignKey(
        ApiClient, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class CaseTask(OutboxRow):
    """A task of a case: a createTask the portal sends (stored before it is sent, like a case),
    or a task found at Kore by the sync; its status and priority as Kore last answered them."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Retrying"
        DELIVERED = "delivered", "At Kore"
        FAILED = "failed", "Failed"
        NEEDS_REVIEW = "needs_review", "Needs review"

    PENDING_STATES = (State.QUEUED, State.SENDING, State.RETRYING)

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tasks")
    template = models.ForeignKey(
        TaskTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="tasks"
    )
    origin = models.CharField(max_length=10, choices=Case.Origin.choices, default=Case.Origin.PORTAL)
    # The exact createTask body; {} for a task made at Kore.
    request_body = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    # Kore tasks a look-up found that may be this one, when it could not decide alone.
    review_candidates = models.JSONField(default=list, blank=True)

    name = models.CharField(max_length=500)
    desc = models.TextField(blank=True)
    kore_id = models.CharField("Kore _id", max_length=120, null=True, blank=True, unique=True)
    ref_id = models.CharField("refId", max_length=60, blank=True)
    status_kore_id = models.CharField(max_length=120, blank=True)
    status_name = models.CharField(max_length=80, blank=True)
    status_category = models.CharField(max_length=40, blank=True)
    priority_kore_id = models.CharField(max_length=120, blank=True)
    priority_name = models.CharField(max_length=80, blank=True)
    priority_color = models.CharField(max_length=20, blank=True)
    kore_task = models.JSONField(null=True, blank=True, help_text="The task as Kore last answered it.")
    kore_created_at = models.DateTimeField(null=True, blank=True)
    kore_updated_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["case", "created_at", "id"]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="task_state_next"),
            models.Index(fields=["case", "created_at"], name="task_case_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="delivered") | Q(kore_id__isnull=False), name="delivered_task_has_kore_id"
            )
        ]

    def __str__(self) -> str:
        return self.ref_id or f"Task #{self.pk}"

    @property
    def is_pending(self) -> bool:
        return self.state in self.PENDING_STATES


class BulkAction(models.Model):
    """One change asked for many cases of one stream at once (the list's bulk actions); each
    case gets its own CaseAction, paced like any other."""

    stream = models.ForeignKey(Stream, on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    summary = models.CharField(max_length=300)
    total = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.summary} on {self.total} case(s)"


class CaseActionQuerySet(models.QuerySet):
    def pending(self) -> CaseActionQuerySet:
        return self.filter(state__in=CaseAction.PENDING_STATES)

    def count_by_state(self) -> dict[str, int]:
        counts = dict(self.order_by().values_list("state").annotate(n=models.Count("id")))
        return {state: counts.get(state, 0) for state in CaseAction.State.values}


class CaseAction(OutboxRow):
    """A change of a case (updateCase) or of one of its tasks (updateTask): the exact body to
    send, what it changes as people read it, and how its delivery went."""

    class Kind(models.TextChoices):
        UPDATE_CASE = "update_case", "Change of the case"
        UPDATE_TASK = "update_task", "Change of a task"

    class State(models.TextChoices):
        QUEUED = "queued", "Pending at Kore"
        SENDING = "sending", "Pending at Kore"
        RETRYING = "retrying", "Pending at Kore (retrying)"
        CONFIRMED = "confirmed", "Confirmed by Kore"
        REFUSED = "refused", "Refused by Kore"
        SUPERSEDED = "superseded", "Not sent: changed at Kore meanwhile"
        FAILED = "failed", "Failed"

    PENDING_STATES = (State.QUEUED, State.SENDING, State.RETRYING)

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="actions")
    task = models.ForeignKey(
        CaseTask, null=True, blank=True, on_delete=models.CASCADE, related_name="actions"
    )
    bulk = models.ForeignKey(
        BulkAction, null=True, blank=True, on_delete=models.SET_NULL, related_name="actions"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.UPDATE_CASE)
    # The exact body sent to updateCase/updateTask, and what it changes as people read it:
    # {"status": {"old": "Open", "new": "In Progress"}, …}.
    body = models.JSONField()
    changes = models.JSONField(default=dict, blank=True)
    # Kore's updatedAt of the case (or task) as the portal knew it when the change was asked, and
    # when it was last sent: after a lost answer, a newer one at Kore means someone changed it.
    based_on = models.DateTimeField(null=True, blank=True)
    sent_based_on = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    settled_at = models.DateTimeField(null=True, blank=True)
    # A later change of the same case was stored while this one was pending: it waits, and this
    # one sends it on when it settles. Set by the later change, so that settling a change that
    # holds nothing back asks for no next change (cases/actions/settle.py).
    holds_next = models.BooleanField(default=False)

    objects = CaseActionQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["case", "state"], name="action_case_state"),
            models.Index(fields=["state", "next_attempt_at"], name="action_state_next"),
            models.Index(fields=["bulk", "state"], name="action_bulk_state"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.case}: {self.summary}"

    @property
    def is_pending(self) -> bool:
        return self.state in self.PENDING_STATES

    @property
    def summary(self) -> str:
        """ "Status: Open → In Progress; Priority: → High"."""
        parts = []
        for field, change in (self.changes or {}).items():
            label = FIELD_LABELS.get(field, field)
            old, new = change.get("old") or "", change.get("new") or "—"
            parts.append(f"{label}: {old} → {new}" if old else f"{label}: {new}")
        return "; ".join(parts) or "No change"


FIELD_LABELS = {
    "name": "Title",
    "desc": "Description",
    "status": "Status",
    "priority": "Priority",
    "due_date": "Due date",
    "assignee": "Assignee",
}
