"""The one door to the identity provider: discovery, the authorization request, the code
exchange, the ID token's checks, the person's claims from userinfo, and the end-session URL.

Authlib's Django client does the protocol: PKCE (S256), ``state`` kept in the session and
consumed on first use (so a replayed state finds nothing), ``nonce``, client authentication at
the token endpoint, the ID token's signature against the provider's JWKS (fetched again when a
key id is unknown). This module adds what the portal needs around it: every connection through
the outbound host guard with ``OIDC_ALLOWED_HOSTS`` and never a redirect, timeouts always set,
the discovery document's ``issuer`` checked against ``OIDC_ISSUER``, ``iss``/``aud``/``exp``/
``sub`` required, and one error type, ``SignInFailed``, for every way a sign-in can fail.

Many providers put only ``sub`` in the ID token of a code flow and give the person's claims
(e-mail, name, groups) at the userinfo endpoint, for the access token. When the verified ID
token lacks a claim the portal reads and discovery names a userinfo endpoint, this module asks
it, checks its ``sub`` is the ID token's, and fills in what the ID token lacks: the ID token,
signed and checked, wins wherever both say something.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import DjangoIntegration, DjangoOAuth2App
from authlib.integrations.requests_client import OAuth2Session
from joserfc.errors import JoseError

from cases.kore.hostguard import GuardedHTTPAdapter, HostRefused, check_url
from cases.sso.config import OIDCConfig

log = logging.getLogger(__name__)

ALLOWED_SETTING = "OIDC_ALLOWED_HOSTS"
TIMEOUT = (5.0, 10.0)  # connect, read: a sign-in waits on the provider, a person waits on us
DISCOVERY_MAX_AGE = 3600.0  # seconds before the discovery document (and JWKS) are read again
CLOCK_LEEWAY = 60  # seconds of clock difference forgiven on exp, nbf and iat
SCOPE = "openid email profile"
# Of the person's claims the portal reads (provisioning.py), those besides the e-mail and groups.
NAME_CLAIMS = ("name", "given_name", "family_name", "preferred_username")


class SignInFailed(Exception):
    """A sign-in that must not go on. ``reason`` is a short code for the audit trail,
    ``message`` what the person reads, ``status`` the page's HTTP status."""

    def __init__(self, reason: str, message: str, *, status: int = 400, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail or message}")
        self.reason = reason
        self.message = message
        self.status = status
        self.detail = detail


def provider_unavailable(detail: str) -> SignInFailed:
    return SignInFailed(
        "provider_unavailable",
        "The identity provider could not be reached or did not answer as expected. Try again in a "
        "minute; if it keeps happening, tell an administrator.",
        status=502,
        detail=detail,
    )


def token_refused(detail: str) -> SignInFailed:
    return SignInFailed(
        "token_refused",
        "The identity provider's answer did not pass the portal's checks. Try again; if it keeps "
        "happening, tell an administrator.",
        detail=detail,
    )


