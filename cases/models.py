"""The portal's records: Kore.ai streams, case templates, cases and their delivery attempts."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone

from cases import crypto

if TYPE_CHECKING:
    from cases.kore.client import StreamConfig

STREAM_SECRET_PURPOSE = "stream.client_secret"
API_CLIENT_SECRET_PURPOSE = "apiclient.secret"


class StreamQuerySet(models.QuerySet):
    def visible_to(self, user) -> StreamQuerySet:
        """Streams a user (or an API client) may see: its own, or every one for administrators."""
        from cases import roles

        return roles.within_visible_streams(self, user, stream_field="pk")


class Stream(models.Model):
    """A Kore.ai stream (bot) and the JWT app credentials used to call its case API."""

    name = models.CharField(max_length=120, unique=True)
    host = models.URLField(
        max_length=300,
        help_text="Environment URL, e.g. https://platform.kore.ai (an on-premises origin also works).",
    )
    stream_id = models.CharField(
        "Kore stream id",
        max_length=120,
        validators=[RegexValidator(r"^st-[A-Za-z0-9-]+$", "A Kore stream id looks like st-…")],
        help_text="From the bot's General Settings page, e.g. st-084d3c5e-376a-559f-9987-a012bb2b0000.",
    )
    # Required by the stream form; blank only on streams saved before Kore's look-ups needed it.
    account_id = models.CharField(
        "Account id", max_length=120, blank=True, help_text="Sent as the accountId header."
    )
    client_id = models.CharField("JWT app client id", max_length=200)
    # Only ciphertext is stored; see set_client_secret / client_secret.
    client_secret_encrypted = models.TextField(editable=False)
    bot_language = models.CharField("bot-language header", max_length=20, blank=True)
    app_language = models.CharField("app-language header", max_length=20, blank=True)
    iid = models.CharField("Iid header", max_length=120, blank=True)
    rate_limit = models.PositiveIntegerField(
        "Rate limit (requests per minute)",
        default=60,
        help_text=(
            "Kore allows 60 a minute per account; calls are paced to stay under it. Streams of one "
            "account share one budget, the lowest limit set on any of them. 0: no pacing."
        ),
    )
    is_active = models.BooleanField("Active", default=True)
    # Agents and viewers see (and agents submit to) only the streams they are members of;
    # administrators see every stream. See cases/roles.py.
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="member_streams", blank=True, verbose_name="Members"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = StreamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        # The proxy routes by Kore stream id: one active stream per id.
        constraints = [
            models.UniqueConstraint(
                fields=["stream_id"],
                condition=Q(is_active=True),
                name="unique_active_stream_id",
                violation_error_message="Another active stream already uses this Kore stream id.",
            )
        ]
        # The roles of cases/roles.py are Django groups holding these and the built-in
        # add_case / view_case / change_case permissions.
        permissions = [
            ("manage_portal", "Can manage streams, templates, API clients and users"),
            ("view_all_streams", "Can see the cases of every stream"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("stream_edit", args=[self.pk])

    def set_client_secret(self, secret: str) -> None:
        self.client_secret_encrypted = crypto.encrypt(secret, purpose=STREAM_SECRET_PURPOSE)

    @property
    def client_secret(self) -> str:
        return crypto.decrypt(self.client_secret_encrypted, purpose=STREAM_SECRET_PURPOSE)

    @property
    def has_client_secret(self) -> bool:
        return bool(self.client_secret_encrypted)

    def rate_limit_key(self) -> str:
        """Kore counts its limit per account; streams of one account share one budget."""
        return f"{self.host.lower()}|{self.account_id or self.stream_id}"

    def kore_config(self) -> StreamConfig:
        """What the Kore client needs to call this stream, secret decrypted at the last moment."""
        from cases.kore.client import StreamConfig

        extra_headers = {
            header: value
            for header, value in (
                ("bot-language", self.bot_language),
                ("app-language", self.app_language),
                ("Iid", self.iid),
            )
            if value
        }
        return StreamConfig(
            host=self.host,
            stream_id=self.stream_id,
            account_id=self.account_id,
            client_id=self.client_id,
            client_secret=self.client_secret,
            extra_headers=extra_headers,
        )


class CaseTemplateQuerySet(models.QuerySet):
    def usable(self) -> CaseTemplateQuerySet:
        """Templates cases can be created with: active, on an active stream."""
        return self.filter(is_active=True, stream__is_active=True).select_related("stream")

    def visible_to(self, user) -> CaseTemplateQuerySet:
        """Templates of the streams a user (or an API client) may see."""
        from cases import roles

        return roles.within_visible_streams(self, user)


class CaseTemplate(models.Model):
    """A Kore.ai case template (``ctm-…``), entered by administrators: Kore has no API to list them."""

    stream = models.ForeignKey(Stream, on_delete=models.PROTECT, related_name="templates")
    template_id = models.CharField(
        "Kore template id",
        max_length=120,
        validators=[RegexValidator(r"^ctm-[A-Za-z0-9-]+$", "A Kore template id looks like ctm-…")],
    )
    name = models.CharField("Display name", max_length=120)
    default_source = models.CharField(max_length=60, default="rtm")
    default_due_hours = models.PositiveIntegerField(
        "Default due time (hours)",
        default=72,
        validators=[MinValueValidator(1)],
        help_text="Used when a case form leaves the due date empty. 72 hours = 3 days.",
    )
    is_active = models.BooleanField("Active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CaseTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["stream__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "template_id"], name="unique_template_per_stream")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.stream.name})"

    def default_due_date(self):
        return timezone.now() + timedelta(hours=self.default_due_hours)


class ApiClient(models.Model):
    """A tool allowed to create and read cases through the portal's API, Kore-style: it signs an
    HS256 JWT (``appId`` = its client id) with its secret, and may use only its streams."""

    name = models.CharField(max_length=120, unique=True)
    client_id = models.CharField(max_length=64, unique=True, editable=False)
    # Only ciphertext is stored; the secret is shown once, when the client is created.
    secret_encrypted = models.TextField(editable=False)
    streams = models.ManyToManyField(Stream, related_name="api_clients", blank=True)
    is_active = models.BooleanField("Active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = crypto.encrypt(secret, purpose=API_CLIENT_SECRET_PURPOSE)

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted, purpose=API_CLIENT_SECRET_PURPOSE)

    # DRF checks these on request.user; an API client acts as an authenticated principal.
    is_authenticated = True
    is_staff = False
    is_superuser = False


class IdempotencyKey(models.Model):
    """An ``Idempotency-Key`` an API client sent with a createCase, and the case it produced."""

    api_client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    case = models.ForeignKey("Case", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_client", "key"], name="unique_idempotency_key")]

    def __str__(self) -> str:
        return f"{self.api_client} · {self.key}"


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


# Kore's status categories that mean the work is done.
CLOSED_CATEGORIES = ("resolved", "closed")
# Written once so the queries and the partial indexes on open cases use the very same condition.
OPEN_CASES = Q(state="delivered") & ~Q(status_category__in=CLOSED_CATEGORIES)


class ColumnsSQL(models.Expression):
    """A condition written in SQL around a model's columns, ``{name}`` in ``template`` for each
    column given by keyword and ``%s`` for each of ``params``.

    The columns are compiled by Django, so they carry the right table alias in a subquery too
    (the id-first page reads of cases/browse.py), where raw SQL naming "cases_case" would
    silently refer to the outer query's row. ``{table}`` stands for the table (or its alias) of
    the first column, for a column the model does not declare (PostgreSQL's ``search_words``).
    """

    output_field = models.BooleanField()

    def __init__(self, template: str, params: tuple = (), **columns: str):
        super().__init__()
        self.template, self.params = template, tuple(params)
        self.names = list(columns)
        self.columns = [models.F(column) for column in columns.values()]

    def get_source_expressions(self) -> list:
        return self.columns

    def set_source_expressions(self, expressions) -> None:
        self.columns = list(expressions)

    def as_sql(self, compiler, connection, **extra_context) -> tuple[str, list]:
        compiled = {
            name: compiler.compile(column)[0] for name, column in zip(self.names, self.columns, strict=True)
        }
        if "{table}" in self.template:
            compiled["table"] = compiler.quote_name_unless_alias(self.columns[0].alias)
        return self.template.format(**compiled), list(self.params)


class UtcDay(models.Func):
    """The UTC calendar day of a datetime column, as SQL both databases can index (their
    indexes accept only expressions that always give the same result)."""

    output_field = models.DateField()
    # SQLite stores a datetime as UTC text, "YYYY-MM-DD HH:MM:SS…".
    template = "substr(%(expressions)s, 1, 10)"

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler, connection, template="((%(expressions)s AT TIME ZONE 'UTC')::date)", **extra_context
        )


def open_cases_condition() -> ColumnsSQL:
    """OPEN_CASES with its constants written into the SQL rather than bound as parameters:
    SQLite uses a partial index only when it can see that the query's condition is the
    index's, which it cannot through ``?``."""
    closed = ", ".join(f"'{category}'" for category in CLOSED_CATEGORIES)  # constants, no user input
    return ColumnsSQL(
        "({state} = 'delivered' AND NOT ({category} IN (" + closed + ")))",
        state="state",
        category="status_category",
    )


class CaseQuerySet(models.QuerySet):
    def newest_first(self) -> CaseQuerySet:
        return self.order_by("-created_at", "-id")

    def for_list(self) -> CaseQuerySet:
        return self.select_related("stream", "template", "submitted_by")

    def search(self, q: str) -> CaseQuerySet:
        """Cases matching a search box: refId or Kore _id exactly, a requester's email or phone
        exactly, otherwise every word in the case's name or description (full-text index)."""
        from cases import browse

        return browse.search_cases(self, q)

    def filter_by(self, params) -> CaseQuerySet:
        """Cases matching validated browse filters (``BrowseForm.cleaned_data``); see cases/browse.py."""
        from cases import browse

        return browse.filter_cases(self, params)

    def open(self) -> CaseQuerySet:
        """Delivered cases Kore still works on: not in a resolved or closed status category."""
        return self.filter(open_cases_condition())

    def overdue(self, now=None) -> CaseQuerySet:
        return self.open().filter(due_date__lt=now or timezone.now())

    def visible_to(self, user) -> CaseQuerySet:
        """Cases a user (or an API client) may see: those of its streams (every stream for
        administrators); none for anyone without a role. See cases/roles.py."""
        from cases import roles

        return roles.within_visible_streams(self, user)

    def awaiting_delivery(self) -> CaseQuerySet:
        return self.filter(state__in=Case.PENDING_STATES)

    def count_by_state(self) -> dict[str, int]:
        """Every delivery state with its count, zeros included, in the lifecycle's order."""
        counts = dict(self.order_by().values_list("state").annotate(n=models.Count("id")))
        return {state: counts.get(state, 0) for state in Case.State.values}


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

    PENDING_STATES = (State.QUEUED, State.SENDING, State.RETRYING)
    CLOSED_CATEGORIES = CLOSED_CATEGORIES

    stream = models.ForeignKey(Stream, on_delete=models.PROTECT, related_name="cases")
    template = models.ForeignKey(CaseTemplate, on_delete=models.PROTECT, related_name="cases")
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    api_client = models.ForeignKey(
        ApiClient, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    created_at = models.DateTimeField("Submitted", default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The exact createCase body; every attempt sends these bytes' content unchanged.
    request_body = models.JSONField()

    # Delivery
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED, db_index=True)
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
    ref_id = models.CharField("refId", max_length=60, blank=True, db_index=True)
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

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="delivered") | Q(kore_id__isnull=False),
                name="delivered_case_has_kore_id",
            )
        ]
        # Browsing at scale (cases/browse.py): every sort is keyset-paginated on (column, id), and
        # each filter has an index that also yields the default order (newest first), so page 1
        # and page 10,000 cost the same at any size. Those filter indexes end with the stream:
        # counting the matches of someone who sees only some streams then reads the index alone
        # rather than each matching case (77 ms → 4 ms for an agent's status filter at a million
        # cases on PostgreSQL). Word search uses a full-text index created by migrations 0003
        # and 0009 (SQLite FTS5, or a GIN index on PostgreSQL's stored search_words column).
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
            # first reads a page per day instead of every case due in it (browse.due_range_days).
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
            # The dashboard's open cases by status, priority and stream come from OpenCaseCount.
        ]

    def __str__(self) -> str:
        return self.ref_id or f"Case #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("case_detail", args=[self.pk])

    @property
    def is_pending(self) -> bool:
        return self.state in self.PENDING_STATES


