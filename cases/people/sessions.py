"""Signing out everywhere: every session a person signed in with is recorded, so all of them
can be ended at once (by the person, by an administrator, or when an account is deactivated).
Django's session engines cannot list a user's sessions, hence the record."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.utils import timezone

from cases.models import SignedInSession


def session_store_class():
    return import_module(settings.SESSION_ENGINE).SessionStore


def remember_sign_in(sender, request, user, **kwargs) -> None:
    """``user_logged_in``: record the new session; forget records older than any session lives."""
    session_key = request.session.session_key
    if not session_key:
        return
    SignedInSession.objects.filter(
        user=user, created_at__lt=timezone.now() - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    ).delete()
    SignedInSession.objects.update_or_create(session_key=session_key, defaults={"user": user})


def forget_sign_out(sender, request, user, **kwargs) -> None:
    """``user_logged_out``: the session is gone; so is its record."""
    if request is not None and request.session.session_key:
        SignedInSession.objects.filter(session_key=request.session.session_key).delete()


def sign_out_everywhere(user) -> int:
    """End every session of ``user`` on every device; returns how many were ended."""
    store = session_store_class()
    records = list(SignedInSession.objects.filter(user=user))
    for record in records:
        store(session_key=record.session_key).delete()
    SignedInSession.objects.filter(pk__in=[record.pk for record in records]).delete()
    return len(records)
