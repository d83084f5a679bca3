"""Django admin for every model. Secrets never show: only the write-only form field exists."""

from django.contrib import admin

from cases.models import (
    ApiClient,
    AuditEvent,
    BulkAction,
    Case,
    CaseAction,
    CaseChange,
    CaseEvent,
    CaseMailMark,
    CaseTask,
    CaseTemplate,
    CreatedCount,
    DeliveryAttempt,
    Follow,
    IdempotencyKey,
    ImportBatch,
    KoreAssignee,
    KorePriority,
    KoreStatus,
    NotificationSettings,
    OIDCIdentity,
    OpenCaseCount,
    OpenDueCount,
    SavedView,
    SignedInSession,
    Stream,
    StreamSync,
    SyncLease,
    TaskTemplate,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)
from cases.people.audit import audit_record
from cases.web.configuration_forms import StreamForm


class AuditedAdmin(admin.ModelAdmin):
    """Configuration changed in the admin lands in the portal's audit trail too, as on its pages."""

    def _audit(self, request, obj, verb: str) -> None:
        audit_record(
            request=request, action=f"{obj._meta.model_name}.{verb}", target=obj, details={"via": "admin"}
        )

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "created")
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(request, obj, "changed")
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "deleted")
        return super().log_deletions(request, queryset)


@admin.register(Stream)
class StreamAdmin(AuditedAdmin):
    form = StreamForm
    list_display = ["name", "host", "stream_id", "account_id", "is_active", "rate_limit"]
    list_filter = ["is_active"]
    search_fields = ["name", "stream_id", "host"]


@admin.register(CaseTemplate)
class CaseTemplateAdmin(AuditedAdmin):
    list_display = ["name", "template_id", "stream", "default_source", "default_due_hours", "is_active"]
    list_filter = ["is_active", "stream"]
    search_fields = ["name", "template_id"]


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "started_at", "duration_ms", "http_status", "outcome", "ambiguous", "error"]


@admin.register(Case)
class CaseAdmin(admin.ModelAdmin):
    list_display = ["id", "ref_id", "name", "state", "status_name", "priority_name", "stream", "created_at"]
    list_filter = ["state", "stream", "is_flagged"]
    search_fields = ["ref_id", "kore_id", "name", "requester_email"]
    list_select_related = ["stream"]
    raw_id_fields = ["submitted_by"]
    readonly_fields = ["created_at", "updated_at", "delivered_at", "kore_id", "request_body", "kore_case"]
    inlines = [DeliveryAttemptInline]
    show_full_result_count = False


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(admin.ModelAdmin):
    list_display = ["case", "number", "started_at", "duration_ms", "http_status", "outcome", "ambiguous"]
    list_filter = ["outcome", "ambiguous"]
    raw_id_fields = ["case"]


