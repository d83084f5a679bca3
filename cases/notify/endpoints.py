"""Webhook endpoints as administrators manage them: registering one (its secret shown once), a
new secret, switching it on or off, and sending a message again from the delivery log."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from cases.kore.hostguard import HostRefused, check_url
from cases.models import WebhookEndpoint, WebhookMessage
from cases.notify import clock, signing
from cases.notify.transport import ALLOWED_SETTING


def check_endpoint_url(url: str) -> None:
    """Save-time check through the outbound host guard, with the receivers' own allow-list (the
    same check runs again at every connection)."""
    try:
        check_url(url, allowed_setting=ALLOWED_SETTING)
    except HostRefused as exc:
        raise ValidationError(str(exc)) from None


def endpoint_create(*, name: str, url: str, events: list[str], streams) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret, which only this call's caller ever sees."""
    secret = signing.new_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint(name=name, url=url, events=events)
        endpoint.set_secret(secret)
        endpoint.save()
        endpoint.streams.set(streams)
    return endpoint, secret


def endpoint_new_secret(*, endpoint: WebhookEndpoint) -> str:
    """Replace the secret: the old one stops signing at once."""
    secret = signing.new_secret()
    endpoint.set_secret(secret)
    endpoint.save(update_fields=["secret_encrypted", "updated_at"])
    return secret


def endpoint_switch(*, endpoint: WebhookEndpoint, on: bool) -> None:
    """Switching on clears the failure record and the notice: its waiting messages go next, in
    order per case, without waiting out the backoff they had, and with a fresh retry window
    (``WEBHOOK_RETRY_FOR_SECONDS``): the day they had ran out while it was off. Switching off
    is an administrator's decision: from then on its new events are not kept (messages already
    waiting stay, and go when it is on again)."""
    fields = {"is_active": on, "switched_off_at": None, "switched_off_reason": ""}
    if on:
        fields |= {"failing_since": None, "consecutive_failures": 0}
    now = clock.now()
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(**fields)
        if on:
            endpoint.messages.filter(state=WebhookMessage.State.PENDING).update(
                next_attempt_at=now, retry_until=now + timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS)
            )
    for name, value in fields.items():
        setattr(endpoint, name, value)


def message_send_again(*, message: WebhookMessage) -> None:
    """Queue a message once more, with the same webhook-id (receivers may deduplicate it) and a
    fresh day of retries."""
    now = clock.now()
    WebhookMessage.objects.filter(pk=message.pk).update(
        state=WebhookMessage.State.PENDING,
        next_attempt_at=now,
        retry_until=now + timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS),
    )