class GuardedOAuth2Session(OAuth2Session):
    """Authlib's requests session, connecting only where the host guard allows, with the
    provider's own allow-list, never following a redirect and never through a proxy."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        adapter = GuardedHTTPAdapter(allowed_setting=ALLOWED_SETTING, max_retries=0)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.trust_env = False
        self.max_redirects = 0  # a redirect raises TooManyRedirects


class ProviderClient(DjangoOAuth2App):
    client_cls = GuardedOAuth2Session


@dataclass(frozen=True)
class SignedIn:
    """What a finished authorization gives: the ID token's verified claims, the raw ID token
    (kept for the logout hint) and where the person was going."""

    claims: dict
    id_token: str
    next_url: str


_clients: dict[tuple, tuple[float, ProviderClient]] = {}
_clients_lock = threading.Lock()


def provider_client(config: OIDCConfig) -> ProviderClient:
    """A client per configuration and process; after ``DISCOVERY_MAX_AGE`` a new one reads the
    discovery document and keys again."""
    key = (config.issuer, config.client_id, config.client_secret)
    with _clients_lock:
        cached = _clients.get(key)
        if cached and time.monotonic() - cached[0] < DISCOVERY_MAX_AGE:
            return cached[1]
        client = ProviderClient(
            DjangoIntegration("oidc"),
            name="oidc",
            client_id=config.client_id,
            client_secret=config.client_secret,
            server_metadata_url=config.discovery_url,
            client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "default_timeout": TIMEOUT},
        )
        _clients[key] = (time.monotonic(), client)
        return client


def forget_provider_clients() -> None:
    """Drop every cached client, so the next sign-in reads discovery afresh (tests use it)."""
    with _clients_lock:
        _clients.clear()


def _forget(config: OIDCConfig) -> None:
    with _clients_lock:
        _clients.pop((config.issuer, config.client_id, config.client_secret), None)


def provider_metadata(config: OIDCConfig) -> dict:
    """The discovery document, read once per client and checked: it must name our issuer
    exactly, give the endpoints the code flow needs, and each URL must pass the host guard."""
    client = provider_client(config)
    if client.server_metadata.get("_portal_checked"):
        return client.server_metadata
    try:
        check_url(config.discovery_url, allowed_setting=ALLOWED_SETTING)
        metadata = client.load_server_metadata()
        if metadata.get("issuer") != config.issuer:
            raise ValueError(f"the discovery document names the issuer {metadata.get('issuer')!r}")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(name), str):
                raise ValueError(f"the discovery document has no {name}")
        optional = ("userinfo_endpoint", "end_session_endpoint")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", *optional):
            if name in metadata:
                check_url(metadata[name], allowed_setting=ALLOWED_SETTING)
    except (HostRefused, requests.RequestException, ValueError, TypeError) as exc:
        _forget(config)  # read discovery again next time rather than keep what failed
        raise provider_unavailable(f"discovery: {exc}") from exc
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "client_secret_basic" not in methods and "client_secret_post" in methods:
        client.client_kwargs["token_endpoint_auth_method"] = "client_secret_post"
    metadata["_portal_checked"] = True
    return metadata


def authorization_url(request, config: OIDCConfig, *, redirect_uri: str, next_url: str) -> str:
    """Where to send the browser to sign in. The state, nonce and PKCE verifier wait in the
    session, under the state, for the provider's answer."""
    provider_metadata(config)
    client = provider_client(config)
    try:
        start = client.create_authorization_url(redirect_uri)
    except (requests.RequestException, ValueError, RuntimeError) as exc:
        raise provider_unavailable(f"authorization request: {exc}") from exc
    client.framework.set_state_data(
        request.session,
        start["state"],
        {
            "redirect_uri": redirect_uri,
            "code_verifier": start["code_verifier"],
            "nonce": start["nonce"],
            "next": next_url,
        },
    )
    return start["url"]


