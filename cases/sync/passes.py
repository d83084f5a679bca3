"""One sync pass of one stream: read what changed at Kore with as few calls as the documented
filters allow, within the account's rate limit, and apply it.

Kore offers no "updated since" filter and no fetch by id. A pass reads:

1. every **unresolved** case (``unresolved: true``): their status, priority, assignee, due
   date and title as they are now;
2. the cases **created since the last pass** (``startDate``/``endDate``, with overlap): new cases,
   even ones already resolved;
3. the local open cases Kore no longer lists as unresolved (resolved or closed meanwhile):
   asked for by status, newest update first (``sortBy: updatedDate``) until the updates are
   older than the last pass; when Kore does not sort that way, by status and creation window.
   One Kore no longer returns at all is flagged, never deleted.
4. for a stream that uses tasks, its tasks the same way (sync/case_tasks.py).

Every page takes a slot of the account's rate limit in the sync's turn (delivery/fair.py: at
least its floor, more when nobody else waits); with none in time the pass pauses and continues
at the next one. Every read is bounded by KORE_SYNC_MAX_PAGES.
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
from cases.kore.paging import PagedRead, UpdatedSince
from cases.models import Case, KoreStatus, Stream
from cases.models.open_cases import CLOSED_CATEGORIES
from cases.sync.apply import Applied, CaseApplier
from cases.sync.case_tasks import sync_tasks
from cases.sync.learn import Learner
from cases.sync.lease import Lease

# When Kore has not yet shown the stream's own closed statuses, ask by Kore's default names.
DEFAULT_CLOSED_STATUSES = ["Resolved", "Closed"]
# Local open cases missing from the unresolved list, read by creation window when Kore does not
# sort by update: cases created this close together share one window.
WINDOW_GAP = timedelta(hours=6)


class Paused(Exception):
    """No slot of the rate limit came in time: the pass stops here and goes on next time."""


@dataclass
class PassResult:
    calls: int = 0
    applied: Applied = field(default_factory=Applied)
    missing: int = 0
    complete: bool = True
    paused: bool = False
    tasks_changed: int = 0
    tasks_read: bool = False  # every read of the stream's tasks reached its end


class PacedFetch:
    """getCases (and getTasks) calls for background work: each in the sync's turn at the
    account's rate limit, the lease renewed first, counted."""

    def __init__(self, stream: Stream, lease: Lease | None):
        self.stream, self.lease, self.calls = stream, lease, 0
        self.client = KoreClient(stream.kore_config())
        self.limit = pacing.account_limit(stream)

    def _turn(self) -> None:
        if self.limit:
            slot = fair.wait_for_turn(self.stream, fair.SYNC, limit=self.limit, give_up_after=30.0)
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
    """Reads one stream for one pass. ``run()`` returns what it did; Kore's errors propagate."""

    def __init__(self, stream: Stream, *, lease: Lease | None, since: datetime, now: datetime | None = None):
        self.stream, self.since = stream, since
        self.started = now or timezone.now()
        self.fetch = PacedFetch(stream, lease)
        self.applier = CaseApplier(stream, seen_at=self.started)
        self.learner = Learner(stream)
        self.result = PassResult()

    def _apply_read(self, read) -> None:
        for page in read:
            self.learner.learn(page)
            self.result.applied.add(self.applier.apply(page))

    def run(self) -> PassResult:
        margin = timedelta(seconds=settings.KORE_LOOKUP_MARGIN_SECONDS)
        max_pages = settings.KORE_SYNC_MAX_PAGES
        try:
            unresolved = PagedRead(self.fetch, {"unresolved": True}, max_pages=max_pages)
            self._apply_read(unresolved)
            created = PagedRead(
                self.fetch,
                {
                    "startDate": format_kore_datetime(self.since),
                    "endDate": format_kore_datetime(self.started + margin),
                },
                max_pages=max_pages,
            )
            self._apply_read(created)
            self.result.complete = unresolved.complete and created.complete
            if unresolved.complete:
                self._closed_meanwhile(unresolved.seen)
            tasks = sync_tasks(
                self.stream,
                self.fetch.tasks,
                since=self.since,
                until=self.started + margin,
                max_pages=max_pages,
            )
            self.result.tasks_changed, self.result.tasks_read = tasks.changed, tasks.complete
        except Paused:
            self.result.paused = True
            self.result.complete = False
        finally:
            self.learner.save(seen_at=self.started)
            self.result.calls = self.fetch.calls
        return self.result

    # --- cases resolved or closed since they were last seen open -------------------------

    def _closed_meanwhile(self, unresolved_ids: set[str]) -> None:
        missing = {
            kore_id: (created, updated)
            for kore_id, created, updated in Case.objects.filter(stream=self.stream)
            .open()
            .filter(kore_missing_since__isnull=True, kore_id__isnull=False)
            .exclude(kore_seen_at__gte=self.started)
            .values_list("kore_id", "kore_created_at", "kore_updated_at")
            .iterator(chunk_size=2000)
            if kore_id not in unresolved_ids
        }
        if not missing:
            return
        statuses = self._closed_statuses()
        by_update = UpdatedSince(
            self.fetch, {"status": statuses}, since=self.since, max_pages=settings.KORE_SYNC_MAX_PAGES
        )
        if self._read_until_found(by_update, missing) and by_update.sorted and missing:
            # Read completely, newest update first, back to the last pass: a case seen alive
            # since then and in neither list is gone from Kore's answers. (Older ones may just
            # have closed before this window: a full re-read tells.)
            gone = [
                kore_id
                for kore_id, (_created, updated) in missing.items()
                if updated and updated >= self.since
            ]
            self.result.missing = Case.objects.filter(
                kore_id__in=gone, kore_missing_since__isnull=True
            ).update(kore_missing_since=self.started)
        elif not by_update.sorted:
            # Kore does not sort by update: ask by status and creation window (a date filter
            # whose meaning is not documented, so nothing is flagged missing from it).
            self._read_by_creation_windows(statuses, {key: created for key, (created, _) in missing.items()})

    def _read_until_found(self, read, missing: dict) -> bool:
        for page in read:
            self.learner.learn(page)
            self.result.applied.add(self.applier.apply(page))
            for case in page:
                missing.pop(case.get("_id"), None)
            if not missing:
                return True
        return read.complete

    def _read_by_creation_windows(self, statuses: list[str], missing: dict) -> bool:
        margin = timedelta(seconds=settings.KORE_LOOKUP_MARGIN_SECONDS)
        moments = sorted(created for created in missing.values() if created is not None)
        if len(moments) < len(missing):
            return False  # a case without a creation date cannot be asked for by window
        windows: list[list[datetime]] = []
        for moment in moments:
            if windows and moment - windows[-1][1] <= WINDOW_GAP:
                windows[-1][1] = moment
            else:
                windows.append([moment, moment])
        complete = True
        for start, end in windows:
            read = PagedRead(
                self.fetch,
                {
                    "status": statuses,
                    "startDate": format_kore_datetime(start - margin),
                    "endDate": format_kore_datetime(end + margin),
                },
                max_pages=settings.KORE_SYNC_MAX_PAGES,
            )
            complete = self._read_until_found(read, missing) and complete
            if not missing:
                return True
        return complete

    def _closed_statuses(self) -> list[str]:
        learned = list(
            KoreStatus.objects.filter(stream=self.stream, category__in=CLOSED_CATEGORIES).values_list(
                "kore_id", flat=True
            )
        )
        return learned or DEFAULT_CLOSED_STATUSES
