"""The word search's plan trick, checked on the plan itself: past WORD_COUNT_CAP matches a page
walks the list's own index in order and checks each case against the word index, rather than
collecting every match by id and sorting them (cases/browse/search.py, ``+{id}``).

SQLite's planner needs no statistics for this choice, so an empty database shows it."""

from __future__ import annotations

import pytest
from django.db import connection

from cases.browse import search
from cases.models import Case
from cases.models.sql import ColumnsSQL
from cases.models.words import SQLITE_WORD_IDS, fts_match

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="SQLite's planner; PostgreSQL plans by statistics"
    ),
]


def plan_of(queryset) -> str:
    sql, params = queryset[:26].query.sql_with_params()  # a page of 25, and one to know of more
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def listed(queryset):
    return queryset.order_by("-created_at", "-id")


def test_a_common_word_walks_the_list_index_in_order():
    walked = plan_of(listed(search._words_while_walking(Case.objects.all(), ["printer"])))
    assert "SCAN cases_case USING INDEX case_created_id" in walked
    assert "TEMP B-TREE" not in walked  # no sort: the page ends after its rows


def test_without_the_unary_plus_sqlite_reads_every_match_and_sorts():
    """What the trick prevents: written plainly, the matches drive the query by id."""
    plain = Case.objects.filter(
        ColumnsSQL("{id} IN (" + SQLITE_WORD_IDS + ")", (fts_match(["printer"]),), id="id")
    )
    driven = plan_of(listed(plain))
    assert "USING INTEGER PRIMARY KEY" in driven
    assert "TEMP B-TREE" in driven
