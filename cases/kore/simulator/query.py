"""Stored cases and tasks as records, and getCases'/getTasks' filters, order and paging over them.

A ``Record`` keeps a stored document (as getCases would list it) beside its moments as epoch
milliseconds, so filtering and sorting a stream of 20,000 cases parses no date. Records of a
stream arrive oldest ``createdAt`` first: newest-first (the default) is a reversal, and only a
sort by update or due date sorts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from cases.kore.dates import epoch_ms, format_kore_datetime, parse_kore_datetime
from cases.kore.simulator.catalog import CLOSED_CATEGORIES, StreamCatalog
from cases.kore.simulator.readings import SEARCHED_CHARS, Readings
from cases.kore.simulator.responses import Refused

DAY_MS = 86_400_000
ARRAY_FILTERS = ("status", "priority", "channel", "queues")
BOOLEAN_FILTERS = ("unresolved", "unassigned", "mycase", "mytask")
# sortBy names: the documented ``createdDate``, its twin for updates, and the due date (getTasks'
# sample sorts by ``{"dueDate": "desc"}``); the stored names are accepted too.
SORT_KEYS = {
    "createddate": "created",
    "createdat": "created",
    "updateddate": "updated",
    "updatedat": "updated",
    "duedate": "due",
    "eta": "due",
}


def now_ms() -> int:
    return epoch_ms(datetime.now(UTC))


def iso(ms: int) -> str:
    """Epoch milliseconds written as Kore writes dates: ``2026-09-04T14:15:00.000Z``."""
    return format_kore_datetime(datetime.fromtimestamp(ms / 1000, tz=UTC))


def moment_ms(value: Any) -> int | None:
    parsed = parse_kore_datetime(value)
    return epoch_ms(parsed) if parsed else None


class Record:
    """A stored case or task (``doc``, as getCases would list it) and the moments queries use."""

    # ``unresolved`` is kept beside the document: the filter a sync reads most, over thousands
    # of records, without reaching into each (scattered) document.
    __slots__ = ("doc", "created", "updated", "due", "unresolved")

    def __init__(self, doc: dict, created: int, updated: int, due: int | None) -> None:
        self.doc, self.created, self.updated, self.due = doc, created, updated, due
        self.unresolved = doc["status"]["statusCategory"] not in CLOSED_CATEGORIES

    def set_status(self, status: dict) -> None:
        self.doc["status"] = status
        self.unresolved = status["statusCategory"] not in CLOSED_CATEGORIES

    def touch(self, at_ms: int | None = None) -> None:
        """Bump ``updatedAt``: always later than before, even for two changes in one millisecond."""
        self.updated = max(at_ms or now_ms(), self.updated + 1)
        self.doc["updatedAt"] = iso(self.updated)
        self.doc["timestampValue"] = self.updated

    def set_due(self, ms: int | None) -> None:
        self.due = ms
        self.doc["ETA"] = iso(ms) if ms is not None else ""


def page_of(
    records: list[Record],
    body: dict,
    readings: Readings,
    stream: StreamCatalog,
    *,
    paging: str,
    render: Callable[[Record], dict],
    extra: list[Callable[[Record], bool]] | None = None,
) -> dict:
    """One page of ``{results, page, limit, hasMore, totalPages, totalResults}``.

    Filters are checked first (every problem listed), then applied in one pass; the records
    arrive oldest first, so only a sort by update or due date sorts.
    """
    found = records
    for test in filters(body, readings, stream) + (extra or []):
        found = [record for record in found if test(record)]  # each filter narrows the next pass
    key, descending = sort_order(body.get("sortBy"), readings)
    if key == "created":
        ordered = found[::-1] if descending else found
    else:
        missing = -math.inf if descending else math.inf

        def moment(record: Record) -> float:
            value = getattr(record, key)
            return missing if value is None else value

        ordered = sorted(found, key=moment, reverse=descending)
    limit = readings.page_size or _number(body.get("limit"), 50, low=1, high=100)
    if paging == "skip":
        skip = _number(body.get("skip"), 0, low=0)
        page = skip // limit + 1
    else:
        page = _number(body.get("page"), 1, low=1)
        skip = (page - 1) * limit
    total = len(ordered)
    return {
        "results": [render(record) for record in ordered[skip : skip + limit]],
        "page": page,
        "limit": limit,
        "hasMore": skip + limit < total,
        "totalPages": max(1, math.ceil(total / limit)),
        "totalResults": total,
    }


def sort_order(sort_by: Any, readings: Readings) -> tuple[str, bool]:
    """``sortBy`` as a string (the table: ``createdDate``; direction per the readings) or as
    ``{field: "asc"|"desc"}`` (getTasks' sample). Anything else, or a field the reading does not
    honour: newest created first."""
    default = readings.sort_direction == "desc"
    if isinstance(sort_by, dict) and len(sort_by) == 1:
        (name, direction), *_ = sort_by.items()
        key = _honoured(SORT_KEYS.get(str(name).lower()), readings)
        descending = str(direction).lower() in ("desc", "-1", "descending")
        return (key, descending) if key else ("created", True)
    if isinstance(sort_by, str) and _honoured(SORT_KEYS.get(sort_by.lower()), readings):
        return SORT_KEYS[sort_by.lower()], default
    return "created", True


def _honoured(key: str | None, readings: Readings) -> str | None:
    if readings.sort_by == "ignored" or (readings.sort_by == "created_only" and key != "created"):
        return None
    return key


def filters(body: dict, readings: Readings, stream: StreamCatalog) -> list[Callable[[Record], bool]]:
    """The documented body filters as tests of a record; a filter of the wrong type is refused.

    ``mycase`` (and getTasks' ``mytask``) is accepted and ignored: a JWT app is no agent, so
    nothing is "mine".
    """
    problems = []
    for key in ARRAY_FILTERS:
        if body.get(key) is not None and not isinstance(body[key], list):
            problems.append(f"{key} must be an array.")
    for key in BOOLEAN_FILTERS:
        if body.get(key) is not None and not isinstance(body[key], bool):
            problems.append(f"{key} must be a boolean.")
    for key in ("startDate", "endDate", "dueDate"):
        if body.get(key) not in (None, "") and moment_ms(body[key]) is None:
            problems.append(f"{key} must be a date, e.g. 2026-09-04T14:15:00.000Z.")
    if body.get("searchText") is not None and not isinstance(body["searchText"], str):
        problems.append("searchText must be a string.")
    if problems:
        raise Refused(400, *problems)

    tests: list[Callable[[Record], bool]] = []
    text = (body.get("searchText") or "").strip().lower()
    if text and readings.search == "words":
        words = text.split()
        tests.append(lambda r: all(word in r.doc["lname"].split() for word in words))
    elif text and readings.search == "regex":
        pattern = _pattern(text)
        tests.append(lambda r: pattern is not None and pattern.search(r.doc["lname"]) is not None)
    elif text and readings.search == "truncated":
        tests.append(lambda r: text in r.doc["lname"][:SEARCHED_CHARS])
    elif text:
        tests.append(lambda r: text in r.doc["lname"])
    for key in ("status", "priority"):
        wanted = {str(item).strip().lower() for item in body.get(key) or []}
        if wanted:
            # Kore's ids are lower case already, and ``lname`` is the name in lower case.
            tests.append(
                lambda r, key=key, wanted=wanted: r.doc[key]["_id"] in wanted or r.doc[key]["lname"] in wanted
            )
    channels = {str(item).strip().lower() for item in body.get("channel") or []}
    if channels:
        tests.append(lambda r: any(str(c).lower() in channels for c in r.doc.get("channel") or []))
    queues = set()
    for item in body.get("queues") or []:
        queue = stream.queue(str(item))
        queues.add(queue["_id"] if queue else str(item))
    if queues:
        tests.append(lambda r: any(q in queues for q in r.doc.get("queues") or []))
    if body.get("unresolved"):
        tests.append(attrgetter("unresolved"))
    if body.get("unassigned"):
        kinds = ("unassigned", "queues") if readings.unassigned == "no_agent" else ("unassigned",)
        tests.append(lambda r: r.doc.get("assigneeType") in kinds)
    start, end = moment_ms(body.get("startDate")), moment_ms(body.get("endDate"))
    if start is not None or end is not None:
        when = {"createdAt": "created", "updatedAt": "updated", "dueDate": "due"}[readings.date_filter]
        low, high = -math.inf if start is None else start, math.inf if end is None else end

        def in_range(r: Record) -> bool:
            moment = getattr(r, when)
            return moment is not None and low <= moment <= high

        tests.append(in_range)
    due = moment_ms(body.get("dueDate"))
    if due is not None:
        if readings.due_date_filter == "exact":
            tests.append(lambda r: r.due == due)
        elif readings.due_date_filter == "day":
            day = due - due % DAY_MS
            tests.append(lambda r: r.due is not None and day <= r.due < day + DAY_MS)
        else:
            tests.append(lambda r: r.due is not None and r.due <= due)
    return tests


def _pattern(text: str) -> re.Pattern | None:
    """searchText as the "regex" reading reads it; an invalid pattern finds nothing."""
    try:
        return re.compile(text)
    except re.error:
        return None


def _number(value: Any, default: int, *, low: int, high: int | None = None) -> int:
    try:
        number = int(value) if value is not None and value != "" else default
    except (TypeError, ValueError):
        number = default
    number = max(low, number)
    return min(high, number) if high is not None else number
