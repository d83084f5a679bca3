"""The HTTP side of webhooks: one urllib3 pool manager per process whose every connection goes
through the outbound host guard with the receivers' own allow-list (``WEBHOOK_ALLOWED_HOSTS``,
never Kore's), no redirects, no retries of its own (the outbox retries), no proxy, timeouts
always set, answers read up to a bound. urllib3 rather than requests: a POST costs about half
the CPU, which is most of what a sender spends (bench/notify.py)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import certifi
import urllib3
from django.conf import settings
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as NoAnswerInTime

from cases.kore.hostguard import HostRefused, guarded_pool_manager

ALLOWED_SETTING = "WEBHOOK_ALLOWED_HOSTS"
# The most of an answer kept for the delivery log; reading stops there.
ANSWER_BYTES = 2048
USER_AGENT = "CasePortal-Webhooks/1"

_manager: urllib3.PoolManager | None = None
_lock = threading.Lock()


def manager() -> urllib3.PoolManager:
    global _manager
    with _lock:
        if _manager is None:
            # Every new connection is checked by the host guard, on the address it connects to.
            _manager = guarded_pool_manager(
                allowed_setting=ALLOWED_SETTING,
                num_pools=100,
                maxsize=max(settings.WEBHOOK_CONCURRENCY, 1),
                ca_certs=certifi.where(),
                retries=False,
            )
        return _manager


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
    timeout = urllib3.Timeout(connect=settings.WEBHOOK_CONNECT_TIMEOUT, read=settings.WEBHOOK_READ_TIMEOUT)
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        response = manager().request(
            "POST", url, body=body, headers=headers, timeout=timeout, redirect=False, preload_content=False
        )
        try:
            kept = response.read(ANSWER_BYTES + 1)
            if len(kept) > ANSWER_BYTES:
                response.close()  # a long answer is not read on: its connection is dropped, not reused
        finally:
            response.release_conn()
    except HostRefused as exc:
        return Answer(status=None, text="", error=str(exc), duration_ms=took())
    except NewConnectionError as exc:  # refused, unreachable, unknown name (a subclass of timeouts)
        reason = str(exc).rsplit("new connection: ", 1)[-1].rstrip(".")
        return Answer(
            status=None, text="", error=f"Could not reach the receiver: {reason}.", duration_ms=took()
        )
    except NoAnswerInTime:
        return Answer(status=None, text="", error="The receiver did not answer in time.", duration_ms=took())
    except HTTPError as exc:
        reason = type(exc).__name__
        return Answer(
            status=None, text="", error=f"Could not reach the receiver ({reason}).", duration_ms=took()
        )
    status = response.status
    text = kept[:ANSWER_BYTES].decode("utf-8", "replace")
    error = "" if 200 <= status < 300 else f"The receiver answered {status}."
    if 300 <= status < 400:
        error += " Redirects are not followed: register the final URL."
    return Answer(status=status, text=text, error=error, duration_ms=took())
