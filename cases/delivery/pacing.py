"""Pacing calls to Kore.ai under its per-account rate limit, shared by every process.
Which caller gets which slot, fairly between kinds of work and API clients, is fair.py.

Kore allows 60 requests a minute per account. Time is cut into slots of ``window / (limit - 1)``
seconds and a caller may send only in the first half of a slot it claimed with ``cache.add``
(atomic on Redis, on the database cache and in-process). One send per slot keeps any window of
``window`` seconds, sliding or fixed, at ``limit`` requests or fewer, even when requests reach
Kore up to half a slot later than they left; the price is one request per window of headroom.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.db.models import Min

from cases.models import Stream

CACHE_ALIAS = "pacing"


@dataclass(frozen=True)
class Slot:
    """A claimed right to send during [starts_at, ends_at) (seconds since the epoch): the first
    half of the slot, so that network jitter cannot push two sends into one window."""

    starts_at: float
    ends_at: float

    def wait(self) -> float:
        return max(0.0, self.starts_at - time.time())


def slot_seconds(limit: int, window: float) -> float:
    return window / max(limit - 1, 1)


def claim_slot(key: str, *, limit: int, window: float, horizon: float) -> Slot | None:
    """Claim the earliest free slot starting within ``horizon`` seconds, or None if all are taken.

    The caller sleeps ``slot.wait()`` and sends before ``slot.ends_at``; when it cannot make
    that deadline it must claim again rather than send late.
    """
    cache = caches[CACHE_ALIAS]
    length = slot_seconds(limit, window)
    now = time.time()
    first = math.floor(now / length)
    last = math.floor((now + horizon) / length)
    for index in range(first, last + 1):
        if index == first and now - index * length > length * 0.4:
            continue  # too little of the current slot's sending half is left
        if cache.add(f"slot:{key}:{length:.6f}:{index}", 1, timeout=int(window * 2) + 2):
            return Slot(starts_at=index * length, ends_at=index * length + length / 2)
    return None


def account_limit(stream: Stream) -> int:
    """The calls a minute the stream's account may make: the lowest limit set on any active
    stream of that account (same host and account id), so that two streams of one account with
    different limits share one budget instead of adding up. 0: no stream of it is paced."""
    if not stream.account_id:
        return stream.rate_limit
    lowest = (
        Stream.objects.filter(
            host__iexact=stream.host, account_id=stream.account_id, is_active=True, rate_limit__gt=0
        )
        .exclude(pk=stream.pk)
        .aggregate(lowest=Min("rate_limit"))["lowest"]
    )
    limits = [limit for limit in (stream.rate_limit, lowest) if limit]
    return min(limits) if limits else 0


def claim_for(stream: Stream, *, limit: int | None = None) -> Slot | None:
    """Claim the earliest free slot of the stream's account within the pacing horizon."""
    return claim_slot(
        stream.rate_limit_key(),
        limit=limit if limit is not None else account_limit(stream),
        window=settings.KORE_RATE_WINDOW_SECONDS,
        horizon=settings.KORE_PACING_HORIZON_SECONDS,
    )
