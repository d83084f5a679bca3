"""Which cases: the one place that turns browse parameters into a queryset and a page of cases.

The list page, its exports, the dashboard's links and the read API all call :func:`browse_cases`
with the same query parameters::

    q stream template status priority state source submitted_by assignee
    created_after created_before due_after due_before overdue sort cursor page_size

Every multi-valued filter (stream … assignee) may repeat (``status=Open&status=Pending``); values
of one parameter are OR-ed, parameters are AND-ed. Dates are ``YYYY-MM-DD`` in the user's time
zone and both ends are inclusive days. ``status`` matches a status name or a status category.

Pages are keyset-paginated: the cursor holds the last row's sort value and id, so page 10,000
costs what page 1 costs. Every sort ends on ``id`` so ties are stable; empty values (no due
date, no priority) come last in either direction.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import F, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cases.models import Case, CaseQuerySet, CaseTemplate, ColumnsSQL, UtcDay

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
# Counting every match is slow at millions of rows: count up to this and show "10,000+".
COUNT_CAP = 10_000
MAX_VALUES_PER_FILTER = 50

REF_ID_RE = re.compile(r"CS\d+", re.IGNORECASE)
KORE_ID_RE = re.compile(r"ci-[A-Za-z0-9-]+")
PHONE_RE = re.compile(r"\+?[\d\s().-]{6,40}")
WORD_RE = re.compile(r"\w+", re.UNICODE)

# Columns the list and the exports show; the bulky JSON bodies stay in the database.
LIST_DEFERRED = ("request_body", "kore_case", "last_error")


@dataclass(frozen=True)
class Sort:
    """A sort order the list offers: a column, and whether empty values exist (kept last)."""

    key: str
    field: str
    label: str
    nullable: bool = False


SORTS = {
    "created": Sort("created", "created_at", "Created"),
    "due": Sort("due", "due_date", "Due date", nullable=True),
    "priority": Sort("priority", "priority_score", "Priority", nullable=True),
    "status": Sort("status", "status_name", "Status"),
    "refId": Sort("refId", "ref_id", "refId"),
}
DEFAULT_SORT = "-created"
SORT_CHOICES = [
    ("-created", "Newest first"),
    ("created", "Oldest first"),
    ("due", "Due soonest"),
    ("-due", "Due latest"),
    ("-priority", "Highest priority"),
    ("priority", "Lowest priority"),
    ("status", "Status A–Z"),
    ("-status", "Status Z–A"),
    ("-refId", "refId, newest"),
    ("refId", "refId, oldest"),
]
FILTER_PARAMS = (
    "q",
    "stream",
    "template",
    "status",
    "priority",
    "state",
    "source",
    "submitted_by",
    "assignee",
    "created_after",
    "created_before",
    "due_after",
    "due_before",
    "overdue",
)
ALL_PARAMS = (*FILTER_PARAMS, "sort", "cursor", "page_size")


# --- Cursors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: just after the row with this sort value and id."""

    sort: str
    value: Any
    id: int

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = json.dumps([self.sort, value, self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, sort: str) -> Cursor:
        """Read a cursor made by :meth:`encode` for ``sort``; ValueError for anything else."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            cursor_sort, value, row_id = json.loads(raw)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise ValueError("This page link is damaged; start again from the first page.") from None
        if cursor_sort != sort:
            raise ValueError("This page link belongs to another sort order; start again from the first page.")
        if not isinstance(row_id, int) or isinstance(row_id, bool):
            raise ValueError("This page link is damaged; start again from the first page.")
        spec = SORTS[sort.lstrip("-")]
        if value is not None:
            value = _parse_sort_value(spec, value)
        elif not spec.nullable:
            raise ValueError("This page link is damaged; start again from the first page.")
        return cls(sort=sort, value=value, id=row_id)


def _parse_sort_value(spec: Sort, value: Any) -> Any:
    if spec.field in ("created_at", "due_date"):
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise ValueError("This page link is damaged; start again from the first page.")
        return parsed
    if spec.field == "priority_score":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("This page link is damaged; start again from the first page.")
        return value
    if not isinstance(value, str):
        raise ValueError("This page link is damaged; start again from the first page.")
    return value


# --- The form: validation of every parameter ----------------------------------------------


class MultipleValuesField(forms.Field):
    """A parameter that may repeat; blank values are dropped."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[str]:
        if value in (None, ""):
            return []
        values = [value] if isinstance(value, str) else list(value)
        cleaned = [str(v).strip() for v in values if str(v).strip()]
        if len(cleaned) > MAX_VALUES_PER_FILTER:
            raise forms.ValidationError(f"Choose at most {MAX_VALUES_PER_FILTER} values.")
        if any(len(v) > 200 for v in cleaned):
            raise forms.ValidationError("A value is longer than 200 characters.")
        if any("\x00" in v for v in cleaned):
            # No text column can hold one (PostgreSQL refuses the query); found by the API fuzz.
            raise forms.ValidationError("A value contains a null character.")
        return list(dict.fromkeys(cleaned))


class IdsField(MultipleValuesField):
    """Repeated ids of rows the form knows (streams, templates)."""

    def __init__(self, *, known: Mapping[int, str] | None = None, noun: str = "item", **kwargs):
        super().__init__(**kwargs)
        self.known = known or {}
        self.noun = noun

    def to_python(self, value) -> list[int]:
        ids = []
        for text in super().to_python(value):
            if not (text.isascii() and text.isdigit()) or int(text) not in self.known:
                raise forms.ValidationError(f"Unknown {self.noun}: {text}.")
            ids.append(int(text))
        return ids


class FlagField(forms.Field):
    """A yes/no parameter: 1/true/on/yes or 0/false/off/no (empty means no)."""

    widget = forms.TextInput  # not CheckboxInput, which reads any text as True

    def to_python(self, value) -> bool:
        if value in (None, "", False):
            return False
        if value is True:
            return True
        text = str(value).strip().lower()
        if text in {"1", "true", "on", "yes"}:
            return True
        if text in {"0", "false", "off", "no"}:
            return False
        raise forms.ValidationError("Use 1 or 0.")


@dataclass
class FilterChoices:
    """What the filter controls offer: templates and streams, and the values cases carry."""

    templates: list[CaseTemplate] = field(default_factory=list)
    values: dict[str, list[str]] = field(default_factory=dict)

    @property
    def streams(self) -> list[tuple[int, str]]:
        seen: dict[int, str] = {}
        for template in self.templates:
            seen.setdefault(template.stream_id, template.stream.name)
        return sorted(seen.items(), key=lambda item: item[1].lower())

    @classmethod
    def load(cls, user, *, with_values: bool = True) -> FilterChoices:
        """Two queries: the templates with their streams that ``user`` may see (every case has
        one, so every stream holding cases is among them), and the distinct values of the text
        columns."""
        templates = list(
            CaseTemplate.objects.visible_to(user).select_related("stream").order_by("stream__name", "name")
        )
        return cls(templates=templates, values=distinct_case_values() if with_values else {})


# Distinct values found by walking each column's index (a loose index scan): one seek per value,
# so it costs the same at 10k and at 10M rows.
DISTINCT_COLUMNS = {
    "status": "status_name",
    "category": "status_category",
    "priority": "priority_name",
    "source": "source",
    "assignee": "assignee_name",
}
MAX_DISTINCT = 100
# Only the constant column names above are put into this SQL; no user input.
LOOSE_SCAN_CTE = (
    "{name}(v, n) AS (SELECT MIN({column}), 1 FROM cases_case WHERE {column} > '' "
    "UNION ALL SELECT (SELECT MIN({column}) FROM cases_case WHERE {column} > {name}.v), "
    "{name}.n + 1 FROM {name} WHERE {name}.v IS NOT NULL AND {name}.n < {limit})"
)


def distinct_case_values() -> dict[str, list[str]]:
    parts, selects = [], []
    for index, (key, column) in enumerate(DISTINCT_COLUMNS.items()):
        name = f"d{index}"
        parts.append(LOOSE_SCAN_CTE.format(name=name, column=column, limit=MAX_DISTINCT))
        selects.append(f"SELECT '{key}', v FROM {name} WHERE v IS NOT NULL")  # noqa: S608
    # Only constant column names are interpolated (DISTINCT_COLUMNS); no user input.
    sql = "WITH RECURSIVE " + ", ".join(parts) + " " + " UNION ALL ".join(selects)
    values: dict[str, list[str]] = {key: [] for key in DISTINCT_COLUMNS}
    with connection.cursor() as cursor:
        cursor.execute(sql)
        for key, value in cursor.fetchall():
            values[key].append(value)
    return values


class BrowseForm(forms.Form):
    """Validates the browse parameters; every problem is reported beside its parameter."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    stream = IdsField(required=False, noun="stream")
    template = IdsField(required=False, noun="template")
    status = MultipleValuesField(required=False)
    priority = MultipleValuesField(required=False)
    state = forms.MultipleChoiceField(required=False, choices=Case.State.choices, label="Delivery")
    source = MultipleValuesField(required=False)
    submitted_by = MultipleValuesField(required=False, label="Submitted by")
    assignee = MultipleValuesField(required=False)
    created_after = forms.DateField(required=False, label="Created from")
    created_before = forms.DateField(required=False, label="Created until")
    due_after = forms.DateField(required=False, label="Due from")
    due_before = forms.DateField(required=False, label="Due until")
    overdue = FlagField(required=False, label="Overdue only")
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES)
    cursor = forms.CharField(required=False, max_length=500)
    page_size = forms.TypedChoiceField(
        required=False,
        coerce=int,
        choices=[(str(size), str(size)) for size in PAGE_SIZES],
        empty_value=DEFAULT_PAGE_SIZE,
        label="Per page",
    )

    def __init__(self, data=None, *, choices: FilterChoices | None = None, **kwargs):
        super().__init__(data, **kwargs)
        self.choices = choices or FilterChoices()
        self.fields["stream"].known = dict(self.choices.streams)
        self.fields["template"].known = {t.pk: t.name for t in self.choices.templates}

    def clean_q(self) -> str:
        return " ".join(self.cleaned_data["q"].split())

    def clean_sort(self) -> str:
        return self.cleaned_data["sort"] or DEFAULT_SORT

    def clean(self):
        cleaned = super().clean()
        for start, end in (("created_after", "created_before"), ("due_after", "due_before")):
            if cleaned.get(start) and cleaned.get(end) and cleaned[start] > cleaned[end]:
                self.add_error(end, "The end date is before the start date.")
        if cleaned.get("cursor") and "sort" in cleaned:
            try:
                cleaned["cursor"] = Cursor.decode(cleaned["cursor"], cleaned["sort"])
            except ValueError as exc:
                self.add_error("cursor", str(exc))
        else:
            cleaned["cursor"] = None
        return cleaned

    def error_list(self) -> list[str]:
        """Every problem as one sentence naming its parameter (for a 400 answer)."""
        return [f"{name}: {message}" for name, messages in self.errors.items() for message in messages]


# --- Filters and search -------------------------------------------------------------------


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def filter_cases(queryset: CaseQuerySet, params: Mapping[str, Any]) -> CaseQuerySet:
    """Apply validated filters (BrowseForm.cleaned_data); search and paging are separate."""
    if params.get("stream"):
        queryset = queryset.filter(stream_id__in=params["stream"])
    if params.get("template"):
        queryset = queryset.filter(template_id__in=params["template"])
    if params.get("status"):
        queryset = queryset.filter(
            Q(status_name__in=params["status"]) | Q(status_category__in=params["status"])
        )
    if params.get("priority"):
        queryset = queryset.filter(priority_name__in=params["priority"])
    if params.get("state"):
        queryset = queryset.filter(state__in=params["state"])
    if params.get("source"):
        queryset = queryset.filter(source__in=params["source"])
    if params.get("submitted_by"):
        queryset = queryset.filter(submitted_by__username__in=params["submitted_by"])
    if params.get("assignee"):
        queryset = queryset.filter(assignee_name__in=params["assignee"])
    if params.get("created_after"):
        queryset = queryset.filter(created_at__gte=_day_start(params["created_after"]))
    if params.get("created_before"):
        queryset = queryset.filter(created_at__lt=_day_start(params["created_before"] + timedelta(days=1)))
    if params.get("due_after"):
        queryset = queryset.filter(due_date__gte=_day_start(params["due_after"]))
    if params.get("due_before"):
        queryset = queryset.filter(due_date__lt=_day_start(params["due_before"] + timedelta(days=1)))
    if params.get("overdue"):
        queryset = queryset.overdue()
    return queryset


def search_kind(q: str) -> str:
    """How a search text is read: ``ref_id``, ``kore_id``, ``email``, ``phone`` or ``words``."""
    if REF_ID_RE.fullmatch(q):
        return "ref_id"
    if KORE_ID_RE.fullmatch(q):
        return "kore_id"
    if "@" in q:
        return "email"
    if PHONE_RE.fullmatch(q) and sum(ch.isdigit() for ch in q) >= 6:
        return "phone"
    return "words"


def search_cases(queryset: CaseQuerySet, q: str) -> CaseQuerySet:
    """Cases matching a search box (see :meth:`CaseQuerySet.search`); a word search through the
    full-text index, which suits counting and reading the matches in any order. To read them
    in pages in the list's order, see :func:`cases_to_page`."""
    q = " ".join((q or "").split())
    if not q:
        return queryset
    kind = search_kind(q)
    if kind == "ref_id":
        return queryset.filter(ref_id=q.upper())
    if kind == "kore_id":
        return queryset.filter(kore_id=q)
    if kind == "email":
        return queryset.alias(requester_email_lower=Lower("requester_email")).filter(
            requester_email_lower=q.lower()
        )
    if kind == "phone":
        return queryset.filter(requester_phone=q)
    words = WORD_RE.findall(q)
    if not words:
        return queryset.none()
    return _words_from_index(queryset, words)


# A word search first reads up to this many matching ids (cases_to_page); beyond it the total
# shows as "1,000+".
WORD_COUNT_CAP = 1000
SQLITE_WORD_IDS = "SELECT rowid FROM cases_case_fts WHERE cases_case_fts MATCH %s"
# PostgreSQL: search_words, a stored tsvector column with a GIN index (migration 0009), matched
# by the operator the index serves, or by the function behind it when walking another index.
POSTGRES_QUERY = "plainto_tsquery('simple'::regconfig, %s)"
POSTGRES_WORDS = "{table}.search_words @@ " + POSTGRES_QUERY
POSTGRES_WORDS_WALKED = "ts_match_vq({table}.search_words, " + POSTGRES_QUERY + ")"


def _fts_match(words: list[str]) -> str:
    """An FTS5 query for every word, each quoted (so no word is read as an operator)."""
    return " ".join('"{}"'.format(word.replace('"', '""')) for word in words)


def _words_from_index(queryset: CaseQuerySet, words: list[str]) -> CaseQuerySet:
    """Every word in the name or description, the matches read from the full-text index."""
    if connection.vendor == "sqlite":
        return queryset.filter(ColumnsSQL("{id} IN (" + SQLITE_WORD_IDS + ")", (_fts_match(words),), id="id"))
    if connection.vendor == "postgresql":
        return queryset.filter(ColumnsSQL(POSTGRES_WORDS, (" ".join(words),), id="id"))
    for word in words:  # other databases: correct, without an index
        queryset = queryset.filter(Q(name__icontains=word) | Q(desc__icontains=word))
    return queryset


def _words_while_walking(queryset: CaseQuerySet, words: list[str]) -> CaseQuerySet:
    """The same condition written so the database cannot drive the query from the word index
    but walks the list's own index in order, checking each case.

    SQLite: the unary + keeps it from reading the matches by id. PostgreSQL: the function
    behind ``@@`` instead of the operator, which no index serves and which the planner
    takes to match a third of the cases (as it does any boolean function): so it expects a
    page after a few rows walked rather than reading the whole table and sorting it.
    """
    if connection.vendor == "sqlite":
        return queryset.filter(
            ColumnsSQL("+{id} IN (" + SQLITE_WORD_IDS + ")", (_fts_match(words),), id="id")
        )
    if connection.vendor == "postgresql":
        return queryset.filter(ColumnsSQL(POSTGRES_WORDS_WALKED, (" ".join(words),), id="id"))
    return _words_from_index(queryset, words)


def _first_word_matches(queryset: CaseQuerySet, words: list[str], limit: int) -> list[int]:
    """The ids of up to ``limit`` cases of ``queryset`` holding every word, in no order, so the
    database stops at the limit instead of reading every match to sort it.

    SQLite reads the word index's matches in turn and looks each case up; written as
    "id IN (matches)" it would first collect every match (7 ms for a word in 5% of a million
    cases, against 2).
    """
    if connection.vendor != "sqlite":
        return list(_words_from_index(queryset, words).order_by().values_list("id", flat=True)[:limit])
    try:
        sql, params = queryset.order_by().values("id").query.sql_with_params()
    except EmptyResultSet:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            # The cases' SQL is compiled by Django from validated filters; the words are a parameter.
            f"SELECT c.id FROM cases_case_fts CROSS JOIN ({sql}) AS c ON c.id = cases_case_fts.rowid "  # noqa: S608
            "WHERE cases_case_fts MATCH %s LIMIT %s",
            (*params, _fts_match(words), limit),
        )
        return [row[0] for row in cursor.fetchall()]


