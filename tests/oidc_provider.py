"""A small, honest OpenID provider for the tests, served over HTTP on loopback in a thread.

It speaks the parts of OpenID Connect the portal uses, from the provider's side and strictly:
the discovery document, a JWKS with one RSA key, the authorization endpoint (a registered
client and redirect URI, ``response_type=code``, the ``openid`` scope and a PKCE S256 challenge
required), the token endpoint (client authentication by HTTP Basic or form, a code used once,
the same redirect URI, the PKCE verifier checked), RS256-signed ID tokens carrying the nonce,
and the end_session endpoint (RP-initiated logout, ``id_token_hint`` checked).

Tests choose who is signed in at the provider (``sign_in_as``) and can make it misbehave:
``idp.fault = "wrong_signature"`` (or ``tampered``, ``wrong_audience``, ``wrong_issuer``,
``expired``, ``wrong_nonce``, ``no_id_token``, ``unsigned``, ``token_error``, ``token_500``)
applies to the next token answer; ``refuse_next`` answers the next authorization with an error;
``stop()`` takes it down. With ``login_form=True`` the authorization endpoint shows a sign-in page
(for the browser journeys) instead of answering at once for the signed-in person.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

FAULTS = {
    "wrong_signature",
    "tampered",
    "wrong_audience",
    "wrong_issuer",
    "expired",
    "wrong_nonce",
    "no_id_token",
    "unsigned",
    "token_error",
    "token_500",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TestProvider:
    """``with TestProvider(client_id=…, client_secret=…, redirect_uris=[…]) as idp: idp.issuer``"""

    __test__ = False  # not a test class, whatever its name says to pytest

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str],
        post_logout_redirect_uris: list[str] | None = None,
        end_session: bool = True,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris)
        self.post_logout_redirect_uris = list(post_logout_redirect_uris or [])
        self.end_session = end_session
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.login_form = False
        self.accounts: dict[str, dict] = {}  # username -> claims, for the sign-in page
        self.signed_in: dict | None = None  # the claims of who is signed in at the provider
        self.fault: str | None = None
        self.refuse_next: str | None = None
        self.codes: dict[str, dict] = {}
        self.token_requests: list[dict] = []
        self.logouts: list[dict] = []
        self.lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.provider = self
        host, port = self.httpd.server_address[:2]
        self.issuer = f"http://{host}:{port}"
        self._thread: threading.Thread | None = None

    # --- What tests say ---------------------------------------------------------------

    def sign_in_as(self, **claims) -> None:
        """Who is signed in at the provider: ``sub`` and any other claims for the ID token."""
        assert "sub" in claims
        self.signed_in = claims

    def add_account(self, username: str, password: str, **claims) -> None:
        """An account the sign-in page (``login_form``) accepts."""
        self.accounts[username] = {"password": password, "claims": claims}

    def start(self) -> TestProvider:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="test-idp", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: nothing listens on its port any more."""
        if self._thread is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TestProvider:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- The protocol -------------------------------------------------------------------

    def discovery(self) -> dict:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified"],
        }
        if self.end_session:
            document["end_session_endpoint"] = f"{self.issuer}/end_session"
        return document

    def jwks(self) -> dict:
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def authorize(self, params: dict[str, str], claims: dict) -> tuple[int, dict, bytes]:
        """Check the authorization request; answer the redirect URI with a code (or an error)."""
        redirect_uri = params.get("redirect_uri", "")
        if params.get("client_id") != self.client_id or redirect_uri not in self.redirect_uris:
            return 400, {"Content-Type": "text/plain"}, b"unknown client or redirect_uri"
        state = params.get("state", "")

        def back(**answer) -> tuple[int, dict, bytes]:
            query = urlencode({**answer, "state": state})
            return 302, {"Location": f"{redirect_uri}?{query}"}, b""

        if self.refuse_next:
            error, self.refuse_next = self.refuse_next, None
            return back(error=error, error_description="The person may not use this application.")
        if params.get("response_type") != "code" or "openid" not in params.get("scope", "").split():
            return back(error="invalid_request", error_description="response_type=code and openid needed")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return back(error="invalid_request", error_description="PKCE (S256) is required")
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = {
                "claims": claims,
                "redirect_uri": redirect_uri,
                "nonce": params.get("nonce"),
                "challenge": params["code_challenge"],
                "expires": time.time() + 60,
            }
        return back(code=code)

    def token(self, headers: dict[str, str], form: dict[str, str]) -> tuple[int, dict]:
        """The code exchange: client authentication, the code once, the PKCE verifier."""
        self.token_requests.append(dict(form))
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            raw = base64.b64decode(basic.split(" ", 1)[1]).decode()
            client_id, _, secret = raw.partition(":")
        if client_id != self.client_id or secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self.lock:
            grant = self.codes.pop(form.get("code", ""), None)
        if (
            grant is None
            or grant["expires"] < time.time()
            or grant["redirect_uri"] != form.get("redirect_uri")
        ):
            return 400, {"error": "invalid_grant"}
        verifier = form.get("code_verifier", "")
        if b64url(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verification failed"}

        fault, self.fault = self.fault, None
        if fault == "token_error":
            return 400, {"error": "invalid_grant", "error_description": "refused by the test"}
        if fault == "token_500":
            return 500, {"error": "server_error"}
        access_token = secrets.token_urlsafe(24)
        answer = {"access_token": access_token, "token_type": "Bearer", "expires_in": 300}
        if fault != "no_id_token":
            answer["id_token"] = self.id_token(grant["claims"], grant["nonce"], access_token, fault)
        return 200, answer

    def id_token(self, person: dict, nonce: str | None, access_token: str, fault: str | None) -> str:
        now = int(time.time())
        claims = {
            "iss": "https://someone-else.example" if fault == "wrong_issuer" else self.issuer,
            "aud": "another-client" if fault == "wrong_audience" else self.client_id,
            "iat": now - (3600 if fault == "expired" else 0),
            "exp": now - 600 if fault == "expired" else now + 300,
            "auth_time": now,
            "nonce": "not-the-nonce-sent" if fault == "wrong_nonce" else nonce,
            "at_hash": b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
            **person,
        }
        if fault == "unsigned":
            return jwt.encode(claims, None, algorithm="none")
        key = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if fault == "wrong_signature"
            else self.key
        )
        token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})
        if fault == "tampered":
            header, payload, signature = token.split(".")
            changed = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            changed["sub"] = "someone-else"
            token = ".".join([header, b64url(json.dumps(changed).encode()), signature])
        return token

    def logout(self, params: dict[str, str]) -> tuple[int, dict, bytes]:
        """RP-initiated logout: the hint must be one of our tokens for this client."""
        try:
            hint = jwt.decode(
                params.get("id_token_hint", ""),
                self.key.public_key(),
                algorithms=["RS256"],
                audience=self.client_id,
                options={"verify_exp": False},
            )
        except jwt.PyJWTError:
            return 400, {"Content-Type": "text/plain"}, b"bad id_token_hint"
        self.logouts.append({**params, "sub": hint["sub"]})
        self.signed_in = None
        target = params.get("post_logout_redirect_uri")
        if target in self.post_logout_redirect_uris:
            query = urlencode({"state": params["state"]}) if params.get("state") else ""
            return 302, {"Location": f"{target}?{query}" if query else target}, b""
        return 200, {"Content-Type": "text/html"}, b"<!doctype html><title>Signed out</title><p>Signed out."

    def login_page(self, params: dict[str, str], error: str = "") -> bytes:
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in params.items()
        )
        message = f'<p role="alert">{html.escape(error)}</p>' if error else ""
        return (
            "<!doctype html><html lang=en><title>Test IdP</title><main><h1>Sign in to Test IdP</h1>"
            f'{message}<form method="post" action="/authorize">{hidden}'
            '<label>IdP username <input name="idp_username"></label>'
            '<label>IdP password <input name="idp_password" type="password"></label>'
            "<button>Continue</button></form></main>"
        ).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, status: int, headers: dict, body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict) -> None:
        self._send(status, {"Content-Type": "application/json"}, json.dumps(data).encode())

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        return {key: values[0] for key, values in parse_qs(body).items()}

    def do_GET(self) -> None:
        provider: TestProvider = self.server.provider
        parts = urlsplit(self.path)
        params = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if parts.path == "/.well-known/openid-configuration":
            self._json(200, provider.discovery())
        elif parts.path == "/jwks":
            self._json(200, provider.jwks())
        elif parts.path == "/authorize":
            if provider.signed_in is None and provider.refuse_next is None:
                if provider.login_form:
                    self._send(200, {"Content-Type": "text/html"}, provider.login_page(params))
                else:
                    self._send(401, {"Content-Type": "text/plain"}, b"nobody is signed in at the provider")
                return
            self._send(*provider.authorize(params, provider.signed_in))
        elif parts.path == "/end_session" and provider.end_session:
            self._send(*provider.logout(params))
        else:
            self._send(404, {"Content-Type": "text/plain"}, b"not found")

    def do_POST(self) -> None:
        provider: TestProvider = self.server.provider
        path = urlsplit(self.path).path
        form = self._form()
        if path == "/token":
            headers = {name.lower(): value for name, value in self.headers.items()}
            self._json(*provider.token(headers, form))
        elif path == "/authorize" and provider.login_form:
            account = provider.accounts.get(form.pop("idp_username", ""))
            password = form.pop("idp_password", "")
            if account is None or account["password"] != password:
                self._send(
                    200,
                    {"Content-Type": "text/html"},
                    provider.login_page(form, "Wrong username or password."),
                )
                return
            provider.signed_in = account["claims"]
            self._send(*provider.authorize(form, account["claims"]))
        else:
            self._send(404, {"Content-Type": "text/plain"}, b"not found")

    def log_message(self, format, *args) -> None:  # noqa: A002 - the stdlib's signature
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
