"""Cases: a submission to Kore.ai and the local record of the case Kore holds, the attempts made
to deliver it, the import batches that brought some of them, and how cases are read."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from cases.models.open_cases import CLOSED_CATEGORIES, OPEN_CASES, open_cases_condition
from cases.models.sql import UtcDay
from cases.models.streams import ApiClient, CaseTemplate, Stream, within_visible_streams
from cases.models.words import every_word, search_kind, search_words


class ImportBatch(models.Model):
    """A file of cases uploaded at once; its cases drain through the same outbox."""

    template = models.ForeignKey(CaseTemplate, on_delete=models.PROTECT, related_name="imports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)
    filename = models.CharField(max_length=255)
    total = models.PositiveIntegerField()
    skipped = models.PositiveIntegerField(default=0, help_text="Invalid rows left out at the user's choice.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Import of {self.filename} ({self.total} cases)"

    def get_absolute_url(self) -> str:
        return reverse("import_detail", args=[self.pk])


class CaseQuerySet(models.QuerySet):
    """Which cases: the one definition the list, the exports, the dashboard and the API share."""

    def for_list(self) -> CaseQuerySet:
        return self.select_related("stream", "template", "submitted_by")

    def visible_to(self, user) -> CaseQuerySet:
        """Cases a user (or an API client) may see: those of its streams (every stream for
        administrators); none for anyone without a role."""
        return within_visible_streams(self, user)

    def search(self, q: str) -> CaseQuerySet:
        """Cases matching a search box: refId or Kore _id exactly, a requester's email or phone
        exactly, otherwise every word in the case's name or description (full-text index)."""
        q = " ".join((q or "").split())
        if not q:
            return self
        kind = search_kind(q)
        if kind == "ref_id":
            return self.filter(ref_id=q.upper())
        if kind == "kore_id":
            return self.filter(kore_id=q)
        if kind == "email":
            return self.alias(requester_email_lower=Lower("requester_email")).filter(
                requester_email_lower=q.lower()
            )
        if kind == "phone":
            return self.filter(requester_phone=q)
        words = search_words(q)
        return self.filter(every_word(words)) if words else self.none()

    def filter_by(self, params: Mapping[str, Any]) -> CaseQuerySet:
        """Cases matching validated browse filters (``BrowseForm.cleaned_data``, see
        cases/browse/params.py): values of one filter are OR-ed, filters AND-ed, days inclusive
        in the current time zone. Search and paging are separate."""
        queryset = self
        for name, lookup in MULTI_VALUE_FILTERS.items():
            if params.get(name):
                queryset = queryset.filter(**{lookup: params[name]})
        if params.get("status"):
            queryset = queryset.filter(
                Q(status_name__in=params["status"]) | Q(status_category__in=params["status"])
            )
        for name, lookup in DAY_FILTERS.items():
            if params.get(name):
                day = params[name] + (timedelta(days=1) if lookup.endswith("__lt") else timedelta())
                queryset = queryset.filter(**{lookup: day_start(day)})
        if params.get("overdue"):
            queryset = queryset.overdue()
        # The one-click views (see BrowseForm): unassigned cases are unresolved ones too.
        if params.get("unresolved") or params.get("unassigned"):
            queryset = queryset.open()
        if params.get("unassigned"):
            queryset = queryset.filter(assignee_name="")
        if params.get("closed"):
            queryset = queryset.filter(status_category__in=CLOSED_CATEGORIES)
        return queryset

    def open(self) -> CaseQuerySet:
        """Delivered cases Kore still works on: not in a resolved or closed status category."""
        return self.filter(open_cases_condition())

    def overdue(self, now=None) -> CaseQuerySet:
        return self.open().filter(due_date__lt=now or timezone.now())

    def count_by_state(self) -> dict[str, int]:
        """Every delivery state with its count, zeros included, in the lifecycle's order."""
        counts = dict(self.order_by().values_list("state").annotate(n=models.Count("id")))
        return {state: counts.get(state, 0) for state in Case.State.values}


