"""The HTTP side of webhooks: one requests session per sending thread, every connection through
the outbound host guard with the receivers' own allow-list (``WEBHOOK_ALLOWED_HOSTS``, never
Kore's), no redirects, no proxy, timeouts always set, answers read up to a bound."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests
from django.conf import settings

from cases.kore.hostguard import GuardedHTTPAdapter, HostRefused

ALLOWED_SETTING = "WEBHOOK_ALLOWED_HOSTS"
# The most of an answer kept for the delivery log; reading stops there.
ANSWER_BYTES = 2048
USER_AGENT = "CasePortal-Webhooks/1"

_local = threading.local()


def session() -> requests.Session:
    if getattr(_local, "session", None) is None:
        new = requests.Session()
        adapter = GuardedHTTPAdapter(allowed_setting=ALLOWED_SETTING, max_retries=0)
        new.mount("https://", adapter)
        new.mount("http://", adapter)
        new.trust_env = False
        _local.session = new
    return _local.session


@dataclass(frozen=True)
class Answer:
    status: int | None
    text: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POST once; never raises for what the network or the receiver does."""
    started = time.monotonic()
    timeout = (settings.WEBHOOK_CONNECT_TIMEOUT, settings.WEBHOOK_READ_TIMEOUT)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        response = session().post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
        )
        kept = b""
        try:
            for chunk in response.iter_content(1024):
                kept += chunk
                if len(kept) > ANSWER_BYTES:
                    break  # the rest is not read: the connection is closed instead of reused
        finally:
            response.close()
        text = kept[:ANSWER_BYTES].decode("utf-8", "replace")
        error = "" if 200 <= response.status_code < 300 else f"The receiver answered {response.status_code}."
        if 300 <= response.status_code < 400:
            error += " Redirects are not followed: register the final URL."
        return Answer(status=response.status_code, text=text, error=error, duration_ms=took())
    except HostRefused as exc:
        return Answer(status=None, text="", error=str(exc), duration_ms=took())
    except requests.exceptions.Timeout:
        return Answer(status=None, text="", error="The receiver did not answer in time.", duration_ms=took())
    except requests.exceptions.RequestException as exc:
        reason = type(exc).__name__
        return Answer(
            status=None, text="", error=f"Could not reach the receiver ({reason}).", duration_ms=took()
        )
