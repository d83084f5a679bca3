"""Word searches read in pages: how the list finds a page of the cases holding every word without
reading or sorting every match (a common word is in tens of thousands of cases at a million)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection

from cases.models import Case, CaseQuerySet, ColumnsSQL
from cases.models.words import (
    POSTGRES_WORDS_WALKED,
    SQLITE_WORD_IDS,
    every_word,
    fts_match,
    search_words,
)

# A word search first reads up to this many matching ids (cases_to_page); beyond it the total
# shows as "1,000+".
WORD_COUNT_CAP = 1000


def _words_while_walking(queryset: CaseQuerySet, words: list[str]) -> CaseQuerySet:
    """The same condition written so the database cannot drive the query from the word index
    but walks the list's own index in order, checking each case.

    SQLite: the unary + keeps it from reading the matches by id. PostgreSQL: the function
    behind ``@@`` instead of the operator, which no index serves and which the planner
    takes to match a third of the cases (as it does any boolean function): so it expects a
    page after a few rows walked rather than reading the whole table and sorting it.
    """
    if connection.vendor == "sqlite":
        return queryset.filter(ColumnsSQL("+{id} IN (" + SQLITE_WORD_IDS + ")", (fts_match(words),), id="id"))
    if connection.vendor == "postgresql":
        return queryset.filter(ColumnsSQL(POSTGRES_WORDS_WALKED, (" ".join(words),), id="id"))
    return queryset.filter(every_word(words))


def _first_word_matches(queryset: CaseQuerySet, words: list[str], limit: int) -> list[int]:
    """The ids of up to ``limit`` cases of ``queryset`` holding every word, in no order, so the
    database stops at the limit instead of reading every match to sort it.

    SQLite reads the word index's matches in turn and looks each case up; written as
    "id IN (matches)" it would first collect every match.
    """
    if connection.vendor != "sqlite":
        return list(queryset.filter(every_word(words)).order_by().values_list("id", flat=True)[:limit])
    try:
        sql, params = queryset.order_by().values("id").query.sql_with_params()
    except EmptyResultSet:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            # The cases' SQL is compiled by Django from validated filters; the words are a parameter.
            f"SELECT c.id FROM cases_case_fts CROSS JOIN ({sql}) AS c ON c.id = cases_case_fts.rowid "  # noqa: S608
            "WHERE cases_case_fts MATCH %s LIMIT %s",
            (*params, fts_match(words), limit),
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
    words = search_words(params.get("q") or "")
    if not words:
        return PagedMatches(filtered.search(params.get("q") or ""))
    ids = _first_word_matches(filtered, words, WORD_COUNT_CAP + 1)
    if len(ids) <= WORD_COUNT_CAP:
        return PagedMatches(filtered.filter(id__in=ids), (len(ids), False))
    return PagedMatches(_words_while_walking(filtered, words), (WORD_COUNT_CAP, True))