@admin.register(ApiClient)
class ApiClientAdmin(AuditedAdmin):
    """Secrets are created and shown once by the API clients page or create_api_client."""

    list_display = ["name", "client_id", "is_active", "weight", "endpoints", "created_at", "last_used_at"]
    list_filter = ["is_active"]
    readonly_fields = ["client_id", "created_at", "last_used_at"]
    filter_horizontal = ["streams"]

    def has_add_permission(self, request):
        return False


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["api_client", "key", "case", "action", "task", "created_at"]
    raw_id_fields = ["case", "action", "task"]


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = ["filename", "template", "total", "skipped", "created_by", "created_at"]


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "shared", "created_at"]
    list_filter = ["shared"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the portal writes itself: listed and shown, never added, changed or deleted."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The trail is appended to by the portal, never edited."""

    list_display = ["created_at", "actor_name", "action", "target_type", "target_repr", "ip_address"]
    list_filter = ["action"]
    search_fields = ["actor_name", "target_repr"]


@admin.register(SignedInSession)
class SignedInSessionAdmin(ReadOnlyAdmin):
    """Who is signed in since when. The session key itself, a bearer credential, is never shown;
    sessions are ended with "sign out everywhere" on the users page (ending them removes these).
    Not deletable here: deleting a record would leave its session alive but forgotten."""

    list_display = ["user", "created_at"]
    fields = ["user", "created_at"]
    readonly_fields = ["user", "created_at"]


class KeptCountAdmin(ReadOnlyAdmin):
    """The database's triggers keep these counts (cases/browse/kept_counts.py)."""

    list_filter = ["stream"]


@admin.register(OpenCaseCount)
class OpenCaseCountAdmin(KeptCountAdmin):
    list_display = ["stream", "status_name", "priority_name", "count"]


@admin.register(CreatedCount)
class CreatedCountAdmin(KeptCountAdmin):
    list_display = ["slot", "stream", "count"]


@admin.register(OpenDueCount)
class OpenDueCountAdmin(KeptCountAdmin):
    list_display = ["day", "stream", "count"]


@admin.register(OIDCIdentity)
class OIDCIdentityAdmin(ReadOnlyAdmin):
    """Which provider account signs in as which person (cases/sso/). Made by signing in, never
    by hand; deleting one unlinks it (the next single sign-on links or creates again, by the
    rules in cases/sso/provisioning.py)."""

    list_display = ["user", "issuer", "subject", "created_at", "last_sign_in_at"]
    search_fields = ["user__username", "subject"]

    def has_delete_permission(self, request, obj=None):
        return request.user.has_perm("cases.delete_oidcidentity")


@admin.register(CaseChange)
class CaseChangeAdmin(ReadOnlyAdmin):
    """A case's history of changes at Kore, as the sync saw them."""

    list_display = ["case", "field", "old_value", "new_value", "changed_at", "seen_at", "source"]
    list_filter = ["field", "source"]


@admin.register(StreamSync)
class StreamSyncAdmin(ReadOnlyAdmin):
    """Each stream's sync; switched and timed on the Sync page, where changes are audited."""

    list_display = ["stream", "enabled", "interval_seconds", "last_finished_at", "failures", "next_pass_at"]


@admin.register(SyncLease)
class SyncLeaseAdmin(ReadOnlyAdmin):
    list_display = ["key", "owner", "expires_at"]


@admin.register(KoreStatus)
class KoreStatusAdmin(ReadOnlyAdmin):
    """Learned from the cases Kore returns: Kore has no API that lists them."""

    list_display = ["stream", "name", "category", "kore_id", "last_seen_at"]


@admin.register(KorePriority)
class KorePriorityAdmin(ReadOnlyAdmin):
    list_display = ["stream", "name", "score", "color", "kore_id", "last_seen_at"]


@admin.register(KoreAssignee)
class KoreAssigneeAdmin(ReadOnlyAdmin):
    list_display = ["stream", "kind", "name", "kore_id", "last_seen_at"]


@admin.register(TaskTemplate)
class TaskTemplateAdmin(AuditedAdmin):
    list_display = ["name", "template_id", "stream", "default_source", "is_active"]
    list_filter = ["is_active", "stream"]
    search_fields = ["name", "template_id"]


@admin.register(CaseTask)
class CaseTaskAdmin(ReadOnlyAdmin):
    """Tasks the portal sent (outbox rows) or the sync found at Kore."""

    list_display = [
        "__str__",
        "name",
        "case",
        "state",
        "status_name",
        "priority_name",
        "origin",
        "created_at",
    ]
    list_filter = ["state", "origin"]
    search_fields = ["ref_id", "kore_id", "name"]


@admin.register(CaseAction)
class CaseActionAdmin(ReadOnlyAdmin):
    """Changes of cases and tasks asked in the portal or through the gateway, and their delivery."""

    list_display = ["pk", "case", "kind", "state", "summary", "attempt_count", "created_at", "settled_at"]
    list_filter = ["state", "kind"]


@admin.register(BulkAction)
class BulkActionAdmin(ReadOnlyAdmin):
    list_display = ["summary", "stream", "total", "requested_by", "created_at"]


# Notifications (cases/notify/): read-only but for follows and people's settings; endpoints are
# managed on the Webhooks page, where the secret is shown once and the URL passes the host guard.
@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "case", "stream", "occurred_at", "dispatched", "mailed"]
    list_filter = ["kind", "dispatched", "mailed"]


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    list_display = ["user", "case", "created_at"]
    raw_id_fields = ["user", "case"]


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "mail_delivered",
        "mail_failed",
        "mail_needs_review",
        "mail_changed",
        "daily_digest",
    ]


@admin.register(CaseMailMark)
class CaseMailMarkAdmin(ReadOnlyAdmin):
    list_display = ["case", "last_sent_at"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["name", "url", "is_active", "failing_since", "switched_off_at"]
    exclude = ["secret_encrypted"]


@admin.register(WebhookMessage)
class WebhookMessageAdmin(ReadOnlyAdmin):
    list_display = ["webhook_id", "endpoint", "state", "attempts", "next_attempt_at", "last_status"]
    list_filter = ["state", "endpoint"]


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(ReadOnlyAdmin):
    list_display = ["message", "started_at", "http_status", "duration_ms"]
