"""Reading getCases page after page, whatever Kore's undocumented paging keys mean.

Each request sends ``page``, ``limit`` and ``skip`` (the cases received so far), so any reading
of the keys, and a page size Kore chooses itself, lands on the next unseen case; ``hasMore`` is
followed (``totalPages`` when it is missing), and every read is bounded. ``fetch`` makes one
call (and takes its own pacing slot): the workflows decide how calls are paced and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from cases.kore.dates import parse_kore_datetime

DEFAULT_PAGE_SIZE = 50  # the documented answer's own page size
Fetch = Callable[[dict], dict]


@dataclass(frozen=True)
class CasePage:
    """One getCases answer: its cases (raw dicts), whether more follow, how many pages in all."""

    results: list[dict]
    has_more: bool
    total_pages: int | None = None


def _count(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_case_page(payload: dict, *, asked_limit: int, page: int) -> CasePage:
    """Read ``{results, hasMore, totalPages, totalResults}``; ``hasMore`` wins when present."""
    results = [item for item in payload.get("results") or [] if isinstance(item, dict)]
    total_pages = _count(payload.get("totalPages"))
    has_more = payload.get("hasMore")
    if not isinstance(has_more, bool):
        # Without any paging facts, a full page may have a next one.
        has_more = page < total_pages if total_pages is not None else len(results) >= asked_limit
    return CasePage(results=results, has_more=has_more, total_pages=total_pages)


@dataclass
class PagedRead:
    """A getCases query read page by page: iterate it for each page's new cases; afterwards
    ``complete`` says whether the last page was reached within ``max_pages``."""

    fetch: Fetch
    filters: dict
    max_pages: int
    page_size: int = DEFAULT_PAGE_SIZE
    pages: int = 0
    received: int = 0
    complete: bool = False
    # The ids of the page before: a case created meanwhile shifts the rest by one, so a page may
    # begin with the last case of the one before. Only that page is kept, so a read's memory does
    # not grow with its length; applying a case twice changes nothing.
    previous: set = field(default_factory=set)

    def __iter__(self) -> Iterator[list[dict]]:
        for page in range(1, self.max_pages + 1):
            answer = self.fetch(
                {**self.filters, "page": page, "limit": self.page_size, "skip": self.received}
            )
            parsed = parse_case_page(answer, asked_limit=self.page_size, page=page)
            self.pages = page
            self.received += len(parsed.results)
            fresh = [case for case in parsed.results if case.get("_id") not in self.previous]
            self.previous = {case.get("_id") for case in parsed.results}
            yield fresh
            if not parsed.has_more:
                self.complete = True
                return
            if not parsed.results:
                return  # more promised, none given: incomplete


@dataclass
class Reading:
    """Every case a paged getCases query answered, and whether the reading was complete."""

    cases: list[dict] = field(default_factory=list)
    pages: int = 0
    complete: bool = False


def read_all_pages(
    fetch: Fetch, filters: dict, *, max_pages: int, page_size: int = DEFAULT_PAGE_SIZE
) -> Reading:
    """Every case of a query (for a look-up: a few pages at most), collected."""
    read = PagedRead(fetch, filters, max_pages=max_pages, page_size=page_size)
    by_id = {case.get("_id"): case for page in read for case in page}  # each case once
    return Reading(cases=list(by_id.values()), pages=read.pages, complete=read.complete)


# --- Newest updates first ----------------------------------------------------------------


def _updated(case: dict) -> datetime | None:
    return parse_kore_datetime(case.get("updatedAt"))


def _direction(results: list[dict]) -> str | None:
    """ "desc" or "asc" when a page's cases are in order of ``updatedAt``, None when they are not."""
    moments = [_updated(case) for case in results]
    if any(moment is None for moment in moments):
        return None
    if all(a >= b for a, b in zip(moments, moments[1:], strict=False)):
        return "desc"
    if all(a <= b for a, b in zip(moments, moments[1:], strict=False)):
        return "asc"
    return None


def _in_order(results: list[dict], direction: str, older_than: datetime | None) -> bool:
    """A page is in ``direction``'s order of update, none of it newer than ``older_than`` (the
    oldest update of the page read before it)."""
    moments = [_updated(case) for case in results]
    if any(moment is None for moment in moments):
        return False
    pairs = zip(moments, moments[1:], strict=False)
    if not all(a >= b if direction == "desc" else a <= b for a, b in pairs):
        return False
    return older_than is None or not moments or max(moments) <= older_than


@dataclass
class UpdatedSince:
    """The cases of a query updated since a moment, read newest update first, as far as Kore's
    answer shows that order.

    ``sortBy`` is documented only by example (``createdDate``); ``updatedDate`` is asked for, and
    the answer's own order decides: newest first, the pages are read until they reach older
    updates; oldest first, from the last page backwards. When a page (or the edge between two
    pages) is in neither order, Kore does not sort that way: ``sorted`` turns False and the
    reading stops. A page may look sorted by chance, so the reading *finds* cases but never
    proves one absent; ``complete`` says only that it reached older updates or the end.
    """

    fetch: Fetch
    filters: dict
    since: datetime
    max_pages: int
    page_size: int = DEFAULT_PAGE_SIZE
    pages: int = 0
    sorted: bool = True
    complete: bool = False

    def _page(self, number: int, limit: int) -> CasePage:
        query = {**self.filters, "sortBy": "updatedDate", "page": number, "limit": limit}
        answer = self.fetch({**query, "skip": (number - 1) * limit})
        self.pages += 1
        return parse_case_page(answer, asked_limit=limit, page=number)

    def _recent(self, results: list[dict]) -> list[dict]:
        return [case for case in results if (_updated(case) or self.since) >= self.since]

    def __iter__(self) -> Iterator[list[dict]]:
        first = self._page(1, self.page_size)
        direction = _direction(first.results) if len(first.results) > 1 else "desc"
        if direction is None:
            self.sorted = False
            return
        # Kore may choose its own page size: page through at the size it answers.
        limit = len(first.results) if first.has_more and first.results else self.page_size
        # Newest first reads pages 1, 2, …; oldest first reads from the last page backwards.
        step = 1 if direction == "desc" else -1
        number = 1 if direction == "desc" else first.total_pages or 1
        page = first if number == 1 else self._page(number, limit)
        if step == 1:
            first = None  # read once, newest first: not held while the next pages are read
        older_than = None
        while True:
            if not _in_order(page.results, direction, older_than):
                self.sorted = False
                return
            yield self._recent(page.results)
            moments = [_updated(case) for case in page.results]
            older_than = min(moments) if moments else older_than
            last = not page.has_more if step == 1 else number == 1
            if last or (older_than is not None and older_than < self.since):
                self.complete = True
                return
            if self.pages >= self.max_pages or not page.results:
                return
            number += step
            page = first if number == 1 else self._page(number, limit)
