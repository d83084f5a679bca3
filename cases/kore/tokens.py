"""Checking a Kore.ai-style ``auth`` JWT, as Kore does: the portal's proxy accepts its API clients'
tokens by the same rules that Kore.ai applies to ours (see docs kore-api-notes.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

MAX_LIFETIME_WITH_JTI = 3600  # Kore: with a jti, exp may be at most one hour after iat.
LEEWAY_SECONDS = 30
REPLAYED = "The token was already used (jti seen before): possibly a replay."


class TokenRejected(Exception):
    """The token is missing, malformed, unsigned by a known app, expired or replayed."""

    def __init__(self, message: str, code: int = 401):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class VerifiedToken:
    app_id: str
    claims: dict


def verify_token(
    token: str | None,
    *,
    secret_for: Callable[[str], str | None],
    remember_jti: Callable[[str, str, float], bool],
    now: float | None = None,
) -> VerifiedToken:
    """Verify an HS256 token whose ``appId`` names an app known to ``secret_for``.

    ``remember_jti(app_id, jti, expires_at)`` stores a jti and answers False if it was seen
    before: that is a replay.
    """
    if not token:
        raise TokenRejected("The auth header with a JWT is required.")
    try:
        # Header and claims in one parse; both are trusted only after the signature check below.
        unverified_token = jwt.api_jwt.decode_complete(token, options={"verify_signature": False})
        header, unverified = unverified_token["header"], unverified_token["payload"]
    except jwt.PyJWTError:
        raise TokenRejected("The auth token is not a valid JWT.") from None
    if header.get("alg") != "HS256":
        raise TokenRejected("Only HS256 tokens are accepted.")
    app_id = unverified.get("appId")
    if not isinstance(app_id, str) or not app_id:
        raise TokenRejected("The token has no appId claim.")
    secret = secret_for(app_id)
    if secret is None:
        raise TokenRejected("Invalid SDK credentials", code=4002)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            leeway=LEEWAY_SECONDS,
            options={"require": [], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise TokenRejected("The token has expired.") from None
    except jwt.InvalidSignatureError:
        raise TokenRejected("Invalid SDK credentials", code=4002) from None
    except jwt.PyJWTError as exc:
        raise TokenRejected(f"The token was refused: {exc}.") from None

    jti = claims.get("jti")
    if jti is not None:
        issued = claims.get("iat")
        expires = claims.get("exp")
        if not isinstance(expires, int | float):
            raise TokenRejected("A token with a jti must carry exp.")
        if isinstance(issued, int | float) and expires - issued > MAX_LIFETIME_WITH_JTI:
            raise TokenRejected("A token with a jti may live at most one hour.")
        current = time.time() if now is None else now
        if expires - current > MAX_LIFETIME_WITH_JTI + LEEWAY_SECONDS:
            raise TokenRejected("A token with a jti may live at most one hour.")
        if not remember_jti(app_id, str(jti), float(expires)):
            raise TokenRejected(REPLAYED)
    return VerifiedToken(app_id=app_id, claims=claims)
