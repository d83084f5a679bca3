"""API clients: the tools allowed to use the portal's API, and their secrets (shown once)."""

from __future__ import annotations

import secrets

from django.db import transaction

from cases.models import ApiClient
from cases.models.streams import KORE_ENDPOINTS


def api_client_create(
    *, name: str, streams, endpoints=KORE_ENDPOINTS, weight: int = 1
) -> tuple[ApiClient, str]:
    """A new API client and its secret, which the caller shows once and never again. It may call
    ``endpoints`` (all six of Kore's by default; READ_ENDPOINTS for a read-only one)."""
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        client = ApiClient(
            name=name, client_id=f"cs-{secrets.token_hex(12)}", endpoints=list(endpoints), weight=weight
        )
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
