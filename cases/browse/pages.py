"""Keyset pages: one page of cases in any sort, after a cursor, at the same cost on page 1 and
page 10,000. Every sort ends on ``id`` so ties are stable; empty values (no due date, no
priority) come last in either direction."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, timedelta
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import F, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from cases.browse.params import SORTS, Cursor, Sort
from cases.models import Case, CaseQuerySet
from cases.models.cases import day_start
from cases.models.sql import UTC_DAY_SQL


def _ordering(spec: Sort, descending: bool, *, by_id_only: bool = False) -> list:
    id_order = "-id" if descending else "id"
    if by_id_only:
        return [id_order]
    column = F(spec.field).desc() if descending else F(spec.field).asc()
    return [column, id_order]


def _after(spec: Sort, descending: bool, cursor: Cursor) -> Q:
    """Rows after the cursor, written as ``col <= v AND (col < v OR id < i)`` so the (col, id)
    index serves it as one range."""
    op, id_op = ("lt", "lt") if descending else ("gt", "gt")
    return Q(**{f"{spec.field}__{op}e": cursor.value}) & (
        Q(**{f"{spec.field}__{op}": cursor.value}) | Q(**{f"id__{id_op}": cursor.id})
    )


def _cursor_for(spec: Sort, sort: str, row: Case | dict, sort_value: Callable | None = None) -> Cursor:
    if sort_value is not None:
        return Cursor(sort=sort, value=sort_value(row, spec.field), id=row["id"])
    if isinstance(row, dict):
        return Cursor(sort=sort, value=row[spec.field], id=row["id"])
    return Cursor(sort=sort, value=getattr(row, spec.field), id=row.pk)


def page_of(
    queryset: CaseQuerySet,
    *,
    sort: str,
    cursor: Cursor | None,
    size: int,
    load: Callable[[Q], CaseQuerySet] | None = None,
    scan_filter_first: bool = False,
    sort_value: Callable[[Any, str], Any] | None = None,
    due_days: list[date] | None = None,
) -> tuple[list, Cursor | None]:
    """One page of ``size`` rows after ``cursor`` and the cursor of the next page (None at the end).

    ``sort_value(row, column)``, when given, reads a row's sort value for the next cursor
    (rows of ``values()`` that hold it under another name or in another form).

    ``due_days`` (with ``load`` and the created sort): the UTC days of a due range, whose page
    is read a day at a time (see :func:`due_range_days`).

    A nullable sort reads the rows that have a value first, then (when the page is not full)
    the rows without one, ordered by id: at most two queries, each an index range.

    With ``load`` (a condition on ids in, the rows to show out) the page is read id-first, in
    one statement: the page's ids from the filters alone, then their rows joined to what the
    page shows. Joined straight away, SQLite's planner weighs the joins instead of the LIMIT and
    may read and sort every match instead of walking an index for a page's worth of
    rows. A nullable sort then reads both parts' ids in that one statement too.
    """
    spec, descending = SORTS[sort.lstrip("-")], sort.startswith("-")
    ordering = _ordering(spec, descending)
    by_id = _ordering(spec, descending, by_id_only=True)
    valued = empty = None
    if not spec.nullable:
        valued = queryset.filter(_after(spec, descending, cursor)) if cursor else queryset
    else:
        if cursor is None or cursor.value is not None:
            valued = queryset.filter(**{f"{spec.field}__isnull": False})
            if cursor:
                valued = valued.filter(_after(spec, descending, cursor))
        empty = queryset.filter(**{f"{spec.field}__isnull": True})
        if cursor and cursor.value is None:
            empty = empty.filter(**{"id__lt" if descending else "id__gt": cursor.id})

    rows: list = []
    if load is not None:
        id_ordering = ordering
        if scan_filter_first and connection.vendor == "postgresql":
            # PostgreSQL assumes matches spread evenly over the sort's index and walks it,
            # reading 750k rows for a month of due dates; sorting by an expression makes it
            # read the filter's index range and sort that instead (tests/test_due_range_plan.py).
            unindexed = Coalesce(F(spec.field), F(spec.field))
            id_ordering = [unindexed.desc() if descending else unindexed.asc(), ordering[1]]
        valued_ids = valued.order_by(*id_ordering).values("id")[: size + 1] if valued is not None else None
        empty_ids = empty.order_by(*by_id).values("id")[: size + 1] if empty is not None else None
        if due_days and spec.field == "created_at" and not valued.query.is_empty():
            ids = Q(id__in=_first_of_each_due_day(valued, spec, descending, size + 1, due_days))
        elif valued_ids is not None and empty_ids is not None and connection.vendor == "postgresql":
            # One IN list: PostgreSQL reads "IN (a) OR IN (b)" by scanning every case.
            ids = Q(id__in=valued_ids.union(empty_ids, all=True))
        else:
            ids = Q(id__in=valued_ids) if valued_ids is not None else Q()
            if empty_ids is not None:
                ids |= Q(id__in=empty_ids)
        column = F(spec.field).desc(nulls_last=True) if descending else F(spec.field).asc(nulls_last=True)
        rows = list(load(ids).order_by(column, by_id[0])[: size + 1])
    else:
        if valued is not None:
            rows = list(valued.order_by(*ordering)[: size + 1])
        if empty is not None and len(rows) <= size:
            rows += list(empty.order_by(*by_id)[: size + 1 - len(rows)])
    if len(rows) > size:
        rows = rows[:size]
        return rows, _cursor_for(spec, sort, rows[-1], sort_value)
    return rows, None


# A due range of at most this many days is read a day at a time (due_range_days).
MAX_DUE_DAYS = 62


def due_range_days(params: Mapping[str, Any]) -> list[date] | None:
    """The UTC days of a due range of a few weeks shown by creation (newest or oldest first);
    None for an open-ended or longer range, or another sort.

    Due dates follow creation dates, so the newest cases due in a past month lie far down the
    created index, and finding them among all the cases due in the range reads each of those
    (tens of thousands for a month at a million cases). The case_due_day_created index keeps each
    UTC due day's cases in created order, so a page reads at most a page from each day.
    """
    if params["sort"].lstrip("-") != "created" or not (params.get("due_after") and params.get("due_before")):
        return None
    first = day_start(params["due_after"]).astimezone(UTC).date()
    end = day_start(params["due_before"] + timedelta(days=1))  # exclusive
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return days if len(days) <= MAX_DUE_DAYS else None


def _first_of_each_due_day(valued: CaseQuerySet, spec: Sort, descending: bool, limit: int, days: list[date]):
    """The ids of the first ``limit`` rows of ``valued`` in the sort's order, read as the first
    ``limit`` of each UTC due day and merged, in one statement written out here::

        SELECT id FROM (
            SELECT * FROM (SELECT c.id, c.<sort> FROM (<the filtered cases>) AS c
                           WHERE <UTC day of c.due_date> = %s ORDER BY … LIMIT n) AS day0
            UNION ALL … one part per day …
        ) AS merged ORDER BY … LIMIT n

    The filtered cases are Django's own compiled query (no ordering); both databases fold it
    into each part, which then reads the case_due_day_created index for its day.
    """
    try:
        filtered_sql, filtered_params = (
            valued.order_by().values("id", spec.field, "due_date").query.sql_with_params()
        )
    except EmptyResultSet:  # a condition that can match nothing, e.g. a word search with no match
        return []
    vendor = connection.vendor
    day_of_case = UTC_DAY_SQL.get(vendor, UTC_DAY_SQL["sqlite"]).format(column="c.due_date")
    direction = "DESC" if descending else "ASC"
    order = f"{spec.field} {direction}, id {direction}"
    # Only Django's compiled SQL, a column name from SORTS, the day expression and a number are
    # put into the text; the days and every filter value are parameters.
    day_part = (
        f"SELECT c.id, c.{spec.field} FROM ({filtered_sql}) AS c "  # noqa: S608
        f"WHERE {day_of_case} = %s ORDER BY {order} LIMIT {limit}"
    )
    parts, params = [], []
    for n, day in enumerate(days):
        parts.append(f"SELECT * FROM ({day_part}) AS day{n}")  # noqa: S608
        params += [*filtered_params, day if vendor == "postgresql" else day.isoformat()]
    merged = f"SELECT id FROM ({' UNION ALL '.join(parts)}) AS merged ORDER BY {order} LIMIT {limit}"  # noqa: S608
    return RawSQL(merged, params)  # noqa: S611