# Browse filters that match one column against any of the given values.
MULTI_VALUE_FILTERS = {
    "stream": "stream_id__in",
    "template": "template_id__in",
    "priority": "priority_name__in",
    "state": "state__in",
    "source": "source__in",
    "submitted_by": "submitted_by__username__in",
    "assignee": "assignee_name__in",
    "origin": "origin__in",
}
# Day filters: from the start of a day, or before the start of the day after (both inclusive).
DAY_FILTERS = {
    "created_after": "created_at__gte",
    "created_before": "created_at__lt",
    "due_after": "due_date__gte",
    "due_before": "due_date__lt",
}


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class Case(models.Model):
    """A submission to Kore.ai and, once delivered, the local record of the case Kore created.

    The row is written before any network call (state ``queued``, with the exact body to send)
    and updated after each attempt, so it always tells the truth about delivery.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Retrying"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"
        NEEDS_REVIEW = "needs_review", "Needs review"
        CANCELLED = "cancelled", "Cancelled"

    class Origin(models.TextChoices):
        PORTAL = "portal", "Portal"
        KORE = "kore", "Made at Kore"

    PENDING_STATES = (State.QUEUED, State.SENDING, State.RETRYING)

    # No index of their own on the stream, the template, the submitter, the creation time, the
    # state or the refId: each leads one of the composite indexes below, which serves it too.
    stream = models.ForeignKey(Stream, on_delete=models.PROTECT, related_name="cases", db_index=False)
    # Empty for a case made at Kore whose template the portal does not know.
    template = models.ForeignKey(
        CaseTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="cases", db_index=False
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cases",
        db_index=False,
    )
    batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    api_client = models.ForeignKey(
        ApiClient, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    # Made through the portal, or at Kore (its own screens, a bot, another channel), found by the sync.
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.PORTAL)
    # Submitted to the portal; for a case made at Kore, Kore's createdAt.
    created_at = models.DateTimeField("Created", default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # The exact createCase body; every attempt sends these bytes' content unchanged. Empty ({})
    # for a case made at Kore.
    request_body = models.JSONField()

    # Delivery
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    attempt_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sending_started_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Set when an attempt may have created the case without an answer coming back: the next
    # attempt must look the case up (getCases) before sending again.
    lookup_required = models.BooleanField(default=False)
    # Set when delivery gave up (too many attempts or too old): someone should look at it.
    is_flagged = models.BooleanField("Flagged", default=False)
    # The Kore cases a look-up found that may be this submission's, as Kore answered them: a
    # case in needs_review lists them, and a person may adopt one (cases/delivery/reconcile.py).
    review_candidates = models.JSONField(default=list, blank=True)

    # What people browse by: copied from the request, then from Kore's answer.
    name = models.CharField(max_length=500)
    desc = models.TextField(blank=True)
    source = models.CharField(max_length=60, blank=True)
    due_date = models.DateTimeField(null=True, blank=True)
    requester_id = models.CharField(max_length=200, blank=True)
    requester_name = models.CharField(max_length=200, blank=True)
    requester_email = models.CharField(max_length=254, blank=True)
    requester_phone = models.CharField(max_length=40, blank=True)

    kore_id = models.CharField("Kore _id", max_length=120, null=True, blank=True, unique=True)
    ref_id = models.CharField("refId", max_length=60, blank=True)
    status_name = models.CharField(max_length=80, blank=True)
    status_category = models.CharField(max_length=40, blank=True)
    priority_name = models.CharField(max_length=80, blank=True)
    priority_color = models.CharField(max_length=20, blank=True)
    # Kore's priority score (higher is more urgent): what sorting by priority uses.
    priority_score = models.IntegerField(null=True, blank=True)
    assignee_name = models.CharField(max_length=200, blank=True)
    kore_created_at = models.DateTimeField(null=True, blank=True)
    kore_updated_at = models.DateTimeField(null=True, blank=True)
    kore_case = models.JSONField(null=True, blank=True, help_text="The whole case as Kore returned it.")
    # Kore's own ids of the status and priority (sts-…, pr-…): what updateCase needs.
    status_kore_id = models.CharField(max_length=120, blank=True)
    priority_kore_id = models.CharField(max_length=120, blank=True)
    # When the sync last read the case at Kore, and since when Kore no longer lists it (flagged,
    # never deleted).
    kore_seen_at = models.DateTimeField(null=True, blank=True)
    kore_missing_since = models.DateTimeField(null=True, blank=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # add_case: submit cases; view_case: browse them; change_case: manage any delivery;
        # act_on_case: change cases and tasks at Kore (cases/people/roles.py).
        permissions = [("act_on_case", "Can change cases and their tasks at Kore")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="delivered") | Q(kore_id__isnull=False),
                name="delivered_case_has_kore_id",
            )
        ]
        # Browsing at scale (cases/browse/): every sort is keyset-paginated on (column, id), and
        # each filter has an index that also yields the default order (newest first), so page 1
        # and page 10,000 cost the same at any size. Those filter indexes end with the stream:
        # counting the matches of someone who sees only some streams then reads the index alone
        # rather than each matching case. Word search uses a full-text index kept outside this
        # list (cases/models/words.py: SQLite FTS5, or a GIN index on PostgreSQL's stored
        # search_words column).
        indexes = [
            models.Index(fields=["created_at", "id"], name="case_created_id"),
            models.Index(fields=["due_date", "id"], name="case_due_id"),
            models.Index(fields=["priority_score", "id"], name="case_priority_id"),
            models.Index(fields=["status_name", "id"], name="case_status_id"),
            models.Index(fields=["ref_id", "id"], name="case_ref_id"),
            models.Index(fields=["stream", "created_at", "id"], name="case_stream_created"),
            models.Index(fields=["template", "created_at", "id", "stream"], name="case_template_created"),
            models.Index(fields=["state", "created_at", "id", "stream"], name="case_state_created"),
            # The dashboard's delivery health for someone who sees only some streams.
            models.Index(fields=["state", "stream"], name="case_state_stream"),
            models.Index(fields=["status_name", "created_at", "id", "stream"], name="case_status_created"),
            models.Index(
                fields=["status_category", "created_at", "id", "stream"], name="case_category_created"
            ),
            models.Index(
                fields=["priority_name", "created_at", "id", "stream"], name="case_priority_created"
            ),
            models.Index(fields=["source", "created_at", "id", "stream"], name="case_source_created"),
            models.Index(
                fields=["submitted_by", "created_at", "id", "stream"], name="case_submitter_created"
            ),
            models.Index(
                fields=["assignee_name", "created_at", "id", "stream"], name="case_assignee_created"
            ),
            models.Index(Lower("requester_email"), name="case_requester_email"),
            models.Index(fields=["requester_phone"], name="case_requester_phone"),
            # Due-date filters show the newest first: with created_at in the index the page's
            # ids are sorted from the index alone, without reading a row per match.
            models.Index(fields=["due_date", "created_at", "id", "stream"], name="case_due_created"),
            # Newest first within each UTC due day: a due range of a few weeks shown newest
            # first reads a page per day instead of every case due in it (browse/pages.py).
            models.Index(
                UtcDay("due_date"),
                models.F("created_at"),
                models.F("id"),
                models.F("due_date"),
                models.F("stream"),
                name="case_due_day_created",
            ),
            # Open cases only (a small share of a large store). The overdue filter walks the
            # first newest first and stops at a full page; state and status_category make it
            # cover the query, without which SQLite prefers walking every delivered case
            # (case_state_created), and stream covers it for someone who sees only some
            # streams. The second serves the overdue filter sorted by due date, its count, and
            # the dashboard's overdue count (stream again for those seeing some streams).
            models.Index(
                fields=["created_at", "id", "due_date", "state", "status_category", "stream"],
                condition=OPEN_CASES,
                name="case_open_stream_newest",
            ),
            models.Index(
                fields=["due_date", "id", "stream"], condition=OPEN_CASES, name="case_open_due_stream"
            ),
            # The Unassigned view (open cases with no assignee), newest first, and its count.
            models.Index(
                fields=["assignee_name", "created_at", "id", "state", "status_category", "stream"],
                condition=OPEN_CASES,
                name="case_open_assignee_newest",
            ),
            # Cases made at Kore (origin=kore), newest first.
            models.Index(fields=["origin", "created_at", "id", "stream"], name="case_origin_created"),
            # The dashboard's open cases by status, priority and stream come from OpenCaseCount.
        ]

    def __str__(self) -> str:
        return self.ref_id or f"Case #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("case_detail", args=[self.pk])

    @property
    def is_pending(self) -> bool:
        return self.state in self.PENDING_STATES


class DeliveryAttempt(models.Model):
    """One call to Kore.ai's createCase (or a getCases look-up) made for a case."""

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", "Delivered"
        ADOPTED = "adopted", "Adopted an existing Kore case"
        REFUSED = "refused", "Refused by Kore"
        AUTH_ERROR = "auth_error", "Credentials refused"
        RATE_LIMITED = "rate_limited", "Rate limited"
        UNAVAILABLE = "unavailable", "Kore unavailable"
        TIMEOUT = "timeout", "Timed out"
        MALFORMED = "malformed", "Malformed answer"
        LOOKED_UP = "looked_up", "Looked up at Kore"
        INTERRUPTED = "interrupted", "Worker stopped mid-call"
        ERROR = "error", "Error"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    http_status = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    ambiguous = models.BooleanField(
        default=False, help_text="The request may have reached Kore without an answer coming back."
    )
    error = models.TextField(blank=True)
    # Kore's own answer to a refused call, kept so the API proxy can hand it back unchanged.
    response_body = models.TextField(blank=True)

    class Meta:
        ordering = ["case", "number"]
        constraints = [models.UniqueConstraint(fields=["case", "number"], name="unique_attempt_number")]

    def __str__(self) -> str:
        return f"Attempt {self.number} for {self.case}"


def fit_column(field_name: str, value) -> str:
    """A value for one of Case's text columns: text, cut to the column's length. What Kore or a
    caller sends keeps its whole length elsewhere (the body, the stored Kore case); lengths are
    Kore's to judge, and a long value must never make a write fail."""
    text = "" if value is None else str(value)
    limit = Case._meta.get_field(field_name).max_length
    return text[:limit] if limit else text
