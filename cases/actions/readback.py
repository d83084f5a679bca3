"""Reading a case or a task back from Kore after an answer was lost, before anything is sent
again. Kore has no fetch by id: a case is looked up by its title (the new one when the change
renames it, then the old) and a date range holding its creation, now and its due dates; a task
by its case, its name and the same range (getTasks). Every page is read (paged, bounded, each in
its own turn at the rate limit) until the one with the right ``_id``."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from cases.delivery import fair
from cases.kore.dates import format_kore_datetime, parse_kore_datetime
from cases.kore.paging import PagedRead
from cases.models import Case, CaseAction, CaseTask


class NoTurn(Exception):
    """No turn at the rate limit came in time for the next page of a read back."""


def paced_fetch(
    stream, share: fair.Share, *, limit: int, read: Callable[[dict], dict], still_sending: Callable[[], None]
) -> Callable[[dict], dict]:
    """A page reader for a read back or a look-up: the first page uses the turn the caller holds,
    each later one waits for its own (NoTurn when none comes in time); ``still_sending`` keeps
    the row's claim fresh, so the sweep does not take it back mid-read."""
    pages = 0

    def fetch(query: dict) -> dict:
        nonlocal pages
        if pages and limit:
            slot = fair.wait_for_turn(
                stream, share, limit=limit, give_up_after=settings.KORE_PACING_HORIZON_SECONDS * 4
            )
            if slot is None:
                raise NoTurn
            time.sleep(slot.wait())
        pages += 1
        still_sending()
        return read(query)

    return fetch


Fetch = Callable[[dict], dict]


def _window(*moments) -> dict:
    margin = timedelta(seconds=settings.KORE_LOOKUP_MARGIN_SECONDS)
    known = [moment for moment in moments if moment is not None]
    return {
        "startDate": format_kore_datetime(min(known) - margin),
        "endDate": format_kore_datetime(max(known) + margin),
    }


def _find(fetch: Fetch, filters: dict, kore_id: str) -> dict | None:
    read = PagedRead(fetch, filters, max_pages=settings.KORE_LOOKUP_MAX_PAGES)
    for page in read:
        for found in page:
            if found.get("_id") == kore_id:
                return found
    return None


def case_back(action: CaseAction, fetch: Fetch) -> dict | None:
    """The case as getCases lists it now, or None when Kore does not list it so."""
    case: Case = action.case
    titles = [action.body.get("name"), case.name]
    window = _window(
        case.kore_created_at or case.created_at,
        timezone.now(),
        case.due_date,
        parse_kore_datetime(action.body.get("dueDate")),
    )
    tried = set()
    for title in titles:
        if not isinstance(title, str) or not title.strip() or title in tried:
            continue
        tried.add(title)
        found = _find(fetch, {"searchText": title, **window}, case.kore_id)
        if found is not None:
            return found
    return None


def task_back(task: CaseTask, fetch: Fetch, *, names: list[str]) -> dict | None:
    """The task as getTasks lists it now (trimmed), or None when Kore does not list it so."""
    window = _window(task.kore_created_at or task.created_at, timezone.now())
    tried = set()
    for name in [*names, task.name]:
        if not isinstance(name, str) or not name.strip() or name in tried:
            continue
        tried.add(name)
        found = _find(fetch, {"caseId": task.case.kore_id, "searchText": name, **window}, task.kore_id)
        if found is not None:
            return found
    return None
