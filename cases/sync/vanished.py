"""The local open cases that a complete read of a stream's unresolved cases did not list: resolved
or closed at Kore meanwhile (their new status applied), or gone from Kore's answers (flagged
missing, never deleted).

Kore offers no "updated since" filter, no fetch by id, and documents ``sortBy`` only by example
(``createdDate``). Two reads find these cases, 50 a page:

1. **By update.** The stream's closed statuses, ``sortBy: updatedDate``, read while Kore's answer
   is in order of update, back to the last pass (paging.UpdatedSince): when Kore sorts that way,
   one page per 50 cases closed since the last pass. It only finds: a page in order by chance
   could end it early, so what it does not list is never taken as gone.
2. **By creation window.** Those still not found that the portal saw alive since the last pass
   are asked for by ``startDate``/``endDate`` around their creation, every status, each window
   read to its end (``hasMore``). Cases close together share a window when fewer than a page of
   the stream's cases (as the portal knows them) lie between them, so a window costs about one
   call, and all of them together at most KORE_SYNC_MAX_PAGES; what is left waits for the next
   pass (the pass is then incomplete and the last pass's mark stays).

A case is flagged only when it is absent from a complete read of its window. Why that is proof:
the portal saw it alive since the last pass, and since then it left the unresolved list, so it
was closed (which updated it) or is gone. If Kore's date filter is on the creation date, its
window lists it whatever its status; if it is on the update date, the pass's complete read of
"created since the last pass" has listed it. Only a filter on the due date would list it in
neither, so nothing is flagged until Kore's answers have shown that the filter is not on the due
date: a case listed whose due date lies outside the dates asked for (``StreamSync.dates_not_due``,
learned once). A case the portal last saw before the last pass is left as it is: a full re-read
tells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from cases.kore.answers import parse_case
from cases.kore.dates import format_kore_datetime
from cases.kore.errors import KoreMalformed
from cases.kore.paging import DEFAULT_PAGE_SIZE, Fetch, PagedRead, UpdatedSince
from cases.models import Case, KoreStatus, Stream
from cases.models.open_cases import CLOSED_CATEGORIES

# When Kore has not yet shown the stream's own closed statuses, ask by Kore's default names.
DEFAULT_CLOSED_STATUSES = ["Resolved", "Closed"]
# Kore's createdAt is read back from Kore itself: a window only needs to cover its rounding.
WINDOW_MARGIN = timedelta(seconds=1)


@dataclass
class DateEvidence:
    """What Kore's answers to ``startDate``/``endDate`` have shown: ``not_due`` once a case was
    listed whose due date lies outside the dates asked for (or that has none)."""

    not_due: bool = False

    def note(self, page: list[dict], start: datetime, end: datetime) -> None:
        if self.not_due:
            return
        for raw in page:
            try:
                due = parse_case(raw).due_date
            except KoreMalformed:
                continue
            if due is None or not start <= due <= end:
                self.not_due = True
                return


@dataclass
class Window:
    start: datetime
    end: datetime
    kore_ids: list[str] = field(default_factory=list)


class Vanished:
    """Finds, for one pass, the local open cases missing from its complete read of the unresolved
    ones; ``apply`` takes each page Kore answers (to learn from and apply)."""

    def __init__(
        self,
        stream: Stream,
        *,
        fetch: Fetch,
        apply: Callable[[list[dict]], None],
        since: datetime,
        seen_since: datetime,
        started: datetime,
        evidence: DateEvidence,
    ):
        self.stream, self.fetch, self.apply = stream, fetch, apply
        self.since, self.seen_since, self.started = since, seen_since, started
        self.evidence = evidence
        self.missing = 0
        self.complete = True  # every window that had to be read was read to its end

    def settle(self, *, may_flag: bool) -> None:
        """Find them (by update, then by creation window) and flag the gone ones, when
        ``may_flag``: the pass's read of the cases created since the last pass was complete.
        They are the local open cases this pass did not see: applying marks every case it reads
        (``kore_seen_at``), so no list of the pass's cases is kept in memory."""
        candidates = {
            kore_id: (created, seen)
            for kore_id, created, seen in Case.objects.filter(stream=self.stream)
            .open()
            .filter(kore_missing_since__isnull=True, kore_id__isnull=False)
            .exclude(kore_seen_at__gte=self.started)
            .values_list("kore_id", "kore_created_at", "kore_seen_at")
            .iterator(chunk_size=2000)
        }
        if not candidates:
            return
        by_update = UpdatedSince(
            self.fetch,
            {"status": self._closed_statuses()},
            since=self.since,
            max_pages=settings.KORE_SYNC_MAX_PAGES,
        )
        for page in by_update:
            self._take(page, candidates)
            if not candidates:
                return
        alive_lately = {
            kore_id: created
            for kore_id, (created, seen) in candidates.items()
            if created is not None and seen is not None and seen >= self.seen_since
        }
        absent = self._read_windows(self._windows(alive_lately), candidates)
        if absent and may_flag and self.evidence.not_due:
            for start in range(0, len(absent), 500):
                self.missing += Case.objects.filter(
                    kore_id__in=absent[start : start + 500], kore_missing_since__isnull=True
                ).update(kore_missing_since=self.started)

    def _take(self, page: list[dict], candidates: dict) -> None:
        self.apply(page)
        for case in page:
            candidates.pop(case.get("_id"), None)

    def _windows(self, created: dict[str, datetime]) -> list[Window]:
        windows: list[Window] = []
        for kore_id, moment in sorted(created.items(), key=lambda item: item[1]):
            if windows and self._few_between(windows[-1].end, moment):
                windows[-1].end = moment
                windows[-1].kore_ids.append(kore_id)
            else:
                windows.append(Window(start=moment, end=moment, kore_ids=[kore_id]))
        return windows

    def _few_between(self, after: datetime, before: datetime) -> bool:
        """Fewer than a page of the stream's cases (as the portal knows them) were created
        between two moments: reading them costs less than a window of its own."""
        between = Case.objects.filter(stream=self.stream, created_at__gt=after, created_at__lt=before).values(
            "pk"
        )[:DEFAULT_PAGE_SIZE]
        return between.count() < DEFAULT_PAGE_SIZE

    def _read_windows(self, windows: list[Window], candidates: dict) -> list[str]:
        """Read each window to its end, within the pass's bound; the candidates each complete
        read did not list."""
        absent: list[str] = []
        budget = settings.KORE_SYNC_MAX_PAGES
        for window in windows:
            if budget <= 0:
                self.complete = False
                break
            start, end = window.start - WINDOW_MARGIN, window.end + WINDOW_MARGIN
            read = PagedRead(
                self.fetch,
                {"startDate": format_kore_datetime(start), "endDate": format_kore_datetime(end)},
                max_pages=budget,
            )
            for page in read:
                self._take(page, candidates)
                self.evidence.note(page, start, end)
            budget -= read.pages
            if read.complete:
                absent.extend(kore_id for kore_id in window.kore_ids if kore_id in candidates)
            else:
                self.complete = False
        return absent

    def _closed_statuses(self) -> list[str]:
        learned = list(
            KoreStatus.objects.filter(stream=self.stream, category__in=CLOSED_CATEGORIES).values_list(
                "kore_id", flat=True
            )
        )
        return learned or DEFAULT_CLOSED_STATUSES
