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

from cases.api import call_checks, config_cache
from cases.api.throttle import ApiClientThrottle
from cases.kore.tokens import LEEWAY_SECONDS, REPLAYED, TokenRejected, VerifiedToken, verify_token
from cases.models import ApiClient

LAST_USED_RESOLUTION = timedelta(minutes=1)


class KoreTokenFailed(exceptions.AuthenticationFailed):
    """401 carrying Kore's own error code (e.g. 4002 for bad credentials)."""

    def __init__(self, message: str, kore_code: int = 401):
        super().__init__(message)
        self.kore_code = kore_code


def _jti_key(app_id: str, jti: str) -> str:
    return f"api-jti:{app_id}:{jti}"


def _remember_jti(app_id: str, jti: str, expires_at: float) -> bool:
    return cache.add(_jti_key(app_id, jti), 1, timeout=_jti_ttl(expires_at))


def _jti_ttl(expires_at: float) -> int:
    return max(1, int(expires_at - time.time()) + LEEWAY_SECONDS)


class KoreJWTAuthentication(BaseAuthentication):
    """Authenticates an ApiClient from the ``auth`` header; absent header: not this scheme.

    The token is verified against this process's configuration snapshot as held; then one
    round trip to the shared cache (cases/api/call_checks.py) reads whether the configuration
    changed, remembers the ``jti`` and counts the call for the throttle. Only when the
    configuration changed meanwhile (or the held snapshot refuses the token) is the token
    verified again, against the configuration as it is now.
    """

    def authenticate(self, request):
        token = request.headers.get("auth")
        if token is None:
            return None
        held = config_cache.held()
        noted: list[tuple[str, str, float]] = []

        def note_jti(app_id: str, jti: str, expires_at: float) -> bool:
            noted.append((app_id, jti, expires_at))  # remembered in the round trip below
            return True

        try:
            client, verified = self._verified(token, held, remember_jti=note_jti)
        except KoreTokenFailed:
            # Perhaps refused by a configuration this process no longer has: judge by today's.
            snapshot = config_cache.current()
            if snapshot is held:
                raise
            client, verified = self._verified(token, snapshot, remember_jti=_remember_jti)
        else:
            app_id, jti, expires_at = noted[0] if noted else ("", "", 0.0)
            answers = call_checks.ask(
                generation_key=config_cache.GENERATION_KEY,
                jti_key=_jti_key(app_id, jti) if noted else None,
                jti_ttl=_jti_ttl(expires_at),
                window=ApiClientThrottle().window(client, time.time()),
            )
            if not answers.jti_is_new:
                raise KoreTokenFailed(REPLAYED)
            snapshot = config_cache.for_generation(answers.generation)
            if snapshot is not held:
                # The configuration changed since this process read it: verified again by it
                # (its jti is remembered already, by this call).
                client, verified = self._verified(token, snapshot, remember_jti=lambda *jti: True)
            request.calls_in_window = answers.calls_in_window
        now = timezone.now()
        if client.last_used_at is None or now - client.last_used_at > LAST_USED_RESOLUTION:
            # Once a minute is precise enough, and spares a write on every call.
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
            client.last_used_at = now
        # The view reads streams and templates from the same snapshot.
        request.proxy_snapshot = snapshot
        return client, verified

    @staticmethod
    def _verified(
        token: str, snapshot: config_cache.Snapshot, *, remember_jti
    ) -> tuple[ApiClient, VerifiedToken]:
        clients: dict[str, ApiClient] = {}

        def secret_for(app_id: str) -> str | None:
            client = config_cache.active_client(snapshot, app_id)
            if client is None:
                return None
            clients[app_id] = client
            return client.secret

        try:
            verified = verify_token(token, secret_for=secret_for, remember_jti=remember_jti)
        except TokenRejected as exc:
            raise KoreTokenFailed(exc.message, exc.code) from None
        return clients[verified.app_id], verified

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
