"""The open-case counts the dashboard reads (OpenCaseCount) stay equal to the open cases,
whichever way a case is written."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db import connection
from django.db.models import Count

from cases import open_counts
from cases.models import Case, OpenCaseCount
from tests.factories import CaseFactory, CaseTemplateFactory, StreamFactory

pytestmark = pytest.mark.django_db

GROUP = ("stream_id", "status_name", "status_category", "priority_name", "priority_color")


def kept_counts() -> Counter:
    rows = OpenCaseCount.objects.filter(count__gt=0).values_list(*GROUP, "priority_score", "count")
    return Counter({tuple(row[:-1]): row[-1] for row in rows})


def open_cases_counted_now() -> Counter:
    rows = Case.objects.open().values_list(*GROUP, "priority_score").annotate(n=Count("id")).order_by()
    counted: Counter = Counter()
    for *group, score, n in rows:
        counted[(*group, score or 0)] += n
    return counted


def delivered(number: int, template, **fields) -> Case:
    defaults = {
        "state": Case.State.DELIVERED,
        "kore_id": f"ci-count-{number}",
        "ref_id": f"CS{number:08d}",
        "status_name": "Open",
        "status_category": "open",
        "priority_name": "High",
        "priority_color": "#DC2626",
        "priority_score": 20,
    }
    return CaseFactory(template=template, **{**defaults, **fields})


def test_the_counts_follow_saves_updates_bulk_inserts_and_deletes():
    it, billing = CaseTemplateFactory(), CaseTemplateFactory(stream=StreamFactory(name="Billing"))
    first = delivered(1, it)
    second = delivered(2, it, priority_name="Low", priority_color="#2563EB", priority_score=5)
    delivered(3, billing, status_name="Resolved", status_category="resolved")  # closed: not counted
    queued = CaseFactory(template=billing)  # not delivered: not counted
    assert kept_counts() == open_cases_counted_now() and sum(kept_counts().values()) == 2

    # A model save changing the group, a queryset update closing a case, a delivery.
    first.priority_name, first.priority_score = "Urgent", 30
    first.save()
    Case.objects.filter(pk=second.pk).update(status_name="Closed", status_category="closed")
    Case.objects.filter(pk=queued.pk).update(
        state=Case.State.DELIVERED, kore_id="ci-count-4", status_name="Open", status_category="open"
    )
    assert kept_counts() == open_cases_counted_now() and sum(kept_counts().values()) == 2

    # bulk_create (the seed command's way), a priority without a score, reopening, deleting.
    Case.objects.bulk_create(
        [
            Case(
                stream=billing.stream,
                template=billing,
                request_body={},
                name=f"Bulk {n}",
                state=Case.State.DELIVERED,
                kore_id=f"ci-bulk-{n}",
                status_name="Waiting",
                status_category="in_progress",
                priority_name="Medium",
                priority_score=None,
            )
            for n in range(5)
        ]
    )
    Case.objects.filter(pk=second.pk).update(status_name="Open", status_category="open")
    Case.objects.filter(name="Bulk 0").delete()
    counted = open_cases_counted_now()
    assert kept_counts() == counted and sum(counted.values()) == 7
    assert counted[(billing.stream_id, "Waiting", "in_progress", "Medium", "", 0)] == 4

    # Every open case gone: the groups stay, at zero.
    Case.objects.all().delete()
    assert kept_counts() == Counter() and OpenCaseCount.objects.exclude(count=0).count() == 0


def test_a_recount_rebuilds_the_counts_from_the_cases():
    template = CaseTemplateFactory()
    delivered(1, template)
    delivered(2, template, status_name="Pending", status_category="in_progress")
    OpenCaseCount.objects.update(count=99)
    open_counts.recount()
    assert kept_counts() == open_cases_counted_now() and sum(kept_counts().values()) == 2


def test_the_counts_survive_sqlite_rebuilding_the_table():
    """A later migration that makes SQLite rebuild cases_case drops the triggers; post_migrate
    puts them back and recounts."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    template = CaseTemplateFactory()
    case = delivered(1, template)
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER cases_open_count_insert")
        cursor.execute("DROP TRIGGER cases_open_count_update_new")
    delivered(2, template)
    Case.objects.filter(pk=case.pk).update(status_name="Pending", status_category="in_progress")
    assert sum(kept_counts().values()) == 0  # fell behind
    assert open_counts.ensure_sqlite_triggers() is True
    assert kept_counts() == open_cases_counted_now() and sum(kept_counts().values()) == 2
    assert open_counts.ensure_sqlite_triggers() is False
