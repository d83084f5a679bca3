"""A real, certified OpenID provider for the single sign-on tests: the `oidc-provider` package
(npm), run by Node from ``tests/oidc/provider.mjs`` on loopback, and what tests do around it.

- ``node_modules()`` installs the pinned package (``npm ci`` in tests/oidc) when it is missing.
- ``RealProvider`` starts the provider for one client with signing keys made here (the tests keep
  the private key, to sign a token with the provider's own key when they need one) and knows its
  accounts (``add_account``, ``sign_in_as``); ``stop()`` takes it down. As many providers do, its
  ID tokens say only ``sub`` and the person's claims are at userinfo, unless
  ``claims_in_id_token=True`` puts them in the ID token too.
- ``ProviderBrowser`` is a person's browser at the provider, with its cookies: it signs in on the
  provider's page (or cancels), and confirms the provider's sign-out page.
- ``TokenRelay`` sits in front of the real token and userinfo endpoints (discovery names it
  instead) and can alter the next ID token the provider signed: a flipped signature byte, or
  re-signed with the provider's key and another ``aud``, ``iss``, ``nonce`` or a past ``exp``, and
  a few more faults; and the next userinfo answer: other claims, an error, not JSON, no answer.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urljoin

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.servers import free_port, missing_system_program, wait_for_port

FOLDER = Path(__file__).resolve().parent
TIMEOUT = 10


def node_modules() -> None:
    """``npm ci`` in tests/oidc, quietly, when its modules are missing or older than the lock
    file (a fresh clone, or a new pin); otherwise nothing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing_system_program(
            "node and npm are missing (scripts/ensure-system-packages.sh installs them with apt)"
        )
    installed = FOLDER / "node_modules" / ".package-lock.json"
    lock = FOLDER / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=FOLDER,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"npm ci in {FOLDER} failed:\n{result.stdout}\n{result.stderr}")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class RealProvider:
    """``with RealProvider(client_id=…, client_secret=…, redirect_uris=[…]) as idp: idp.issuer``"""

    PASSWORD = "idp password 1"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        redirect_uris: list[str],
        post_logout_redirect_uris: list[str] | None = None,
        end_session: bool = True,
        claims_in_id_token: bool = False,
        name: str = "Test IdP",
    ) -> None:
        self.client_id = client_id
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = f"idp-key-{self.port}"
        self.accounts: dict[str, dict] = {}
        self.token_endpoint: str | None = None
        self.userinfo_endpoint: str | None = None
        self.person: str | None = None  # the login ``sign_in_as`` chose
        self.folder = Path(tempfile.mkdtemp(prefix="portal-idp-"))
        self.state_file = self.folder / "state.json"
        self._write_state()
        private = RSAAlgorithm.to_jwk(self.key, as_dict=True)
        private.pop("key_ops")  # PyJWT's ["sign"] would be published, and refuse "verify"
        config = {
            "issuer": self.issuer,
            "port": self.port,
            "name": name,
            "client": {
                "client_id": client_id,
                "client_secret": client_secret,
                "redirect_uris": list(redirect_uris),
                "post_logout_redirect_uris": list(post_logout_redirect_uris or []),
            },
            "jwks": {"keys": [{**private, "kid": self.kid, "use": "sig", "alg": "RS256"}]},
            "end_session": end_session,
            "claims_in_id_token": claims_in_id_token,
            "cookie_keys": [secrets.token_urlsafe(32)],
            "state": str(self.state_file),
        }
        self.config_file = self.folder / "config.json"
        self.config_file.write_text(json.dumps(config))
        self.log = self.folder / "provider.log"
        self.process: subprocess.Popen | None = None

    # --- What tests say ---------------------------------------------------------------

    def add_account(self, login: str, password: str, **claims) -> None:
        """An account the provider's sign-in page accepts; ``claims`` (``sub`` first) are what
        it says of the person (at userinfo, or in the ID token too), read again at each sign-in."""
        assert "sub" in claims
        self.accounts[login] = {"password": password, "claims": claims}
        self._write_state()

    def sign_in_as(self, **claims) -> None:
        """The person the next sign-in at the provider is (an account with ``sub`` as its login,
        its claims replaced by these)."""
        self.add_account(claims["sub"], self.PASSWORD, **claims)
        self.person = claims["sub"]

    def advertise_relay(self, *, token_endpoint: str | None, userinfo_endpoint: str | None) -> None:
        """Discovery names these token and userinfo endpoints (a relay's), or, given None, the
        real ones again."""
        self.token_endpoint, self.userinfo_endpoint = token_endpoint, userinfo_endpoint
        self._write_state()

    def _write_state(self) -> None:
        state = {
            "accounts": self.accounts,
            "token_endpoint": self.token_endpoint,
            "userinfo_endpoint": self.userinfo_endpoint,
        }
        partial = self.state_file.with_suffix(".tmp")
        partial.write_text(json.dumps(state))
        partial.replace(self.state_file)  # the provider never reads half a file

    # --- Running it -------------------------------------------------------------------

    def start(self) -> RealProvider:
        node_modules()
        self.process = subprocess.Popen(
            ["node", str(FOLDER / "provider.mjs"), str(self.config_file)],
            cwd=FOLDER,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                wait_for_port(self.port, timeout=0.2)
                return self
            except TimeoutError:
                continue
        self.stop()
        raise RuntimeError(f"the OpenID provider did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        """Down: nothing listens on its port any more."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> RealProvider:
        try:
            return self.start()
        except BaseException:  # pytest's skip and fail too: leave no folder behind
            shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def sign(self, claims: dict, *, key=None) -> str:
        """An ID token as the provider signs them (RS256, its key id), with ``claims``."""
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})


