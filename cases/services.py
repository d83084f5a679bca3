"""Workflows on the portal's configuration: checking a stream's connection, making API clients.
(Submission and delivery live in cases/delivery/.)"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.db import transaction

from cases.kore.client import KoreClient
from cases.kore.errors import KoreError
from cases.models import ApiClient, Stream

NO_ACCOUNT_ID = (
    "The stream has no account id. Kore requires it (the accountId header) to list cases, so the "
    "connection cannot be tested, and a case whose answer was lost cannot be looked up. Enter it on "
    "the stream (Kore's account settings show it)."
)


# --- Streams -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str


def stream_check(*, stream: Stream) -> ConnectionCheck:
    """Does the host answer, and are the credentials accepted? Kore's own message when not."""
    if not stream.account_id:
        return ConnectionCheck(ok=False, message=NO_ACCOUNT_ID)
    try:
        message = KoreClient(stream.kore_config()).check_connection()
    except KoreError as exc:
        return ConnectionCheck(ok=False, message=exc.message)
    return ConnectionCheck(ok=True, message=message)


# --- API clients -------------------------------------------------------------------------


def api_client_create(*, name: str, streams) -> tuple[ApiClient, str]:
    """A new API client and its secret, which the caller shows once and never again."""
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        client = ApiClient(name=name, client_id=f"cs-{secrets.token_hex(12)}")
        client.set_secret(secret)
        client.save()
        client.streams.set(streams)
    return client, secret


def api_client_new_secret(*, client: ApiClient) -> str:
    """Replace a client's secret (the old one stops working at once)."""
    secret = secrets.token_urlsafe(32)
    client.set_secret(secret)
    client.save(update_fields=["secret_encrypted"])
    return secret
