"""One sync pass of one stream: read what changed at Kore with as few calls as the documented
filters allow, within the account's rate limit, and apply it.

Kore offers no "updated since" filter and no fetch by id. A pass reads:

1. every **unresolved** case (``unresolved: true``): their status, priority, assignee, due
   date and title as they are now;
2. the cases **created since the last pass** (``startDate``/``endDate``, with overlap): new cases,
   even ones already resolved;
3. the local open cases Kore no longer lists as unresolved (resolved or closed meanwhile, or
   gone: flagged, never deleted), by update and by creation window (sync/vanished.py);
4. for a stream that uses tasks, its tasks the same way (sync/case_tasks.py).

Every page takes a slot of the account's rate limit in the sync's turn (delivery/fair.py: at
least its floor, more when nobody else waits); with none within KORE_SYNC_TURN_SECONDS the pass
pauses: it stops, keeps what it applied, and the next pass starts again from the first page.
Every read is bounded by KORE_SYNC_MAX_PAGES.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from cases.delivery import fair, pacing
from cases.kore.client import KoreClient
from cases.kore.dates import format_kore_datetime
from cases.kore.paging import PagedRead
from cases.models import Stream
from cases.sync.apply import Applied, CaseApplier
from cases.sync.case_tasks import sync_tasks
from cases.sync.learn import Learner
from cases.sync.lease import Lease
from cases.sync.vanished import DateEvidence, Vanished


class Paused(Exception):
    """No slot of the rate limit came in time: the pass stops here; the next one starts over."""


@dataclass
class PassResult:
    calls: int = 0
    applied: Applied = field(default_factory=Applied)
    missing: int = 0
    complete: bool = True
    paused: bool = False
    tasks_changed: int = 0
    tasks_read: bool = False  # every read of the stream's tasks reached its end
    dates_not_due: bool = False  # Kore's date filter has shown it is not on the due date


class PacedFetch:
    """getCases (and getTasks) calls for background work: each in the sync's turn at the
    account's rate limit, the lease renewed first, counted."""

    def __init__(self, stream: Stream, lease: Lease | None):
        self.stream, self.lease, self.calls = stream, lease, 0
        self.client = KoreClient(stream.kore_config())
        self.limit = pacing.account_limit(stream)

    def _turn(self) -> None:
        if self.limit:
            slot = fair.wait_for_turn(
                self.stream, fair.SYNC, limit=self.limit, give_up_after=settings.KORE_SYNC_TURN_SECONDS
            )
            if slot is None:
                raise Paused
            time.sleep(slot.wait())
        if self.lease is not None:
            self.lease.renew()
        self.calls += 1

    def __call__(self, filters: dict) -> dict:
        self._turn()
        return self.client.get_cases(filters)

    def tasks(self, filters: dict) -> dict:
        """getTasks, paced and counted like getCases."""
        self._turn()
        return self.client.get_tasks(filters)


class StreamPass:
    """Reads one stream for one pass. ``run()`` returns what it did; Kore's errors propagate.

    ``since``: cases created (and closed) since then are read; ``seen_since``: the start of the
    last complete pass, after which a case seen alive and no longer listed may be flagged;
    ``dates_not_due``: what Kore's date filter has shown so far (sync/vanished.py)."""

    def __init__(
        self,
        stream: Stream,
        *,
        lease: Lease | None,
        since: datetime,
        seen_since: datetime | None = None,
        dates_not_due: bool = False,
        now: datetime | None = None,
    ):
        self.stream, self.since, self.seen_since = stream, since, seen_since or since
        self.started = now or timezone.now()
        self.fetch = PacedFetch(stream, lease)
        self.applier = CaseApplier(stream, seen_at=self.started)
        self.learner = Learner(stream)
        self.evidence = DateEvidence(not_due=dates_not_due)
        self.result = PassResult()

    def _apply(self, page: list[dict]) -> None:
        self.learner.learn(page)
        self.result.applied.add(self.applier.apply(page))

    def run(self) -> PassResult:
        margin = timedelta(seconds=settings.KORE_LOOKUP_MARGIN_SECONDS)
        max_pages = settings.KORE_SYNC_MAX_PAGES
        until = self.started + margin
        try:
            unresolved = PagedRead(self.fetch, {"unresolved": True}, max_pages=max_pages)
            for page in unresolved:
                self._apply(page)
            created = PagedRead(
                self.fetch,
                {"startDate": format_kore_datetime(self.since), "endDate": format_kore_datetime(until)},
                max_pages=max_pages,
            )
            for page in created:
                self._apply(page)
                self.evidence.note(page, self.since, until)
            self.result.complete = unresolved.complete and created.complete
            if unresolved.complete:
                vanished = Vanished(
                    self.stream,
                    fetch=self.fetch,
                    apply=self._apply,
                    since=self.since,
                    seen_since=self.seen_since,
                    started=self.started,
                    evidence=self.evidence,
                )
                try:
                    vanished.settle(may_flag=created.complete)
                finally:
                    self.result.missing = vanished.missing
                self.result.complete = self.result.complete and vanished.complete
            tasks = sync_tasks(
                self.stream,
                self.fetch.tasks,
                since=self.since,
                until=until,
                max_pages=max_pages,
            )
            self.result.tasks_changed, self.result.tasks_read = tasks.changed, tasks.complete
        except Paused:
            self.result.paused = True
            self.result.complete = False
        finally:
            self.learner.save(seen_at=self.started)
            self.result.calls = self.fetch.calls
            self.result.dates_not_due = self.evidence.not_due
        return self.result