FORM = re.compile(r'<form[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>', re.S)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


class ProviderBrowser:
    """A person's browser at the provider: its cookies, its redirects, its forms."""

    def __init__(self, idp: RealProvider) -> None:
        self.idp = idp
        self.session = requests.Session()
        self.session.trust_env = False

    def _follow(self, response: requests.Response) -> requests.Response:
        """Follow redirects while they stay at the provider; stop at one that leaves it."""
        while response.is_redirect:
            target = urljoin(response.url, response.headers["Location"])
            if not target.startswith(self.idp.issuer + "/"):
                break
            response = self.session.get(target, allow_redirects=False, timeout=TIMEOUT)
        return response

    def visit(self, url: str) -> requests.Response:
        """Open ``url`` at the provider: its page, or its redirect away from it."""
        return self._follow(self.session.get(url, allow_redirects=False, timeout=TIMEOUT))

    def authorize(self, url: str, *, login: str | None = None, password: str | None = None) -> str:
        """From the portal's authorization URL to the provider's answer: signs in on the
        provider's page when it asks (as ``login``, by default the person ``sign_in_as`` chose).
        Returns the URL the provider sends the browser back to."""
        response = self.visit(url)
        if not response.is_redirect:
            login = login or self.idp.person
            password = password or self.idp.accounts[login]["password"]
            response = self._follow(
                self._submit(response, "/login", {"username": login, "password": password})
            )
        assert response.is_redirect, response.text
        return urljoin(response.url, response.headers["Location"])

    def cancel(self, url: str) -> str:
        """From the portal's authorization URL, Cancel on the provider's sign-in page."""
        response = self._follow(self._submit(self.visit(url), "/abort", {}))
        assert response.is_redirect, response.text
        return urljoin(response.url, response.headers["Location"])

    def sign_out(self, url: str) -> requests.Response:
        """The provider's end-session page, confirmed ("Yes, sign me out"). Returns where the
        provider sends the browser then (a redirect back, or its own signed-out page)."""
        return self._follow(self._submit(self.visit(url), "/session/end/confirm", {"logout": "yes"}))

    def _submit(self, page: requests.Response, action_ends: str, fields: dict) -> requests.Response:
        assert page.status_code == 200, page.text
        for action, inner in FORM.findall(page.text):
            action = html.unescape(action)
            if action.endswith(action_ends):
                hidden = {name: html.unescape(value) for name, value in HIDDEN.findall(inner)}
                return self.session.post(
                    urljoin(page.url, action),
                    data={**hidden, **fields},
                    allow_redirects=False,
                    timeout=TIMEOUT,
                )
        raise AssertionError(f"no form ending {action_ends!r} on the page:\n{page.text}")


RELAY_FAULTS = {
    "signature_flipped",  # a byte of the provider's signature changed
    "payload_changed",  # another sub, the provider's signature kept
    "other_key",  # signed with a key that is not the provider's, under its key id
    "wrong_audience",  # re-signed with the provider's key: another aud
    "wrong_issuer",  # … another iss
    "wrong_nonce",  # … another nonce
    "expired",  # … an exp (and iat) in the past
    "unsigned",  # alg "none"
    "no_id_token",  # the answer without its ID token
    "code_used_twice",  # the code exchanged once before: the provider refuses it (invalid_grant)
    "server_error",  # a 500 instead of the provider's answer
}


USERINFO_FAULTS = {
    "server_error",  # a 503 instead of the provider's answer
    "not_json",  # a 200 with an HTML page
    "no_answer",  # the connection closed without an answer (the provider went down)
}