class OpenCaseCount(models.Model):
    """How many open cases (OPEN_CASES) share a stream, status and priority: the dashboard's
    groups without reading every open case.

    Kept by the database itself, triggers on cases_case (cases/case_counts.py), so every way of
    writing a case counts: save(), update(), bulk_create(), a delete, raw SQL. Groups that
    empty keep their row with count 0.
    """

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="+")
    status_name = models.CharField(max_length=80)
    status_category = models.CharField(max_length=40)
    priority_name = models.CharField(max_length=80)
    priority_color = models.CharField(max_length=20)
    priority_score = models.IntegerField(help_text="0 when the case has none.")
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "stream",
                    "status_name",
                    "status_category",
                    "priority_name",
                    "priority_color",
                    "priority_score",
                ],
                name="open_case_count_group",
            )
        ]

    def __str__(self) -> str:
        return f"{self.count} open: {self.status_name} / {self.priority_name} in stream {self.stream_id}"


class CreatedCount(models.Model):
    """How many cases were created in each quarter of an hour (UTC), per stream: the
    dashboard's cases per day without counting every case of the last 30 days.

    Every time zone in use today is a whole number of quarter hours from UTC, so a local day
    is a run of whole slots. Kept by triggers on cases_case, like OpenCaseCount.
    """

    SLOT = timedelta(minutes=15)

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="+")
    slot = models.DateTimeField(help_text="The start of the quarter hour (UTC).")
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["slot", "stream"], name="created_count_slot")]
        # Days of the chart for someone who sees only some streams.
        indexes = [models.Index(fields=["stream", "slot"], name="created_count_stream_slot")]

    def __str__(self) -> str:
        return f"{self.count} created from {self.slot:%Y-%m-%d %H:%M} in stream {self.stream_id}"


