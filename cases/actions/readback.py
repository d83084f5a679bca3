"""Reading a case or a task back from Kore after an answer was lost, before anything is sent
again. Kore has no fetch by id: a case is looked up by its title (the new one when the change
renames it, then the old) and a date range holding its creation, now and its due dates; a task
by its case, its name and the same range (getTasks). Every page is read (paged, bounded, each in
its own turn at the rate limit) until the one with the right ``_id``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from cases.kore.dates import format_kore_datetime, parse_kore_datetime
from cases.kore.paging import PagedRead
from cases.models import Case, CaseAction, CaseTask

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