@dataclass
class PagedMatches:
    """Matching cases shaped to be read in pages in order, and their total when finding them
    already counted it (a word search)."""

    cases: CaseQuerySet
    counted: tuple[int, bool] | None = None


def cases_to_page(user, params: Mapping[str, Any]) -> PagedMatches:
    """The cases a user may see that match validated parameters, to be read in pages in order.

    A word search first reads up to WORD_COUNT_CAP + 1 matching ids through the word index, with
    every filter (one query). That many or fewer: they are its total, and a page sorts just
    them. More: the total is "1,000+", and a page walks the sort's own index keeping the
    matches, which fills quickly when matches are that common (about 20 cases walked per row
    for a word in 5% of them). Either way no page reads or sorts every match, which takes
    tens of milliseconds for a common word at a million cases.
    """
    filtered = Case.objects.visible_to(user).filter_by(params)
    q = " ".join((params.get("q") or "").split())
    words = WORD_RE.findall(q) if q and search_kind(q) == "words" else []
    if not words:
        return PagedMatches(search_cases(filtered, q))
    ids = _first_word_matches(filtered, words, WORD_COUNT_CAP + 1)
    if len(ids) <= WORD_COUNT_CAP:
        return PagedMatches(filtered.filter(id__in=ids), (len(ids), False))
    return PagedMatches(_words_while_walking(filtered, words), (WORD_COUNT_CAP, True))


