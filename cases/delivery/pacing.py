"""Pacing calls to Kore.ai under its per-account rate limit, shared by every process.

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


def wait_for_slot(stream: Stream, *, limit: int, give_up_after: float) -> Slot | None:
    """Block until this process holds a slot it can still send in, or None after
    ``give_up_after`` seconds: for a workflow that makes several calls in a row (a look-up
    reading page after page), each call taking its own slot."""
    deadline = time.time() + give_up_after
    while time.time() < deadline:
        slot = claim_for(stream, limit=limit)
        if slot is not None:
            time.sleep(slot.wait())
            if time.time() < slot.ends_at:
                return slot
            continue
        time.sleep(
            min(slot_seconds(limit, settings.KORE_RATE_WINDOW_SECONDS), max(0.0, deadline - time.time()))
        )
    return None


def claim_spare_slot(stream: Stream, *, limit: int, share: float) -> Slot | None:
    """A slot for background work (the sync), claimed only where deliveries lose at most one
    slot by it: the next sendable slot, and only while this window's background calls stay
    under ``share`` of the account's budget. None: wait a slot and ask again."""
    cache = caches[CACHE_ALIAS]
    window = settings.KORE_RATE_WINDOW_SECONDS
    length = slot_seconds(limit, window)
    now = time.time()
    index = math.floor(now / length)
    if now - index * length > length * 0.4:
        index += 1  # too little of the current slot's sending half is left
    key = stream.rate_limit_key()
    budget_key = f"spare:{key}:{math.floor(index * length / window)}"
    cache.add(budget_key, 0, timeout=int(window * 2) + 2)
    if (cache.get(budget_key) or 0) >= max(1, math.floor(share * max(limit - 1, 1))):
        return None
    if not cache.add(f"slot:{key}:{length:.6f}:{index}", 1, timeout=int(window * 2) + 2):
        return None
    cache.incr(budget_key)
    return Slot(starts_at=index * length, ends_at=index * length + length / 2)


def wait_for_spare_slot(stream: Stream, *, limit: int, share: float, give_up_after: float) -> Slot | None:
    """Block until a spare slot (``claim_spare_slot``) can be sent in, or None after
    ``give_up_after`` seconds: the caller pauses rather than fails."""
    deadline = time.time() + give_up_after
    length = slot_seconds(limit, settings.KORE_RATE_WINDOW_SECONDS)
    while time.time() < deadline:
        slot = claim_spare_slot(stream, limit=limit, share=share)
        if slot is not None:
            time.sleep(slot.wait())
            if time.time() < slot.ends_at:
                return slot
            continue
        time.sleep(min(length / 2, max(0.0, deadline - time.time())))
    return None
