"""The due-range sort trick on PostgreSQL, checked on the plan itself (cases/browse/pages.py,
``Coalesce``): a page of cases due in a range, sorted by something else, reads the range's
cases and sorts them, rather than walking the sort's index and checking every case it meets.

Due dates follow creation dates, so the cases due in a past range sit at the far end of the
created index; PostgreSQL assumes matches spread evenly over it and walks it from the newest,
which at a million cases reads most of them. Its planner plans by statistics, so the store is
seeded and analysed first; SQLite's plans the range first anyway."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.browse import listing
from cases.models import Case

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner and its statistics"),
]


@pytest.fixture
def seeded(staff_user):
    call_command("seed_cases", count=30_000, days=365, seed=7, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE cases_case")
    return staff_user


def page_plan(user, params: dict) -> str:
    """The plan of the statement that reads the page's rows."""
    with CaptureQueriesContext(connection) as captured:
        result = listing.browse_cases(user, params, with_total=False)
    assert result.ok and result.cases, result.errors
    (statement,) = [q["sql"] for q in captured.captured_queries if 'FROM "cases_case"' in q["sql"]][-1:]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + statement)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        print(plan)
        return plan


def oldest_fifth_due(user) -> dict:
    """Cases due in the first fifth of the year, newest first: the range's cases are the oldest."""
    start = Case.objects.order_by("due_date").values_list("due_date", flat=True).first()
    end = start + timedelta(days=73)
    local = timezone.localtime
    return {"due_after": local(start).date(), "due_before": local(end).date(), "sort": "-created"}


def test_a_due_range_sorted_by_creation_sorts_its_matches(seeded):
    """(A seq scan at this size, where a fifth of the cases match; the due index at scale.)"""
    plan = page_plan(seeded, oldest_fifth_due(seeded))
    assert "Sort" in plan
    assert "Index Scan Backward using case_created_id" not in plan


def test_without_the_expression_postgresql_walks_the_created_index(seeded, monkeypatch):
    """What the trick prevents: sorted plainly, the planner walks the sort's own index."""
    monkeypatch.setattr(listing, "reads_filter_first", lambda params: False)
    plan = page_plan(seeded, oldest_fifth_due(seeded))
    assert "Index Scan Backward using case_created_id" in plan
