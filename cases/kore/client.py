"""The one door to Kore.ai: mints the JWT, sends, checks the answer's shape, and returns parsed
data or raises a typed error. Nothing else in the portal knows Kore's status codes.

Every call has explicit connect and read timeouts, goes through one pooled session, never
follows redirects and never retries: retrying is the delivery service's decision, because only
it knows whether a request that got no answer may already have created a case.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
import requests

from cases.kore.hostguard import GuardedHTTPAdapter, HostRefused

API_PATH = "/caseManagement/api/public/analytics/{stream_id}/{endpoint}"
RATE_LIMIT_TEXT = "exceeded the per-minute rate limit"
TOKEN_TTL_SECONDS = 300
MAX_ERROR_BODY = 4000


def mint_token(
    *, client_id: str, client_secret: str, now: float | None = None, ttl: int = TOKEN_TTL_SECONDS
) -> str:
    """A fresh HS256 JWT for one request: ``appId`` = client id, a new ``jti`` every time."""
    issued = int(now if now is not None else time.time())
    claims = {
        "appId": client_id,
        "sub": "case-portal",
        "iat": issued,
        "exp": issued + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, client_secret, algorithm="HS256")


@dataclass(frozen=True)
class StreamConfig:
    """What it takes to call one Kore.ai stream. The secret never shows in a repr or a log."""

    host: str
    stream_id: str
    client_id: str
    client_secret: str = field(repr=False)
    account_id: str = ""
    extra_headers: dict[str, str] = field(default_factory=dict)

    def endpoint(self, name: str) -> str:
        return self.host.rstrip("/") + API_PATH.format(stream_id=self.stream_id, endpoint=name)


# --- Errors ------------------------------------------------------------------------------


class KoreError(Exception):
    """A call to Kore.ai did not produce what was asked.

    ``permanent``: retrying the same request cannot help. ``ambiguous``: the request may have
    reached Kore and done its work although no usable answer came back.
    """

    permanent = False
    ambiguous = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: Any = None,
        body: str = "",
        retry_after: float | None = None,
        elapsed: float | None = None,
        ambiguous: bool | None = None,
        permanent: bool | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.body = body[:MAX_ERROR_BODY]
        self.retry_after = retry_after
        self.elapsed = elapsed
        if ambiguous is not None:
            self.ambiguous = ambiguous
        if permanent is not None:
            self.permanent = permanent

    def __str__(self) -> str:
        return self.message


class KoreRefused(KoreError):
    """Kore refused the input (400 and other 4xx): sending it again would be refused again."""

    permanent = True


class KoreAuthError(KoreError):
    """401/403: the stream's credentials, scope or configuration are wrong."""

    permanent = True


class KoreRateLimited(KoreError):
    """429 or Kore's rate-limit message: try again after ``retry_after`` seconds (if given)."""


class KoreUnavailable(KoreError):
    """5xx or no connection. A 5xx is ambiguous: the case may have been created before it."""


class KoreTimeout(KoreError):
    """No answer in time. A read timeout is ambiguous; a connect timeout is not."""


class KoreHostRefused(KoreError):
    """The stream's host resolves to an address the portal must not reach (see hostguard)."""

    permanent = True


class KoreMalformed(KoreError):
    """A 2xx whose body is not the expected JSON: the work may have been done, so ambiguous."""

    ambiguous = True


# --- Dates -------------------------------------------------------------------------------


