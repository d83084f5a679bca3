"""API authentication, Kore-style: an HS256 JWT in the ``auth`` header, ``appId`` = an API
client's id, signed with its secret, checked by the same code as the simulator's
(``cases/kore/tokens.py``). Replayed ``jti`` values are remembered in the shared cache."""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.cache import cache
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from cases.api import config_cache
from cases.kore.tokens import LEEWAY_SECONDS, TokenRejected, verify_token
from cases.models import ApiClient

LAST_USED_RESOLUTION = timedelta(minutes=1)


class KoreTokenFailed(exceptions.AuthenticationFailed):
    """401 carrying Kore's own error code (e.g. 4002 for bad credentials)."""

    def __init__(self, message: str, kore_code: int = 401):
        super().__init__(message)
        self.kore_code = kore_code


def _remember_jti(app_id: str, jti: str, expires_at: float) -> bool:
    timeout = max(1, int(expires_at - time.time()) + LEEWAY_SECONDS)
    return cache.add(f"api-jti:{app_id}:{jti}", 1, timeout=timeout)


class KoreJWTAuthentication(BaseAuthentication):
    """Authenticates an ApiClient from the ``auth`` header; absent header: not this scheme."""

    def authenticate(self, request):
        token = request.headers.get("auth")
        if token is None:
            return None
        snapshot = config_cache.current()
        clients: dict[str, ApiClient] = {}

        def secret_for(app_id: str) -> str | None:
            client = config_cache.active_client(snapshot, app_id)
            if client is None:
                return None
            clients[app_id] = client
            return client.secret

        try:
            verified = verify_token(token, secret_for=secret_for, remember_jti=_remember_jti)
        except TokenRejected as exc:
            raise KoreTokenFailed(exc.message, exc.code) from None
        client = clients[verified.app_id]
        now = timezone.now()
        if client.last_used_at is None or now - client.last_used_at > LAST_USED_RESOLUTION:
            # Once a minute is precise enough, and spares a write on every call.
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
            client.last_used_at = now
        # The view reads streams and templates from the same snapshot.
        request.proxy_snapshot = snapshot
        return client, verified

    def authenticate_header(self, request) -> str:
        return "auth"


class KoreJWTScheme(OpenApiAuthenticationExtension):
    target_class = "cases.api.auth.KoreJWTAuthentication"
    name = "koreJWT"
    match_subclasses = True

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "auth",
            "description": "HS256 JWT: appId = the API client's id, signed with its secret; "
            "iat, exp (at most 1 h with a jti), a fresh jti per request.",
        }