# --- Sorting and keyset pages -------------------------------------------------------------


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
    may read and sort every match (150 ms at a million cases) instead of walking an index for 51
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
            # read the filter's index range and sort that instead.
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
_ANY_DAY = date(1, 1, 1)  # stands for each day in the statement compiled once


def due_range_days(params: Mapping[str, Any]) -> list[date] | None:
    """The UTC days of a due range of a few weeks shown by creation (newest or oldest first);
    None for an open-ended or longer range, or another sort.

    Due dates follow creation dates, so the newest cases due in a past month lie far down the
    created index, and finding them among all the cases due in the range reads each of those
    (77,000 for a month at a million cases: 10 ms). The case_due_day_created index keeps each
    UTC due day's cases in created order, so a page reads at most a page from each day.
    """
    if params["sort"].lstrip("-") != "created" or not (params.get("due_after") and params.get("due_before")):
        return None
    first = _day_start(params["due_after"]).astimezone(UTC).date()
    end = _day_start(params["due_before"] + timedelta(days=1))  # exclusive
    last = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return days if len(days) <= MAX_DUE_DAYS else None


def _first_of_each_due_day(valued: CaseQuerySet, spec: Sort, descending: bool, limit: int, days: list[date]):
    """The ids of the first ``limit`` rows of ``valued`` in the sort's order, read as the first
    ``limit`` of each due day, merged: one statement. Each day's part is the same SQL with its
    own day; Django compiles it once (compiling a subquery per day cost more than it saved)."""
    part = (
        valued.alias(due_day=UtcDay("due_date"))
        .filter(due_day=_ANY_DAY)
        .order_by(*_ordering(spec, descending))
        .values("id", spec.field)[:limit]
    )
    sql, params = part.query.sql_with_params()
    slot = max(n for n, value in enumerate(params) if value in (_ANY_DAY, _ANY_DAY.isoformat()))
    as_text = isinstance(params[slot], str)
    parts, all_params = [], []
    for n, day in enumerate(days):
        parts.append(f"SELECT * FROM ({sql}) AS day{n}")  # noqa: S608
        all_params += [*params[:slot], day.isoformat() if as_text else day, *params[slot + 1 :]]
    direction = "DESC" if descending else "ASC"
    # Only Django's compiled SQL, a column name from SORTS and a number are put in; no user input.
    merged = (
        f"SELECT id FROM ({' UNION ALL '.join(parts)}) AS merged "  # noqa: S608
        f"ORDER BY {spec.field} {direction}, id {direction} LIMIT {limit}"
    )
    return RawSQL(merged, all_params)  # noqa: S611


