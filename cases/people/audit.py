"""The audit trail: one call per thing worth knowing later (who changed a stream, who exported
what). Details must never hold a secret: callers pass names, ids and counts only."""

from __future__ import annotations

from contextvars import ContextVar

from django.db import models

from cases.models import AuditEvent

SECRET_WORDS = ("secret", "password", "token", "auth")

# The request being served, so records made by model signals (a user saved in the admin or on
# the users page) still name who did it and from where.
current_request: ContextVar = ContextVar("audit_current_request", default=None)


class AuditRequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)


def audit_record(
    *, actor=None, action: str, target: models.Model | None = None, details: dict | None = None, request=None
) -> AuditEvent:
    """Append an event. ``request`` (optional; by default the one being served) supplies the
    actor and the client address."""
    request = request if request is not None else current_request.get()
    if actor is None and request is not None and getattr(request, "user", None) is not None:
        actor = request.user if request.user.is_authenticated else None
    details = {
        key: value
        for key, value in (details or {}).items()
        if not any(w in key.lower() for w in SECRET_WORDS)
    }
    user = actor if getattr(actor, "_meta", None) and actor._meta.model_name == "user" else None
    return AuditEvent.objects.create(
        actor=user,
        actor_name=str(getattr(actor, "get_username", lambda: actor)() if actor else "")[:150],
        action=action,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:300] if target is not None else "",
        details=details,
        ip_address=request.META.get("REMOTE_ADDR") if request is not None else None,
    )


def user_changed(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    """Users are managed on the users page and in the admin; every creation and change is
    recorded (signing in, which only touches last_login, is not a change)."""
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    audit_record(action="user.created" if created else "user.changed", target=instance)


def user_deleted(sender, instance, **kwargs) -> None:
    audit_record(action="user.deleted", target=instance)
