"""A fair, work-conserving share of each account's rate limit, across every process.

Every call to Kore takes a slot of its account's pacing (pacing.py). Who gets the next slot is
decided here, by stride scheduling over the kinds of work that wait for one:

- **kinds**: people's submissions and actions (``people``), API clients (``api``), imports
  (``import``), bulk actions (``bulk``) and the sync (``sync``), each with a weight
  (``KORE_FAIR_SHARES``). Among the kinds waiting, the one that has had the fewest slots for its
  weight goes next, so each kind gets at least its weight's share (its floor) whenever it waits,
  and a kind nobody else contends with gets every slot (work-conserving);
- **API clients** share the ``api`` kind's slots the same way, by their own weights.

Each kind (and client) has a *virtual time* in the shared cache: a slot adds ``1 / weight`` to
it, and the waiting one with the lowest goes next. A kind that starts waiting after a pause
catches up, as in WFQ or CFS: to the lowest time of those waiting, or, when none waits, to the
time at which the last slot was given (the scope's *now*). So idleness is never banked: after
a spell of deliveries alone, the sync's next pass does not take every slot ahead of them.
Whoever waits keeps a short-lived marker fresh; a slot whose rightful taker does not show up
within a fraction of it goes to any other waiter, so no slot is lost to a waiter that left.

``estimated_wait`` says how long a new call of an API client would wait at its share: the
gateway answers 429 with that truth in ``Retry-After`` rather than queue a call past
``GATEWAY_QUEUE_SECONDS``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches

from cases.delivery.pacing import CACHE_ALIAS, Slot, slot_seconds
from cases.models import Stream

KINDS = ("people", "api", "import", "bulk", "sync")
SCALE = 1_000_000  # a slot of a weight-1 kind moves its virtual time by this much
GRACE = 0.15  # of a slot: how long a slot waits for its rightful taker before anyone may have it
LATEST_START = 0.4  # of a slot: the latest a send may start in it (pacing.py's sending half)
MAX_CLIENTS = 200  # API clients remembered per account
NEVER = None


@dataclass(frozen=True)
class Share:
    """Who a call to Kore is for: a kind of work, and for ``api`` the client and its weight."""

    kind: str
    client: str = ""
    weight: int = 1

    @classmethod
    def api(cls, client) -> Share:
        return cls("api", client.client_id, max(1, int(client.weight or 1)))

    def __str__(self) -> str:
        return f"api:{self.client}" if self.kind == "api" else self.kind


PEOPLE, IMPORT, BULK, SYNC = Share("people"), Share("import"), Share("bulk"), Share("sync")


def kind_weights() -> dict[str, int]:
    """``KORE_FAIR_SHARES`` (``people=4,api=3,…``) as weights; a kind left out weighs 1."""
    weights = dict.fromkeys(KINDS, 1)
    for item in str(settings.KORE_FAIR_SHARES).split(","):
        name, _, value = item.partition("=")
        if name.strip() in weights and value.strip():
            weights[name.strip()] = max(1, int(value))
    return weights


def floors() -> dict[str, float]:
    """Each kind's floor: its share of the limit when every kind waits."""
    weights = kind_weights()
    total = sum(weights.values())
    return {kind: weight / total for kind, weight in weights.items()}


class OverShare(Exception):
    """A call that would wait longer than it may from its place in its share's queue."""

    def __init__(self, wait: float):
        super().__init__(f"would wait {wait:.1f} s for its turn")
        self.wait = wait


