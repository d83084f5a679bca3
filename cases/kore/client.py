"""The one door to Kore.ai: mints the JWT, sends, checks the answer's shape, and returns parsed
data or raises a typed error. Nothing else in the portal knows Kore's status codes.

Every call has explicit connect and read timeouts, goes through one pool manager, never follows
redirects and never retries: retrying is the delivery service's decision, because only it knows
whether a request that got no answer may already have created a case.

The pools are urllib3's, called directly rather than through a requests Session: every gateway
path makes one call to Kore, and a Session's own work on each (merging settings, cookies, hooks)
cost more than the call's whole urllib3 side (bench/proxy.py).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from email.message import Message
from functools import cached_property
from typing import Any
from urllib.parse import quote

import certifi
import jwt
import orjson
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationValueError,
    NewConnectionError,
    ReadTimeoutError,
)

from cases.kore.answers import KoreCase, KoreTask, is_rate_limit_answer, kore_messages, parse_case, parse_task
from cases.kore.errors import (
    KoreAuthError,
    KoreHostRefused,
    KoreMalformed,
    KoreRateLimited,
    KoreRefused,
    KoreTimeout,
    KoreUnavailable,
)
from cases.kore.hostguard import HostRefused, guarded_pool_manager

API_PATH = "/caseManagement/api/public/analytics/{stream_id}/{endpoint}"
TOKEN_TTL_SECONDS = 300


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

    def endpoint(self, name: str, object_id: str | None = None) -> str:
        """The URL of an endpoint; ``object_id`` (a case or task id) is one path segment, quoted."""
        path = name if object_id is None else f"{name}/{quote(object_id, safe='')}"
        return self.host.rstrip("/") + API_PATH.format(stream_id=self.stream_id, endpoint=path)


# --- The client --------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    """A page Kore answered to getCases or getTasks: parsed, and the bytes as they came."""

    payload: dict
    raw: bytes


# Every new connection is checked by the host guard, on the address it connects to; no proxy
# from the environment is ever used for Kore traffic.
_shared_pool = guarded_pool_manager(num_pools=16, maxsize=64, retries=False, ca_certs=certifi.where())


class _Answer:
    """Kore's answer as it came: status, headers (case-insensitive) and bytes. The text is
    decoded, by the charset the answer names (UTF-8 when none), only when it is needed: for an
    error's message, or when the fast JSON parser refused the bytes."""

    def __init__(self, response: urllib3.BaseHTTPResponse):
        self.status = response.status
        self.headers = response.headers
        self.content = response.data

    @cached_property
    def text(self) -> str:
        content_type = Message()
        content_type["Content-Type"] = self.headers.get("Content-Type", "")
        try:
            return self.content.decode(content_type.get_content_charset() or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            return self.content.decode("utf-8", errors="replace")


def _default_timeouts() -> tuple[float, float]:
    try:
        from django.conf import settings

        return float(settings.KORE_CONNECT_TIMEOUT), float(settings.KORE_READ_TIMEOUT)
    except Exception:  # noqa: BLE001 - outside Django (scripts, the simulator's own tests)
        return 5.0, 30.0


def _retry_after(response: _Answer) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _json_or_none(response: _Answer) -> Any:
    """The answer's JSON, None when it is not JSON. orjson parses a page of 50 cases in half the
    time the standard library takes, before the gateway can answer; what it refuses and the
    standard library accepts (integers past 64 bits, NaN, another charset) is parsed by the latter."""
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(response.text)
    except ValueError:
        return None


class KoreClient:
    """Calls one stream's case endpoints. Cheap to build: one per delivery is fine."""

    def __init__(
        self,
        config: StreamConfig,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ):
        self.config = config
        default_connect, default_read = _default_timeouts()
        self.timeout = (connect_timeout or default_connect, read_timeout or default_read)
        self._timeout = urllib3.Timeout(connect=self.timeout[0], read=self.timeout[1])

    def headers(self) -> dict[str, str]:
        headers = {
            "auth": mint_token(client_id=self.config.client_id, client_secret=self.config.client_secret),
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
        }
        if self.config.account_id:
            headers["accountId"] = self.config.account_id
        headers.update(self.config.extra_headers)
        return headers

    def create_case(self, body: dict) -> KoreCase:
        """POST createCase. Returns the parsed case or raises a KoreError subclass."""
        payload, status, elapsed = self._post("createCase", body)
        return self._case_answer(payload, status, elapsed, "createCase")

    def get_cases(self, filters: dict) -> dict:
        """POST getCases with body filters; returns ``{results, page, limit, hasMore, …}``."""
        return self.listing("getCases", filters).payload

    def update_case(self, case_id: str, body: dict) -> KoreCase:
        """POST updateCase/{caseId}. Kore answers a trimmed case (no assignee, ``ETA`` "")."""
        payload, status, elapsed = self._post("updateCase", body, object_id=case_id)
        return self._case_answer(payload, status, elapsed, "updateCase")

    def create_task(self, body: dict) -> KoreTask:
        """POST createTask. Returns the parsed task or raises a KoreError subclass."""
        payload, status, elapsed = self._post("createTask", body)
        return self._task_answer(payload, status, elapsed, "createTask")

    def get_tasks(self, filters: dict) -> dict:
        """POST getTasks (paged by ``skip``/``limit``); returns ``{results, …}`` of trimmed tasks."""
        return self.listing("getTasks", filters).payload

    def update_task(self, task_id: str, body: dict) -> KoreTask:
        """POST updateTask/{taskId}: updateCase's keys, applied to a task."""
        payload, status, elapsed = self._post("updateTask", body, object_id=task_id)
        return self._task_answer(payload, status, elapsed, "updateTask")

    def listing(self, endpoint: str, filters: dict) -> Listing:
        """getCases or getTasks, with the bytes Kore sent beside what they say: the gateway
        passes the bytes on as they came, rather than writing the parsed page out again."""
        payload, status, elapsed, raw = self._post_raw(endpoint, filters)
        if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
            raise KoreMalformed(
                f"Kore's answer to {endpoint} has no results list.", status=status, elapsed=elapsed
            )
        return Listing(payload=payload, raw=raw)

    @staticmethod
    def _case_answer(payload: Any, status: int, elapsed: float, endpoint: str) -> KoreCase:
        case = parse_case(payload) if isinstance(payload, dict) else None
        if case is None:
            raise KoreMalformed(f"Kore's answer to {endpoint} is not a case.", status=status, elapsed=elapsed)
        case.http_status, case.elapsed = status, elapsed
        return case

    @staticmethod
    def _task_answer(payload: Any, status: int, elapsed: float, endpoint: str) -> KoreTask:
        task = parse_task(payload) if isinstance(payload, dict) else None
        if task is None:
            raise KoreMalformed(f"Kore's answer to {endpoint} is not a task.", status=status, elapsed=elapsed)
        task.http_status, task.elapsed = status, elapsed
        return task

    def check_connection(self) -> str:
        """Ask for one case: proves the host answers and the credentials are accepted."""
        self.get_cases({"page": 1, "limit": 1, "skip": 0})
        return "Connected: Kore.ai answered and accepted the credentials."

    def _post(self, endpoint: str, body: dict, *, object_id: str | None = None) -> tuple[Any, int, float]:
        payload, status, elapsed, _ = self._post_raw(endpoint, body, object_id=object_id)
        return payload, status, elapsed

    def _post_raw(
        self, endpoint: str, body: dict, *, object_id: str | None = None
    ) -> tuple[Any, int, float, bytes]:
        url = self.config.endpoint(endpoint, object_id)
        started = time.monotonic()
        try:
            response = _Answer(
                _shared_pool.request(
                    "POST",
                    url,
                    body=json.dumps(body).encode(),
                    headers=self.headers(),
                    timeout=self._timeout,
                    redirect=False,
                    retries=False,
                )
            )
        except HostRefused as exc:
            raise KoreHostRefused(str(exc), elapsed=time.monotonic() - started) from None
        except NewConnectionError:
            # Refused, unreachable or unresolvable (NameResolutionError is one): nothing was sent.
            # Caught before ConnectTimeoutError, which urllib3 makes its base class.
            raise KoreUnavailable(
                "Could not connect to Kore.ai (connection refused or host not found).",
                elapsed=time.monotonic() - started,
            ) from None
        except ConnectTimeoutError:
            raise KoreTimeout(
                f"Kore.ai did not accept a connection within {self.timeout[0]:g} s.",
                elapsed=time.monotonic() - started,
            ) from None
        except ReadTimeoutError:
            raise KoreTimeout(
                f"Kore.ai sent no answer within {self.timeout[1]:g} s; the request may have been processed.",
                elapsed=time.monotonic() - started,
                ambiguous=True,
            ) from None
        except LocationValueError as exc:  # a URL urllib3 cannot call: nothing was sent
            raise KoreUnavailable(
                f"Could not call Kore.ai: {type(exc).__name__}.", elapsed=time.monotonic() - started
            ) from None
        except HTTPError:
            # Reset, closed mid-answer, a TLS failure: after the request may have gone out.
            raise KoreUnavailable(
                "The connection to Kore.ai dropped before an answer came; the request may have been "
                "processed.",
                elapsed=time.monotonic() - started,
                ambiguous=True,
            ) from None
        elapsed = time.monotonic() - started
        return self._read(response, elapsed), response.status, elapsed, response.content

    @staticmethod
    def _read(response: _Answer, elapsed: float) -> Any:
        """Classify an answer by its status code first, then by ``errors[].msg`` alone.

        Never by the body's text: a case's own title may quote Kore's rate-limit sentence, and
        reading that as a refusal would send a created case again.
        """
        status = response.status
        payload = _json_or_none(response)
        message, code = kore_messages(payload)
        rate_limited = is_rate_limit_answer(payload)

        def common() -> dict:  # what an error carries: the body's text is decoded only then
            return {"status": status, "code": code, "body": response.text, "elapsed": elapsed}

        if 200 <= status < 300:
            if payload is None:
                raise KoreMalformed(f"Kore.ai answered {status} with a body that is not JSON.", **common())
            if isinstance(payload, dict) and payload.get("_id"):
                return payload  # a created (or found) case, always, whatever its text says
            if isinstance(payload, dict) and payload.get("errors"):
                # Some Kore errors arrive with a 2xx and no case: nothing was created.
                if rate_limited:
                    raise KoreRateLimited(message, retry_after=_retry_after(response), **common())
                raise KoreRefused(message or "Kore.ai refused the request.", **common())
            return payload
        if status == 429 or rate_limited:
            raise KoreRateLimited(
                message or "Kore.ai's rate limit was exceeded.",
                retry_after=_retry_after(response),
                **common(),
            )
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            raise KoreUnavailable(
                f"Kore.ai answered with a redirect ({status}) to {location or 'elsewhere'}; "
                "check the stream's host.",
                permanent=True,
                **common(),
            )
        if status in (401, 403):
            raise KoreAuthError(message or f"Kore.ai refused the credentials ({status}).", **common())
        if 400 <= status < 500:
            raise KoreRefused(message or f"Kore.ai refused the request ({status}).", **common())
        if status >= 500:
            raise KoreUnavailable(
                f"Kore.ai answered {status}{': ' + message if message else ''}; "
                "the request may have been processed.",
                ambiguous=True,
                **common(),
            )
        raise KoreMalformed(f"Kore.ai answered with an unexpected status {status}.", **common())
