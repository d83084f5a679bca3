"""Which cases, and one page of them: the entry point the list page, its exports and the read
API share (:func:`browse_cases`), and the counting of matches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Q

from cases.browse.pages import due_range_days, page_of
from cases.browse.params import SORTS, BrowseForm, FilterChoices
from cases.browse.search import cases_to_page
from cases.models import Case, CaseQuerySet

# Counting every match is slow at millions of rows: count up to this and show "10,000+".
COUNT_CAP = 10_000
# Columns the list and the exports show; the bulky JSON bodies stay in the database.
LIST_DEFERRED = ("request_body", "kore_case", "last_error")


def count_capped(queryset: CaseQuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """The number of matches, counted up to ``cap`` (and whether there are more)."""
    count = queryset.order_by().values("id")[: cap + 1].count()
    return min(count, cap), count > cap


def count_matches(user, params: Mapping[str, Any], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many cases match validated parameters, counted up to ``cap``.

    On PostgreSQL a status filter (a status name or category) is counted as the union of the
    cases with that name and those with that category, each counted up to the cap from its
    own index: as one "name IN … OR category IN …" condition it can only combine the two
    indexes into a bitmap and read every counted case. SQLite counts the OR from its indexes
    already.
    """
    statuses = params.get("status")
    if not statuses or connection.vendor != "postgresql":
        return count_capped(matching_cases(user, params), cap)
    others = matching_cases(user, {**params, "status": []}).order_by()
    by_name = others.filter(status_name__in=statuses).values("id")[: cap + 1]
    by_category = others.filter(status_category__in=statuses).values("id")[: cap + 1]
    count = by_name.union(by_category).count()
    return min(count, cap), count > cap


@dataclass
class BrowseResult:
    form: BrowseForm
    cases: list[Case] = field(default_factory=list)
    next_cursor: str | None = None
    total: int | None = None
    total_is_capped: bool = False

    @property
    def ok(self) -> bool:
        return self.form.is_valid()

    @property
    def errors(self) -> list[str]:
        return self.form.error_list()

    @property
    def params(self) -> dict[str, Any]:
        return self.form.cleaned_data if self.ok else {}


def matching_cases(user, params: Mapping[str, Any]) -> CaseQuerySet:
    """The cases a user may see that match validated parameters (unordered, unpaged)."""
    return Case.objects.visible_to(user).filter_by(params).search(params.get("q", ""))


def reads_filter_first(params: Mapping[str, Any]) -> bool:
    """A due-date range (a few % of the cases) sorted by something else: read the range and
    sort it (see :func:`page_of`)."""
    due_range = bool(params.get("due_after") or params.get("due_before"))
    return due_range and SORTS[params["sort"].lstrip("-")].field != "due_date"


def list_rows(ids: Q) -> CaseQuerySet:
    """The cases whose ids meet this condition as the list shows them: with stream, template
    and submitter."""
    return Case.objects.filter(ids).select_related("stream", "template", "submitted_by").defer(*LIST_DEFERRED)


def browse_cases(
    user, data: Mapping[str, Any], *, choices: FilterChoices | None = None, with_total: bool = True
) -> BrowseResult:
    """Validate browse parameters (a QueryDict or dict) and read one page of a user's cases.

    Bad parameters give a result whose ``ok`` is False and ``errors`` lists every problem;
    nothing is read then.
    """
    if choices is None:
        choices = FilterChoices.load(user, with_values=False)
    form = BrowseForm(data, choices=choices)
    result = BrowseResult(form=form)
    if not form.is_valid():
        return result
    params = form.cleaned_data
    matches = cases_to_page(user, params)
    cases, next_cursor = page_of(
        matches.cases,
        sort=params["sort"],
        cursor=params["cursor"],
        size=params["page_size"],
        load=list_rows,
        scan_filter_first=reads_filter_first(params),
        due_days=due_range_days(params),
    )
    result.cases = cases
    result.next_cursor = next_cursor.encode() if next_cursor else None
    if with_total and params["cursor"] is None and next_cursor is None:
        result.total = len(cases)  # the first page holds every match: nothing left to count
    elif with_total:
        result.total, result.total_is_capped = matches.counted or count_matches(user, params)
    return result