class OpenDueCount(models.Model):
    """How many open cases (OPEN_CASES) are due on each day (UTC), per stream: the dashboard's
    overdue count is the days before today plus today's cases due before now, without reading
    every overdue case. Kept by triggers on cases_case, like OpenCaseCount."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="+")
    day = models.DateTimeField(help_text="Midnight (UTC) of the due date.")
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "stream"], name="open_due_count_day")]

    def __str__(self) -> str:
        return f"{self.count} open due on {self.day:%Y-%m-%d} in stream {self.stream_id}"


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


class SavedViewQuerySet(models.QuerySet):
    def visible_to(self, user) -> SavedViewQuerySet:
        """A user's own views and every shared one."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(Q(owner=user) | Q(shared=True))


class SavedView(models.Model):
    """A named set of case-list filters (the list page's query string), private or shared."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=80)
    query_string = models.CharField(max_length=2000, blank=True)
    shared = models.BooleanField("Share with the team", default=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SavedViewQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_saved_view_name")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        url = reverse("case_list")
        return f"{url}?{self.query_string}" if self.query_string else url

    def can_change(self, user) -> bool:
        return self.owner_id == user.pk or user.has_perm("cases.manage_portal")


class AuditEvent(models.Model):
    """Who did what to the portal's configuration and cases. Written by ``cases.audit``;
    append-only: no page edits or deletes it, and the admin shows it read-only."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150, blank=True, help_text="Kept when the user is deleted.")
    action = models.CharField(max_length=60, db_index=True)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=60, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor_name or 'system'} {self.action} {self.target_repr}"


class SignedInSession(models.Model):
    """A session a person signed in with, so "sign out everywhere" can end them all, whatever the
    session engine. Written and removed by cases/sessions.py on sign-in and sign-out."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Session of {self.user_id} since {self.created_at:%Y-%m-%d %H:%M}"


class OIDCIdentity(models.Model):
    """A person's account at an OpenID provider, known by its issuer and subject (``sub``): the
    only pair the provider promises never to reassign, so single sign-on matches people by it,
    never by username or e-mail. Written by cases/sso/provisioning.py."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identities"
    )
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OpenID Connect identity"
        verbose_name_plural = "OpenID Connect identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="unique_oidc_identity")]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
