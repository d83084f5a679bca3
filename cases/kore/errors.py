"""The typed errors of a call to Kore.ai, and Kore's own error form (``{"errors":[{"msg","code"}]}``),
which the portal also speaks wherever it stands in for Kore (the proxy, the simulator)."""

from __future__ import annotations

import json
from typing import Any

MAX_ERROR_BODY = 4000


def error_payload(status: int, *messages: str, code: Any = None) -> dict:
    """Kore's error form: one entry per message, each with its code (the status by default)."""
    return {"errors": [{"msg": message, "code": status if code is None else code} for message in messages]}


def error_json(status: int, *messages: str, code: Any = None) -> str:
    return json.dumps(error_payload(status, *messages, code=code))


def field_errors_payload(status: int, problems: dict[str, list[str]]) -> dict:
    """Kore's form for problems with named fields: each entry says its ``field``, and a
    ``fields`` map lists them again by field (the portal's addition, for forms and tools)."""
    return {
        "errors": [
            {"msg": message, "code": status, "field": field}
            for field, messages in problems.items()
            for message in messages
        ],
        "fields": problems,
    }


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