class Turns:
    """The turns of one account's slots, as seen from the shared cache."""

    def __init__(self, key: str, *, limit: int, window: float):
        self.cache = caches[CACHE_ALIAS]
        self.key, self.limit, self.window = key, limit, window
        self.length = slot_seconds(limit, window)
        self.weights = kind_weights()
        # A waiter refreshes its marker at least once a slot; a delivery task put back in the
        # queue for up to the pacing horizon still counts as waiting.
        self.marker_ttl = max(2, math.ceil(max(3 * self.length, settings.KORE_PACING_HORIZON_SECONDS + 1)))

    # --- keys ----------------------------------------------------------------------------

    def _wait_key(self, name: str) -> str:
        return f"fair:{self.key}:wait:{name}"

    def _vt_key(self, name: str) -> str:
        return f"fair:{self.key}:vt:{name}"

    def _now_key(self, scope: str) -> str:
        """The virtual time of the last slot given among the kinds (``kinds``) or the clients
        (``api``): where one that starts waiting while none waits starts from."""
        return f"fair:{self.key}:now:{scope}"

    def _slot_key(self, index: int) -> str:
        # The same keys as pacing.claim_slot, so fair and plain claims never share a slot.
        return f"slot:{self.key}:{self.length:.6f}:{index}"

    @property
    def _clients_key(self) -> str:
        return f"fair:{self.key}:clients"

    def queue_key(self, share: Share) -> str:
        return f"fair:{self.key}:queue:{share}"

    # --- who waits, and whose turn it is -------------------------------------------------

    def _mark(self, name: str, weight: int, rivals: list[str], scope: str) -> None:
        """Keep ``name``'s waiting marker fresh; one that starts waiting catches up to the
        lowest virtual time of the ``rivals`` waiting, or with none waiting to the scope's now,
        so a pause is never banked."""
        if self.cache.touch(self._wait_key(name), self.marker_ttl):
            return
        self.cache.set(self._wait_key(name), weight, timeout=self.marker_ttl)
        waiting = self._waiting([rival for rival in rivals if rival != name])
        lowest = min(waiting.values()) if waiting else int(self.cache.get(self._now_key(scope)) or 0)
        own = self.cache.get(self._vt_key(name)) or 0
        if own < lowest:
            self.cache.set(self._vt_key(name), lowest, timeout=NEVER)

    def _waiting(self, names: list[str]) -> dict[str, int]:
        """The virtual times of those of ``names`` that wait now."""
        if not names:
            return {}
        keys = [self._wait_key(name) for name in names] + [self._vt_key(name) for name in names]
        found = self.cache.get_many(keys)
        return {
            name: int(found.get(self._vt_key(name)) or 0) for name in names if self._wait_key(name) in found
        }

    def _clients(self) -> list[str]:
        return list(self.cache.get(self._clients_key) or [])

    def heartbeat(self, share: Share) -> None:
        self._mark(share.kind, self.weights[share.kind], list(KINDS), "kinds")
        if share.kind == "api":
            clients = self._clients()
            if share.client not in clients:
                clients = [*clients, share.client][-MAX_CLIENTS:]
                self.cache.set(self._clients_key, clients, timeout=NEVER)
            self._mark(f"api:{share.client}", share.weight, [f"api:{c}" for c in clients], "api")

    def entitled(self, share: Share) -> bool:
        """Is the next slot this share's? The waiting kind with the lowest virtual time goes
        next (ties in KINDS order), and within ``api`` the waiting client with the lowest."""
        kinds = self._waiting(list(KINDS))
        if kinds and min(kinds, key=lambda kind: (kinds[kind], KINDS.index(kind))) != share.kind:
            return False
        if share.kind != "api":
            return True
        clients = self._waiting([f"api:{client}" for client in self._clients()])
        mine = f"api:{share.client}"
        return not clients or min(clients, key=lambda name: (clients[name], name)) == mine

    def charge(self, share: Share) -> None:
        self._charge(share.kind, SCALE // self.weights[share.kind], "kinds")
        if share.kind == "api":
            self._charge(f"api:{share.client}", SCALE // share.weight, "api")

    def _charge(self, name: str, delta: int, scope: str) -> None:
        """Move ``name``'s virtual time on by a slot, and the scope's now to where that slot
        started. (Two processes may write now at once and the lower win: a newcomer then starts
        a slot early, once; never the pause banked.)"""
        started = self._add(self._vt_key(name), delta) - delta
        if started > int(self.cache.get(self._now_key(scope)) or 0):
            self.cache.set(self._now_key(scope), started, timeout=NEVER)

    def _add(self, key: str, delta: int) -> int:
        try:
            return self.cache.incr(key, delta)
        except ValueError:  # not there yet
            if self.cache.add(key, delta, timeout=NEVER):
                return delta
            return self.cache.incr(key, delta)

    # --- taking a turn -------------------------------------------------------------------

    def _first_index(self, now: float) -> int:
        index = math.floor(now / self.length)
        if now - index * self.length > self.length * LATEST_START:
            index += 1  # too little of this slot's sending half is left
        return index

    def _take(self, index: int, share: Share) -> Slot | None:
        if not self.cache.add(self._slot_key(index), 1, timeout=int(self.window * 2) + 2):
            return None
        self.charge(share)
        starts = index * self.length
        return Slot(starts_at=starts, ends_at=starts + self.length / 2)

    def wait(self, share: Share, *, give_up_after: float) -> Slot | None:
        """Block until this share holds a slot (its turn, or one its rightful taker left), or
        None after ``give_up_after`` seconds. The caller sleeps ``slot.wait()`` and sends."""
        deadline = time.time() + give_up_after
        tried = -1
        while True:
            now = time.time()
            index = max(self._first_index(now), tried + 1)
            starts = index * self.length
            if starts - now > self.length:
                # Never decide further ahead than the next slot: a newcomer may be owed it.
                if starts - self.length > deadline:
                    return None
                time.sleep(starts - self.length - now)
                continue
            self.heartbeat(share)
            if self.entitled(share):
                slot = self._take(index, share)
                if slot is not None:
                    return slot
                tried = index
                continue
            # Not this share's turn: take the slot only if its rightful taker does not show up.
            grab_at = starts + GRACE * self.length
            if grab_at > deadline:
                return None
            time.sleep(max(0.0, grab_at - time.time()))
            if time.time() - starts <= LATEST_START * self.length:
                slot = self._take(index, share)
                if slot is not None:
                    return slot
            tried = index

    def estimated_wait(self, share: Share) -> float:
        """Seconds a new call of ``share`` would wait for its slot, at its share of the slots
        with the kinds (and clients) waiting now, behind its own calls already waiting."""
        queued = max(0, int(self.cache.get(self.queue_key(share)) or 0))
        return self._wait_at(share, queued + 1)

    def wait_past(self, share: Share, max_wait: float) -> float:
        """The wait from the first place in the share's queue past ``max_wait``: what a call
        refused for waiting longer is told. Places further back are not real, since refused
        calls leave the queue: a burst of calls is refused each at its own place, yet the room
        they wait for is the first place past the limit, which frees at the queue's next turn."""
        turn = self._wait_at(share, 1)
        return (math.floor(max_wait / turn) + 1) * turn

    def _wait_at(self, share: Share, place: int) -> float:
        """Seconds the call at ``place`` in its share's queue would wait for its slot."""
        kinds = self._waiting(list(KINDS))
        kinds.setdefault(share.kind, 0)
        portion = self.weights[share.kind] / sum(self.weights[kind] for kind in kinds)
        if share.kind == "api":
            clients = self._waiting([f"api:{client}" for client in self._clients()])
            weights = self.cache.get_many([self._wait_key(name) for name in clients])
            mine = f"api:{share.client}"
            total = share.weight + sum(
                int(weights.get(self._wait_key(name)) or 1) for name in clients if name != mine
            )
            portion *= share.weight / total
        return place * self.length / portion

    @contextmanager
    def queued(self, share: Share, *, max_wait: float | None = None) -> Iterator[None]:
        """Count a call of ``share`` as waiting for its slot while inside. With ``max_wait``, the
        call takes its place first and is judged from it (OverShare when it would wait longer):
        calls of a client that arrive together each get a place of their own, instead of all
        being admitted at the first free one and then refused after waiting in vain. The count
        expires unless refreshed, so a process that died mid-wait cannot inflate it for long."""
        key, ttl = self.queue_key(share), int(settings.GATEWAY_QUEUE_SECONDS * 2) + 10
        try:
            place = self.cache.incr(key)
        except ValueError:
            place = 1 if self.cache.add(key, 1, timeout=ttl) else self.cache.incr(key)
        self.cache.touch(key, ttl)
        try:
            if max_wait is not None and self._wait_at(share, place) > max_wait:
                raise OverShare(self.wait_past(share, max_wait))
            yield
        finally:
            try:
                self.cache.decr(key)
            except ValueError:
                pass


def share_of_case(case) -> Share:
    """Whose turn a case's delivery (and its look-ups) takes: its API client's, its import's,
    or people's."""
    if case.api_client_id:
        return Share.api(case.api_client)
    if case.batch_id:
        return IMPORT
    return PEOPLE


def turns_for(stream: Stream, *, limit: int) -> Turns:
    return Turns(stream.rate_limit_key(), limit=limit, window=settings.KORE_RATE_WINDOW_SECONDS)


def wait_for_turn(stream: Stream, share: Share, *, limit: int, give_up_after: float) -> Slot | None:
    """Block until ``share`` may send to the stream's account, or None after ``give_up_after``."""
    return turns_for(stream, limit=limit).wait(share, give_up_after=give_up_after)