def count_capped(queryset: CaseQuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """The number of matches, counted up to ``cap`` (and whether there are more)."""
    count = queryset.order_by().values("id")[: cap + 1].count()
    return min(count, cap), count > cap


def count_matches(user, params: Mapping[str, Any], cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many cases match validated parameters, counted up to ``cap``.

    On PostgreSQL a status filter (a status name or category) is counted as the union of the
    cases with that name and those with that category, each counted up to the cap from its
    own index: as one "name IN … OR category IN …" condition it can only combine the two
    indexes into a bitmap and read every counted case (10 ms at a million cases instead of
    4). SQLite counts the OR from its indexes already.
    """
    statuses = params.get("status")
    if not statuses or connection.vendor != "postgresql":
        return count_capped(matching_cases(user, params), cap)
    others = matching_cases(user, {**params, "status": []}).order_by()
    by_name = others.filter(status_name__in=statuses).values("id")[: cap + 1]
    by_category = others.filter(status_category__in=statuses).values("id")[: cap + 1]
    count = by_name.union(by_category).count()
    return min(count, cap), count > cap


# --- The entry point ----------------------------------------------------------------------


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
    return search_cases(Case.objects.visible_to(user).filter_by(params), params.get("q", ""))


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


def filter_query_string(params: Mapping[str, Any], **changes: Any) -> str:
    """The query string of the given (raw) parameters with some changed; None removes one."""
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    for name in ALL_PARAMS:
        if name in changes:
            continue
        values = params.getlist(name) if hasattr(params, "getlist") else _as_list(params.get(name))
        values = [v for v in values if v not in ("", None)]
        if values:
            query.setlist(name, values)
    for name, value in changes.items():
        if value not in (None, ""):
            query.setlist(name, _as_list(value))
    return query.urlencode()


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
