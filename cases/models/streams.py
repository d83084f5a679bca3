"""Kore.ai streams, their case templates, and the API clients allowed to use them; and the one
rule of who sees which stream (``visible_streams``), which every read of cases goes through."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from cases import crypto
from cases.kore.client import StreamConfig

STREAM_SECRET_PURPOSE = "stream.client_secret"
API_CLIENT_SECRET_PURPOSE = "apiclient.secret"
# The permissions the visibility rule reads (the roles that hold them: cases/people/roles.py).
VIEW_ALL_STREAMS = "cases.view_all_streams"
BROWSE_CASES = "cases.view_case"


class StreamQuerySet(models.QuerySet):
    def visible_to(self, user) -> StreamQuerySet:
        """Streams a user (or an API client) may see: its own, or every one for administrators."""
        return within_visible_streams(self, user, stream_field="pk")


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
        return within_visible_streams(self, user)


class CaseTemplate(models.Model):
    """A Kore.ai case template (``ctm-…``), entered by administrators: Kore has no API to list them."""

    stream = models.ForeignKey(Stream, on_delete=models.PROTECT, related_name="templates")
    template_id = models.CharField(
        "Kore template id",
        max_length=120,
        validators=[RegexValidator(r"^ctm-[A-Za-z0-9-]+$", "A Kore template id looks like ctm-…")],
    )
    name = models.CharField("Display name", max_length=120)
    # Kore's own name for the template: its answers carry that as ``caseTmp``, not the id, and an
    # administrator's display name may differ. Learnt from createCase answers (note_kore_name),
    # so that a look-up after a lost answer recognises the case by it.
    kore_name = models.CharField("Name at Kore", max_length=120, blank=True, editable=False)
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

    def note_kore_name(self, answered: object) -> None:
        """Keep the ``caseTmp`` of a createCase answer as Kore's name for the template (written
        only when it changes; an answer that echoes the id teaches nothing)."""
        name = answered.strip()[:120] if isinstance(answered, str) else ""
        if name and name != self.template_id and name != self.kore_name:
            type(self).objects.filter(pk=self.pk).update(kore_name=name)
            self.kore_name = name


# The six case endpoints of Kore the gateway serves under Kore's own paths.
KORE_ENDPOINTS = ("createCase", "getCases", "updateCase", "createTask", "getTasks", "updateTask")
READ_ENDPOINTS = ("getCases", "getTasks")
# What a client made before the gateway served all six may do: what it could then.
LEGACY_ENDPOINTS = ("createCase", "getCases", "getTasks")


def all_endpoints() -> list[str]:
    return list(KORE_ENDPOINTS)


class ApiClient(models.Model):
    """A tool allowed to use the portal's gateway and read API, Kore-style: it signs an HS256 JWT
    (``appId`` = its client id) with its secret, may use only its streams and only the Kore
    endpoints it was given, and shares the account's rate limit with the others by its weight."""

    name = models.CharField(max_length=120, unique=True)
    client_id = models.CharField(max_length=64, unique=True, editable=False)
    # Only ciphertext is stored; the secret is shown once, when the client is created.
    secret_encrypted = models.TextField(editable=False)
    streams = models.ManyToManyField(Stream, related_name="api_clients", blank=True)
    is_active = models.BooleanField("Active", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The Kore endpoints it may call (KORE_ENDPOINTS); the read API goes with getCases.
    endpoints = models.JSONField(default=all_endpoints, blank=True)
    weight = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="Its share of the rate limit against the other API clients waiting "
        "(2: twice as many calls).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def may_call(self, endpoint: str) -> bool:
        return endpoint in (self.endpoints or [])

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
    """An ``Idempotency-Key`` an API client sent with a write, and what it produced: the case of a
    createCase, the change of an updateCase or updateTask, the task of a createTask."""

    api_client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    case = models.ForeignKey("Case", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    action = models.ForeignKey(
        "CaseAction", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    task = models.ForeignKey("CaseTask", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_client", "key"], name="unique_idempotency_key")]

    def __str__(self) -> str:
        return f"{self.api_client} · {self.key}"


def visible_streams(principal):
    """The streams a principal may see, as a queryset (used as a subquery, so it costs no query
    of its own), or None for every stream.

    An API client sees the streams it was given; a person with ``view_all_streams`` sees all;
    anyone else with ``view_case`` sees the streams they are a member of; everyone else, none.
    """
    if isinstance(principal, ApiClient):
        return Stream.objects.filter(api_clients=principal) if principal.pk else Stream.objects.none()
    if not getattr(principal, "is_authenticated", False):
        return Stream.objects.none()
    if principal.has_perm(VIEW_ALL_STREAMS):
        return None
    if principal.has_perm(BROWSE_CASES):
        return Stream.objects.filter(members=principal)
    return Stream.objects.none()


def within_visible_streams(queryset, principal, *, stream_field: str = "stream"):
    """``queryset`` limited to the rows of the streams ``principal`` may see (``stream_field``
    names the row's stream): unchanged for administrators, empty for someone without a role."""
    streams = visible_streams(principal)
    if streams is None:
        return queryset
    if streams.query.is_empty():
        return queryset.none()
    return queryset.filter(**{f"{stream_field}__in": streams.values("pk")})


def sees_every_stream(principal) -> bool:
    return visible_streams(principal) is None