def finish_authorization(request, config: OIDCConfig) -> SignedIn:
    """Take the provider's answer at the callback: consume the state, exchange the code (with
    the PKCE verifier), check the ID token. Raises ``SignInFailed``; never signs anyone in."""
    client = provider_client(config)
    state = request.GET.get("state", "")
    waiting = client.framework.get_state_data(request.session, state) if state else None
    if state:
        client.framework.clear_state_data(request.session, state)  # one use only
    if not waiting:
        raise SignInFailed(
            "state_refused",
            "This sign-in link was already used, has expired, or was started in another browser. "
            "Start again from the sign-in page.",
            detail="no sign-in waits for this state in this session" if state else "no state",
        )
    if error := request.GET.get("error"):
        description = request.GET.get("error_description", "")
        raise SignInFailed(
            "provider_refused",
            "The identity provider did not sign you in. Try again, or ask an administrator whether "
            "you may use the portal.",
            status=403,
            detail=f"{error}: {description}"[:300],
        )
    code = request.GET.get("code")
    if not code:
        raise token_refused("the provider's answer has no code")

    metadata = provider_metadata(config)
    try:
        token = client.fetch_access_token(
            redirect_uri=waiting["redirect_uri"], code=code, code_verifier=waiting["code_verifier"]
        )
    except OAuthError as exc:
        raise token_refused(f"token endpoint: {exc.error}: {exc.description}") from exc
    except (HostRefused, requests.RequestException, ValueError) as exc:
        raise provider_unavailable(f"token endpoint: {exc}") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise token_refused("the token endpoint's answer has no ID token")

    claims_options = {
        "iss": {"essential": True, "value": metadata["issuer"]},
        "aud": {"essential": True, "value": config.client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
    }
    try:
        claims = client.parse_id_token(
            token, nonce=waiting["nonce"], claims_options=claims_options, leeway=CLOCK_LEEWAY
        )
    except (HostRefused, requests.RequestException) as exc:
        raise provider_unavailable(f"keys: {exc}") from exc
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        # A bad signature, an unknown key, a wrong iss/aud/nonce, an expired token, garbage.
        raise token_refused(f"ID token: {type(exc).__name__}: {exc}") from exc
    claims = dict(claims)
    if missing_person_claims(claims, config) and isinstance(metadata.get("userinfo_endpoint"), str):
        answer = fetch_userinfo(client, metadata["userinfo_endpoint"], token, claims)
        claims = with_userinfo(claims, answer, config)
    return SignedIn(claims=claims, id_token=id_token, next_url=waiting["next"])


def missing_person_claims(claims: dict, config: OIDCConfig) -> list[str]:
    """What the ID token lacks of what the portal reads: the e-mail, a name, the username and,
    when ``OIDC_ROLE_MAP`` gives anything, the groups claim. Empty: userinfo is not asked."""
    missing = [name for name in ("email", "preferred_username") if not _said(claims.get(name))]
    if not any(_said(claims.get(name)) for name in ("name", "given_name", "family_name")):
        missing.append("name")
    if config.role_map and config.groups_claim not in claims:
        missing.append(config.groups_claim)
    return missing


def _said(value) -> bool:
    return value is not None and value != ""


def fetch_userinfo(client: ProviderClient, url: str, token: dict, claims: dict) -> dict:
    """The userinfo endpoint's answer for this sign-in's access token, through the same guarded
    session as every other call; it must be a JSON object about the ID token's ``sub``."""
    if not token.get("access_token"):
        raise token_refused("the token endpoint's answer has no access token for the userinfo endpoint")
    try:
        response = client.get(url, token=token)
    except OAuthError as exc:
        raise token_refused(f"userinfo: {exc.error}: {exc.description}") from exc
    except (HostRefused, requests.RequestException, ValueError) as exc:
        raise provider_unavailable(f"userinfo: {exc}") from exc
    if response.status_code != 200:
        raise provider_unavailable(f"userinfo: HTTP {response.status_code}")
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        content_type = response.headers.get("Content-Type", "none")
        raise provider_unavailable(f"userinfo: the answer is not a JSON object ({content_type})")
    if answer.get("sub") != claims["sub"]:
        # Another person's claims (a mixed-up or substituted answer): nothing of it may be used.
        raise token_refused("userinfo: its sub is not the ID token's")
    return answer


def with_userinfo(claims: dict, answer: dict, config: OIDCConfig) -> dict:
    """The ID token's claims, with what only userinfo says of the person (nothing else of its
    answer: it cannot change ``iss``, ``aud`` or the like)."""
    merged = dict(claims)
    for name in (*NAME_CLAIMS, config.groups_claim):
        if not _said(merged.get(name)) and _said(answer.get(name)):
            merged[name] = answer[name]
    if not _said(claims.get("email")) and _said(answer.get("email")):
        # email_verified speaks of the e-mail beside it: the pair comes from one answer, so
        # userinfo's never vouches for another e-mail, nor the ID token's for userinfo's.
        merged.pop("email_verified", None)
        merged.update({name: answer[name] for name in ("email", "email_verified") if name in answer})
    return merged


def end_session_url(config: OIDCConfig, *, id_token: str, post_logout_redirect_uri: str) -> str | None:
    """The provider's end-session URL for RP-initiated logout, or None when the provider
    offers none (or cannot be reached: the portal's own session has ended either way)."""
    try:
        metadata = provider_metadata(config)
    except SignInFailed as failure:
        log.warning("single sign-out skipped: %s", failure)
        return None
    if "end_session_endpoint" not in metadata:
        return None
    logout = provider_client(config).create_logout_url(
        post_logout_redirect_uri=post_logout_redirect_uri, id_token_hint=id_token, client_id=config.client_id
    )
    return logout["url"]
