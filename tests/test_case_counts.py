"""The counts the dashboard reads (OpenCaseCount, CreatedCount, OpenDueCount) stay equal to the cases,
whichever way a case is written."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from cases.browse import kept_counts as case_counts
from cases.browse.dashboard import dashboard_figures
from cases.models import Case, CreatedCount, OpenCaseCount, OpenDueCount
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
    CreatedCount.objects.update(count=99)
    OpenDueCount.objects.update(count=99)
    case_counts.recount()
    assert kept_counts() == open_cases_counted_now() and sum(kept_counts().values()) == 2
    assert kept_slots() == slots_counted_now() and sum(kept_slots().values()) == 2
    assert kept_due_days() == due_days_counted_now() and sum(kept_due_days().values()) == 2


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
    assert case_counts.ensure_sqlite_triggers() is True
    assert kept_counts() == open_cases_counted_now() and sum(kept_counts().values()) == 2
    assert case_counts.ensure_sqlite_triggers() is False


# --- Cases created per quarter hour -------------------------------------------------------


def kept_slots() -> Counter:
    rows = CreatedCount.objects.filter(count__gt=0).values_list("slot", "stream_id", "count")
    return Counter({(slot, stream_id): n for slot, stream_id, n in rows})


def slots_counted_now() -> Counter:
    counted: Counter = Counter()
    for created, stream_id in Case.objects.values_list("created_at", "stream_id"):
        minute = created.astimezone(UTC).replace(second=0, microsecond=0)
        counted[(minute.replace(minute=minute.minute // 15 * 15), stream_id)] += 1
    return counted


def test_created_counts_follow_every_way_of_writing_a_case():
    quarter = datetime(2026, 3, 10, 9, 45, tzinfo=UTC)
    it, billing = CaseTemplateFactory(), CaseTemplateFactory(stream=StreamFactory(name="Billing"))
    first = CaseFactory(template=it, created_at=quarter)  # the slot's first moment
    CaseFactory(template=it, created_at=quarter + timedelta(minutes=14, seconds=59, microseconds=999999))
    CaseFactory(template=billing, created_at=quarter + timedelta(minutes=15))  # the next slot
    assert (
        kept_slots()
        == slots_counted_now()
        == Counter({(quarter, it.stream_id): 2, (quarter + timedelta(minutes=15), billing.stream_id): 1})
    )
    Case.objects.bulk_create(
        [
            Case(
                stream=billing.stream, template=billing, request_body={}, name=f"Bulk {n}", created_at=quarter
            )
            for n in range(3)
        ]
    )
    Case.objects.filter(pk=first.pk).update(created_at=quarter - timedelta(days=1))
    first.refresh_from_db()
    first.template, first.stream = billing, billing.stream
    first.save()
    Case.objects.filter(name="Bulk 0").delete()
    assert kept_slots() == slots_counted_now()
    assert sum(kept_slots().values()) == Case.objects.count() == 5


def test_cases_per_day_are_exact_in_zones_a_half_or_quarter_hour_from_utc(member_user, monkeypatch):
    from cases.browse import dashboard

    template = CaseTemplateFactory()
    now = timezone.now()
    for hours in range(0, 24 * 5, 5):  # every five hours over five days, and on the minute
        CaseFactory(template=template, created_at=now - timedelta(hours=hours, minutes=hours % 60))
    for zone in ("UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"):
        with timezone.override(zone):
            summed = dashboard_figures(member_user, now=now).created_per_day
            monkeypatch.setattr(dashboard, "on_slot", lambda moment: False)  # count the cases instead
            counted = dashboard_figures(member_user, now=now).created_per_day
            monkeypatch.undo()
            by_hand = Counter(timezone.localdate(case.created_at) for case in Case.objects.all())
        assert summed == counted, zone
        assert dict(summed) == {day: by_hand.get(day, 0) for day, _ in summed}, zone
        assert sum(n for _, n in summed) == Case.objects.count()


# --- Open cases per due day ---------------------------------------------------------------


def kept_due_days() -> Counter:
    rows = OpenDueCount.objects.filter(count__gt=0).values_list("day", "stream_id", "count")
    return Counter({(day, stream_id): n for day, stream_id, n in rows})


def due_days_counted_now() -> Counter:
    counted: Counter = Counter()
    for due, stream_id in Case.objects.open().exclude(due_date=None).values_list("due_date", "stream_id"):
        counted[(due.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0), stream_id)] += 1
    return counted


def test_open_due_counts_follow_every_way_of_writing_a_case():
    template = CaseTemplateFactory()
    day = datetime(2026, 3, 10, tzinfo=UTC)
    first = delivered(1, template, due_date=day)  # the day's first moment
    delivered(2, template, due_date=day + timedelta(hours=23, minutes=59, seconds=59))
    delivered(3, template, due_date=day + timedelta(days=1))
    delivered(4, template, status_category="closed", due_date=day)  # closed: not counted
    CaseFactory(template=template, due_date=day)  # not delivered: not counted
    assert (
        kept_due_days()
        == due_days_counted_now()
        == Counter({(day, template.stream_id): 2, (day + timedelta(days=1), template.stream_id): 1})
    )
    Case.objects.filter(pk=first.pk).update(due_date=day - timedelta(days=3))
    Case.objects.filter(ref_id="CS00000002").update(due_date=None)
    Case.objects.filter(ref_id="CS00000004").update(status_category="open")
    Case.objects.filter(ref_id="CS00000003").delete()
    assert kept_due_days() == due_days_counted_now() and sum(kept_due_days().values()) == 2


def test_the_overdue_figure_counts_earlier_days_and_today_before_now(member_user):
    template = CaseTemplateFactory()
    now = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
    for n, due in enumerate(
        [
            now - timedelta(days=40),
            now - timedelta(days=1),
            now.replace(hour=0, minute=0),  # today's first moment: overdue
            now - timedelta(seconds=1),  # overdue
            now,  # due now: not yet overdue
            now + timedelta(hours=3),  # later today
            now + timedelta(days=2),
        ],
        start=1,
    ):
        delivered(n, template, due_date=due)
    delivered(20, template, status_category="resolved", due_date=now - timedelta(days=2))
    figures = dashboard_figures(member_user, now=now)
    assert figures.overdue == 4 == Case.objects.overdue(now).count()
    assert figures.open_total == 7