class TokenRelay:
    """In front of the real provider's token and userinfo endpoints, on loopback: passes every
    call on (and keeps the token exchange's form, and counts the userinfo calls), changing the
    next token answer when ``fault`` says so, and each userinfo answer as ``userinfo_changes``
    (claims merged into it) and ``userinfo_fault`` say."""

    def __init__(self, idp: RealProvider) -> None:
        self.idp = idp
        self.upstream = f"{idp.issuer}/token"
        self.userinfo_upstream = f"{idp.issuer}/me"
        self.fault: str | None = None
        self.userinfo_fault: str | None = None
        self.userinfo_changes: dict = {}
        self.requests: list[dict] = []
        self.userinfo_calls = 0
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only, never through a proxy
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _RelayHandler)
        self.httpd.daemon_threads = True
        self.httpd.relay = self
        origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"{origin}/token"
        self.userinfo_url = f"{origin}/me"
        self._thread: threading.Thread | None = None

    def __enter__(self) -> TokenRelay:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self.idp.advertise_relay(token_endpoint=self.url, userinfo_endpoint=self.userinfo_url)
        return self

    def __exit__(self, *exc) -> None:
        self.idp.advertise_relay(token_endpoint=None, userinfo_endpoint=None)
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    def exchange(self, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
        self.requests.append({key: values[0] for key, values in parse_qs(body.decode()).items()})
        fault, self.fault = self.fault, None
        if fault == "server_error":
            return 500, {"error": "server_error"}

        def upstream() -> requests.Response:
            return self.session.post(self.upstream, data=body, headers=headers, timeout=TIMEOUT)

        if fault == "code_used_twice":
            upstream()
        answer = upstream()
        token = answer.json()
        if answer.status_code == 200 and fault:
            token = self.altered(token, fault)
        return answer.status_code, token

    def userinfo(self, headers: dict[str, str]) -> tuple[int, str, bytes] | None:
        """The provider's userinfo answer (status, content type, body), as the test wants it;
        None for no answer at all."""
        self.userinfo_calls += 1
        if self.userinfo_fault == "no_answer":
            return None
        if self.userinfo_fault == "server_error":
            return 503, "application/json", b'{"error": "server_error"}'
        if self.userinfo_fault == "not_json":
            return 200, "text/html", b"<!doctype html><title>Maintenance</title><p>Back soon.</p>"
        answer = self.session.get(self.userinfo_upstream, headers=headers, timeout=TIMEOUT)
        if answer.status_code != 200:
            return answer.status_code, answer.headers["Content-Type"], answer.content
        return 200, "application/json", json.dumps({**answer.json(), **self.userinfo_changes}).encode()

    def altered(self, token: dict, fault: str) -> dict:
        if fault == "no_id_token":
            return {key: value for key, value in token.items() if key != "id_token"}
        header, payload, signature = token["id_token"].split(".")
        claims = json.loads(b64url_decode(payload))
        now = int(time.time())
        if fault == "signature_flipped":
            raw = bytearray(b64url_decode(signature))
            raw[len(raw) // 2] ^= 0x01
            id_token = ".".join([header, payload, b64url(bytes(raw))])
        elif fault == "payload_changed":
            changed = b64url(json.dumps({**claims, "sub": "someone-else"}).encode())
            id_token = ".".join([header, changed, signature])
        elif fault == "other_key":
            other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            id_token = self.idp.sign(claims, key=other)
        elif fault == "unsigned":
            id_token = jwt.encode(claims, None, algorithm="none")
        else:
            changes = {
                "wrong_audience": {"aud": "another-client"},
                "wrong_issuer": {"iss": "https://someone-else.example"},
                "wrong_nonce": {"nonce": "not-the-nonce-sent"},
                "expired": {"iat": now - 3600, "exp": now - 600},
            }[fault]
            id_token = self.idp.sign({**claims, **changes})
        return {**token, "id_token": id_token}


class _RelayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _forwarded(self) -> dict[str, str]:
        return {
            name: self.headers[name]
            for name in ("Authorization", "Content-Type", "Accept")
            if self.headers[name]
        }

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, answer = self.server.relay.exchange(self._forwarded(), body)
        self._answer(status, "application/json", json.dumps(answer).encode())

    def do_GET(self) -> None:
        answer = self.server.relay.userinfo(self._forwarded())
        if answer is None:
            self.close_connection = True  # down: the connection ends with no answer
            return
        self._answer(*answer)

    def _answer(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args) -> None:  # noqa: A002 - the stdlib's signature
        pass


def query(url: str) -> dict[str, str]:
    """A URL's query as a dict of single values."""
    return {key: values[0] for key, values in parse_qs(url.partition("?")[2]).items()}
