"""What the list's filter controls offer.

Statuses (and their categories), priorities and assignees are those Kore uses in the streams a
person may see, as the sync learned them (``KoreStatus``, ``KorePriority``, ``KoreAssignee``; no
Kore API lists them): a status learned before any case has it is offered, and a stream the
person may not see offers nothing. Filters match by name across streams, so each name is one
option; when only some of the person's streams use it, its label names them.

Sources are the distinct values cases carry (Kore has no list of them). All of it: one query.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db import connection

from cases.models import KoreAssignee, KorePriority, KoreStatus

MAX_OPTIONS = 100  # per filter: a select of more helps nobody
KINDS = ("status", "category", "priority", "assignee")
NO_RANK = 1_000_000  # a priority without a score goes after those with one


@dataclass(frozen=True)
class FilterOption:
    value: str
    label: str


def filter_options(streams: list[tuple[int, str]]) -> dict[str, list[FilterOption]]:
    """``status``, ``category``, ``priority`` and ``assignee`` options of these streams (pk,
    name), statuses and assignees by name, priorities by Kore's score; and ``source``. One query."""
    found: dict[str, dict[str, set[int]]] = {kind: defaultdict(set) for kind in KINDS}
    ranks: dict[tuple[str, str], int] = {}
    sources: list[FilterOption] = []
    with connection.cursor() as cursor:
        cursor.execute(*_options_sql([pk for pk, _name in streams]))
        for kind, name, stream_id, rank in cursor.fetchall():
            if kind == "source":
                sources.append(FilterOption(name, name))
                continue
            found[kind][name].add(stream_id)
            ranks[kind, name] = min(rank, ranks.get((kind, name), rank))
    names = dict(streams)
    options: dict[str, list[FilterOption]] = {"source": sorted(sources, key=lambda option: option.value)}
    for kind, by_name in found.items():
        using_any = set().union(*by_name.values())
        ordered = sorted(by_name, key=lambda name: (ranks[kind, name], name.casefold()))[:MAX_OPTIONS]
        options[kind] = [
            FilterOption(name, _label(name, by_name[name], using_any, names)) for name in ordered
        ]
    return options


def _label(name: str, users: set[int], using_any: set[int], names: dict[int, str]) -> str:
    """The name, and the streams that use it when not all of those that use any of its kind do."""
    return name if users == using_any else f"{name} ({', '.join(sorted(names[pk] for pk in users))})"


def _options_sql(stream_ids: list[int]) -> tuple[str, list]:
    """The three learned tables of these streams, as (kind, name, stream id, rank) rows, and the
    distinct sources cases carry, found by walking the source index (a loose index scan: one seek
    per value, so it costs the same at 10k and at 10M rows)."""
    within = f"stream_id IN ({', '.join(['%s'] * len(stream_ids)) or 'NULL'})"
    status, priority, assignee = (model._meta.db_table for model in (KoreStatus, KorePriority, KoreAssignee))
    # Only table names and placeholders are put into this SQL; every value is a parameter.
    sql = (
        "WITH RECURSIVE d(v, n) AS (SELECT MIN(source), 1 FROM cases_case WHERE source > '' "  # noqa: S608
        "UNION ALL SELECT (SELECT MIN(source) FROM cases_case WHERE source > d.v), d.n + 1 "
        "FROM d WHERE d.v IS NOT NULL AND d.n < %s) "
        f"SELECT 'status', name, stream_id, 0 FROM {status} WHERE {within} "
        f"UNION ALL SELECT 'category', category, stream_id, 0 FROM {status} WHERE category > '' AND {within} "
        f"UNION ALL SELECT 'priority', name, stream_id, COALESCE(score, %s) FROM {priority} WHERE {within} "
        f"UNION ALL SELECT 'assignee', name, stream_id, 0 FROM {assignee} WHERE {within} "
        "UNION ALL SELECT 'source', v, NULL, 0 FROM d WHERE v IS NOT NULL"
    )
    params = [MAX_OPTIONS, *stream_ids, *stream_ids, NO_RANK, *stream_ids, *stream_ids]
    return sql, params