def format_kore_datetime(value: datetime) -> str:
    """UTC with milliseconds and a Z, as Kore writes it: ``2026-09-04T14:15:00.000Z``."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_kore_datetime(value: Any) -> datetime | None:
    """Kore writes dates as ISO-8601 strings or as epoch milliseconds; accept both."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        try:
            return datetime.fromtimestamp(float(value) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# --- Parsed answers ----------------------------------------------------------------------


@dataclass
class KoreCase:
    """A case as Kore returned it: the whole dict in ``raw`` plus the columns people browse by."""

    raw: dict
    kore_id: str
    ref_id: str = ""
    name: str = ""
    status_name: str = ""
    status_category: str = ""
    priority_name: str = ""
    priority_color: str = ""
    assignee_name: str = ""
    requester_id: str = ""
    requester_name: str = ""
    requester_email: str = ""
    requester_phone: str = ""
    source: str = ""
    due_date: datetime | None = None
    kore_created_at: datetime | None = None
    kore_updated_at: datetime | None = None
    http_status: int | None = None
    elapsed: float | None = None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _object(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def parse_case(data: Any) -> KoreCase:
    """Read a case dict from createCase or getCases; a case without ``_id`` is malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("_id"), str) or not data["_id"]:
        raise KoreMalformed(
            "Kore's answer is not a case: it has no _id.", body=json.dumps(data)[:MAX_ERROR_BODY]
        )
    status, priority = _object(data.get("status")), _object(data.get("priority"))
    assignee, user = _object(data.get("currAssignee")), _object(data.get("userInfo"))
    return KoreCase(
        raw=data,
        kore_id=data["_id"],
        ref_id=_text(data.get("refId")),
        name=_text(data.get("name")),
        status_name=_text(status.get("name")),
        status_category=_text(status.get("statusCategory")),
        priority_name=_text(priority.get("name")),
        priority_color=_text(priority.get("color")),
        assignee_name=_text(assignee.get("name")),
        requester_id=_text(user.get("_id") or user.get("id")),
        requester_name=_text(user.get("name")),
        requester_email=_text(data.get("emailId") or user.get("emailId")),
        requester_phone=_text(data.get("phoneNumber") or user.get("phoneNumber")),
        source=_text(data.get("source")),
        due_date=parse_kore_datetime(data.get("ETA") or data.get("dueDate")),
        kore_created_at=parse_kore_datetime(data.get("createdAt")),
        kore_updated_at=parse_kore_datetime(data.get("updatedAt")),
    )


# --- The client --------------------------------------------------------------------------


def _new_session() -> requests.Session:
    session = requests.Session()
    # Every new connection is checked by the host guard, on the address it connects to.
    adapter = GuardedHTTPAdapter(pool_connections=16, pool_maxsize=64, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.trust_env = False  # never route Kore traffic through a proxy set for something else
    return session


_shared_session = _new_session()


def _default_timeouts() -> tuple[float, float]:
    try:
        from django.conf import settings

        return float(settings.KORE_CONNECT_TIMEOUT), float(settings.KORE_READ_TIMEOUT)
    except Exception:  # noqa: BLE001 - outside Django (scripts, the simulator's own tests)
        return 5.0, 30.0


def _kore_messages(payload: Any) -> tuple[str, Any]:
    """Kore's own words from ``{"errors":[{"msg":…,"code":…}]}`` (or a bare message)."""
    if isinstance(payload, dict):
        errors = payload.get("errors")
        if isinstance(errors, list) and errors:
            texts = [
                str(e.get("msg") or e.get("message") or e) if isinstance(e, dict) else str(e) for e in errors
            ]
            first = errors[0] if isinstance(errors[0], dict) else {}
            return "; ".join(texts), first.get("code")
        for key in ("message", "msg", "error"):
            if isinstance(payload.get(key), str):
                return payload[key], payload.get("code")
    return "", None


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class KoreClient:
    """Calls one stream's case endpoints. Cheap to build: one per delivery is fine."""

    def __init__(
        self,
        config: StreamConfig,
        *,
        session: requests.Session | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ):
        self.config = config
        self.session = session or _shared_session
        default_connect, default_read = _default_timeouts()
        self.timeout = (connect_timeout or default_connect, read_timeout or default_read)

    def headers(self) -> dict[str, str]:
        headers = {
            "auth": mint_token(client_id=self.config.client_id, client_secret=self.config.client_secret),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if self.config.account_id:
            headers["accountId"] = self.config.account_id
        headers.update(self.config.extra_headers)
        return headers

    def create_case(self, body: dict) -> KoreCase:
        """POST createCase. Returns the parsed case or raises a KoreError subclass."""
        payload, status, elapsed = self._post("createCase", body)
        case = parse_case(payload) if isinstance(payload, dict) else None
        if case is None:
            raise KoreMalformed(
                "Kore's answer to createCase is not a JSON object.", status=status, elapsed=elapsed
            )
        case.http_status, case.elapsed = status, elapsed
        return case

    def get_cases(self, filters: dict) -> dict:
        """POST getCases with body filters; returns ``{results, page, limit, hasMore, …}``."""
        payload, status, elapsed = self._post("getCases", filters)
        if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
            raise KoreMalformed(
                "Kore's answer to getCases has no results list.", status=status, elapsed=elapsed
            )
        return payload

    def check_connection(self) -> str:
        """Ask for one case: proves the host answers and the credentials are accepted."""
        self.get_cases({"page": 1, "limit": 1})
        return "Connected: Kore.ai answered and accepted the credentials."

    def _post(self, endpoint: str, body: dict) -> tuple[Any, int, float]:
        url = self.config.endpoint(endpoint)
        started = time.monotonic()
        try:
            response = self.session.post(
                url,
                data=json.dumps(body),
                headers=self.headers(),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except HostRefused as exc:
            raise KoreHostRefused(str(exc), elapsed=time.monotonic() - started) from None
        except requests.exceptions.ConnectTimeout:
            raise KoreTimeout(
                f"Kore.ai did not accept a connection within {self.timeout[0]:g} s.",
                elapsed=time.monotonic() - started,
            ) from None
        except requests.exceptions.ReadTimeout:
            raise KoreTimeout(
                f"Kore.ai sent no answer within {self.timeout[1]:g} s; the request may have been processed.",
                elapsed=time.monotonic() - started,
                ambiguous=True,
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise self._connection_error(exc, time.monotonic() - started) from None
        except requests.exceptions.RequestException as exc:
            raise KoreUnavailable(
                f"Could not call Kore.ai: {type(exc).__name__}.", elapsed=time.monotonic() - started
            ) from None
        elapsed = time.monotonic() - started
        return self._read(response, elapsed), response.status_code, elapsed

    @staticmethod
    def _connection_error(exc: requests.exceptions.ConnectionError, elapsed: float) -> KoreError:
        text = str(exc)
        # Refused, unreachable or unresolvable: nothing was sent. Anything else (reset, closed
        # mid-answer) happened after the request went out, so Kore may have acted on it.
        never_sent = any(
            marker in text
            for marker in (
                "Connection refused",
                "Name or service not known",
                "No route to host",
                "Temporary failure in name resolution",
                "Failed to resolve",
                "nodename nor servname",
                "Network is unreachable",
                "NewConnectionError",
            )
        )
        if never_sent:
            return KoreUnavailable(
                "Could not connect to Kore.ai (connection refused or host not found).", elapsed=elapsed
            )
        return KoreUnavailable(
            "The connection to Kore.ai dropped before an answer came; the request may have been processed.",
            elapsed=elapsed,
            ambiguous=True,
        )

    @staticmethod
    def _read(response: requests.Response, elapsed: float) -> Any:
        status, text = response.status_code, response.text
        try:
            payload = response.json()
        except ValueError:
            payload = None
        message, code = _kore_messages(payload)
        common = {"status": status, "code": code, "body": text, "elapsed": elapsed}

        if RATE_LIMIT_TEXT in (message or text) or status == 429:
            raise KoreRateLimited(
                message or "Kore.ai's rate limit was exceeded.", retry_after=_retry_after(response), **common
            )
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            raise KoreUnavailable(
                f"Kore.ai answered with a redirect ({status}) to {location or 'elsewhere'}; "
                "check the stream's host.",
                permanent=True,
                **common,
            )
        if status in (401, 403):
            raise KoreAuthError(message or f"Kore.ai refused the credentials ({status}).", **common)
        if 400 <= status < 500:
            raise KoreRefused(message or f"Kore.ai refused the request ({status}).", **common)
        if status >= 500:
            raise KoreUnavailable(
                f"Kore.ai answered {status}{': ' + message if message else ''}; "
                "the request may have been processed.",
                ambiguous=True,
                **common,
            )
        if payload is None:
            raise KoreMalformed(f"Kore.ai answered {status} with a body that is not JSON.", **common)
        if isinstance(payload, dict) and payload.get("errors") and "_id" not in payload:
            # Some Kore errors arrive with a 200; the errors list is what counts.
            raise KoreRefused(message or "Kore.ai refused the request.", **common)
        return payload
