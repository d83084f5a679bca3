"""Exports of the filtered list, saved views and their permissions, the dashboard's figures,
and the seed command."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from cases.browse import exports
from cases.browse.dashboard import dashboard_figures
from cases.models import Case, SavedView
from cases.people import roles
from tests.factories import CaseFactory, CaseTemplateFactory, StreamFactory, UserFactory
from tests.pages import remote_assets

pytestmark = pytest.mark.django_db


def streamed(response) -> str:
    return b"".join(response.streaming_content).decode()


# --- Exports -------------------------------------------------------------------------------


@pytest.fixture
def many_cases(member_user):
    template = CaseTemplateFactory(name="Billing question")
    now = timezone.now()
    return [
        CaseFactory(
            template=template,
            name=f'Refund "{n}", order, line {n}' if n % 7 == 0 else f"Refund for order {n}",
            desc="Line one\nline two" if n % 11 == 0 else "",
            source="email" if n % 3 else "web",
            submitted_by=member_user if n % 2 else None,
            created_at=now - timedelta(minutes=n),
        )
        for n in range(2500)
    ]


def test_csv_export_holds_every_matching_row_in_order(
    member_client, many_cases, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        response = member_client.get(reverse("case_export_csv") + "?source=email")
        text = streamed(response)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = [c for c in many_cases if c.source == "email"]  # newest first already
    assert [int(row["id"]) for row in rows] == [c.pk for c in expected]
    for row, case in zip(rows, expected, strict=True):
        assert row["name"] == case.name and row["desc"] == case.desc
        assert row["template"] == "Billing question" and row["stream"] == case.stream.name
        assert row["submittedBy"] == ("bob" if case.submitted_by_id else "")
        assert row["createdAt"] == case.created_at.isoformat()


def test_exported_times_read_as_isoformat_in_every_sort_across_batches(member_client, monkeypatch, settings):
    # Times are read as UTC text, and the next batch's cursor is made from that text
    # (cases/browse/exports.py): zero and trailing-zero microseconds, ties, and cases without a due date,
    # in a time zone other than UTC, which naive text would be mistaken for.
    settings.TIME_ZONE = "America/New_York"
    monkeypatch.setattr(exports, "BATCH_SIZE", 3)
    template = CaseTemplateFactory()
    base = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    moments = [base, base.replace(microsecond=123400), base, base.replace(microsecond=5)]
    moments += [base.replace(microsecond=999999), base - timedelta(days=1), base.replace(microsecond=500000)]
    cases = [
        CaseFactory(template=template, created_at=moment, due_date=moments[-1 - n] + timedelta(days=n % 2))
        for n, moment in enumerate(moments)
    ]
    for case in cases[::3]:  # some without a due date, which sort last
        case.due_date = None
        case.save(update_fields=["due_date"])
    newest = sorted(cases, key=lambda c: (c.created_at, c.pk), reverse=True)
    dated = [c for c in cases if c.due_date]
    undated = [c for c in cases if not c.due_date]
    orders = {
        "-created": newest,
        "created": newest[::-1],
        "due": sorted(dated, key=lambda c: (c.due_date, c.pk)) + sorted(undated, key=lambda c: c.pk),
        "-due": sorted(dated, key=lambda c: (c.due_date, c.pk), reverse=True)
        + sorted(undated, key=lambda c: c.pk, reverse=True),
    }
    for sort, expected in orders.items():
        text = streamed(member_client.get(reverse("case_export_csv") + f"?sort={sort}"))
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [int(row["id"]) for row in rows] == [c.pk for c in expected], sort
        for row, case in zip(rows, expected, strict=True):
            assert row["createdAt"] == case.created_at.isoformat()
            assert row["dueDate"] == (case.due_date.isoformat() if case.due_date else "")


def test_jsonl_export_follows_the_same_filters_and_sort(member_client, many_cases):
    response = member_client.get(reverse("case_export_jsonl") + "?source=web&sort=created")
    lines = [json.loads(line) for line in streamed(response).splitlines()]
    expected = sorted((c for c in many_cases if c.source == "web"), key=lambda c: (c.created_at, c.pk))
    assert [line["id"] for line in lines] == [c.pk for c in expected]
    assert lines[0]["name"] == expected[0].name and lines[0]["state"] == "queued"


def test_exports_refuse_bad_parameters_with_400(member_client):
    response = member_client.get(reverse("case_export_csv") + "?due_before=soon&priority=")
    assert response.status_code == 400
    assert b"due_before: Enter a valid date." in response.content


def test_exports_need_sign_in(client):
    response = client.get(reverse("case_export_jsonl"))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


# --- Saved views ---------------------------------------------------------------------------


def test_a_user_saves_the_current_filters_and_finds_them_in_the_navigation(member_client, member_user):
    response = member_client.post(
        reverse("saved_view_new"),
        {"name": "My emails", "query_string": "source=email&sort=due&cursor=abc"},
    )
    view = SavedView.objects.get(owner=member_user, name="My emails")
    assert view.query_string == "source=email&sort=due"  # never a page cursor
    assert response.url == reverse("case_list") + "?source=email&sort=due"
    page = member_client.get(reverse("case_list")).content.decode()
    assert "My emails" in page and view.get_absolute_url().replace("&", "&amp;") in page


def test_invalid_filters_are_not_saved(member_client):
    member_client.post(reverse("saved_view_new"), {"name": "Broken", "query_string": "due_after=never"})
    assert not SavedView.objects.exists()


def test_shared_views_are_seen_by_everyone_but_changed_only_by_their_owner_or_staff(
    client, member_user, staff_user
):
    owner = UserFactory(username="olga", role=roles.VIEWER)
    shared = SavedView.objects.create(owner=owner, name="Urgent", query_string="priority=High", shared=True)
    private = SavedView.objects.create(owner=owner, name="Mine", query_string="source=web")
    client.force_login(member_user)
    listing = client.get(reverse("saved_view_list")).content.decode()
    assert "Urgent" in listing and "Mine" not in listing
    assert client.post(reverse("saved_view_delete", args=[shared.pk])).status_code == 403
    assert client.get(reverse("saved_view_edit", args=[shared.pk])).status_code == 403
    assert client.post(reverse("saved_view_delete", args=[private.pk])).status_code == 404
    client.force_login(staff_user)
    response = client.post(
        reverse("saved_view_edit", args=[shared.pk]), {"name": "Very urgent", "query_string": "priority=High"}
    )
    assert response.status_code == 302
    shared.refresh_from_db()
    assert shared.name == "Very urgent" and not shared.shared
    client.force_login(owner)
    assert client.post(reverse("saved_view_delete", args=[private.pk])).status_code == 302
    assert not SavedView.objects.filter(pk=private.pk).exists()


def test_a_second_view_with_the_same_name_is_refused_politely(member_client, member_user):
    SavedView.objects.create(owner=member_user, name="Mine", query_string="")
    response = member_client.post(reverse("saved_view_new"), {"name": "Mine", "query_string": "source=web"})
    assert response.status_code == 302
    assert SavedView.objects.filter(owner=member_user).count() == 1


# --- Dashboard -----------------------------------------------------------------------------


def test_the_dashboard_figures_match_hand_counted_ones(member_user, django_assert_max_num_queries):
    now = timezone.now()
    other_stream = StreamFactory(name="Billing")
    billing = CaseTemplateFactory(stream=other_stream)
    it = CaseTemplateFactory()

    def delivered(n, template, status, category, priority, score, due_days, days_ago=0, user=None):
        return CaseFactory(
            template=template,
            state=Case.State.DELIVERED,
            kore_id=f"ci-dash-{n}",
            ref_id=f"CS{n:08d}",
            status_name=status,
            status_category=category,
            priority_name=priority,
            priority_score=score,
            due_date=now + timedelta(days=due_days),
            created_at=now - timedelta(days=days_ago),
            submitted_by=user,
        )

    delivered(1, it, "Open", "open", "High", 20, -1, days_ago=2, user=member_user)  # overdue
    delivered(2, it, "Open", "open", "Low", 5, 2)
    delivered(3, billing, "Pending", "in_progress", "High", 20, -3, days_ago=1)  # overdue
    delivered(4, billing, "Resolved", "resolved", "High", 20, -5, days_ago=40)  # closed: not open
    delivered(5, it, "Closed", "closed", "Low", 5, -5, days_ago=2)
    CaseFactory(template=it, state=Case.State.QUEUED, submitted_by=member_user)
    CaseFactory(template=it, state=Case.State.SENDING)
    CaseFactory(template=it, state=Case.State.RETRYING)
    CaseFactory(template=billing, state=Case.State.FAILED, created_at=now - timedelta(days=45))

    with django_assert_max_num_queries(6):  # the person's permissions (two), then four aggregates
        figures = dashboard_figures(member_user, now=now)
    assert figures.open_total == 3 and figures.overdue == 2
    assert [(row["name"], row["count"]) for row in figures.open_by_status] == [("Open", 2), ("Pending", 1)]
    assert [(row["name"], row["count"]) for row in figures.open_by_priority] == [("High", 2), ("Low", 1)]
    assert sorted((row["name"], row["count"]) for row in figures.open_by_stream) == sorted(
        [(it.stream.name, 2), ("Billing", 1)]
    )
    assert figures.delivery == {"queued": 2, "retrying": 1, "failed": 1}
    per_day = dict(figures.created_per_day)
    today = timezone.localdate(now)
    assert len(figures.created_per_day) == 30 and figures.created_per_day[-1][0] == today
    assert per_day[today] == 4  # case 2 and three undelivered ones
    assert per_day[today - timedelta(days=1)] == 1
    assert per_day[today - timedelta(days=2)] == 2
    assert sum(per_day.values()) == 7  # the 40- and 45-day-old cases are outside the chart
    assert [c.ref_id or c.state for c in figures.my_recent] == ["queued", "CS00000001"]


def test_the_dashboard_is_the_landing_page_with_an_svg_chart(member_client, django_assert_max_num_queries):
    CaseFactory.create_batch(3, template=CaseTemplateFactory())
    with django_assert_max_num_queries(10):  # one of them: streams whose sync keeps failing
        response = member_client.get(reverse("home"))
    content = response.content.decode()
    assert response.status_code == 200 and "<svg" in content and content.count('class="bar"') == 30
    assert 'id="delivery-queued">3<' in content
    assert remote_assets(content) == []


# --- Seeding -------------------------------------------------------------------------------


def test_seed_cases_fills_the_store_without_colliding_with_real_ref_ids(db):
    out = io.StringIO()
    call_command("seed_cases", count=1200, batch=500, seed=1, stdout=out)
    call_command("seed_cases", count=300, batch=500, seed=2, stdout=out)
    assert "1,200 / 1,200" in out.getvalue()
    assert Case.objects.count() == 1500
    delivered = Case.objects.filter(state=Case.State.DELIVERED)
    assert 0.9 < delivered.count() / 1500 < 1
    refs = list(delivered.values_list("ref_id", flat=True))
    assert len(set(refs)) == len(refs) and all(ref.startswith("CS9") and len(ref) == 12 for ref in refs)
    assert Case.objects.filter(state__in=[Case.State.FAILED, Case.State.QUEUED]).exists()
    oldest = Case.objects.order_by("created_at").first().created_at
    assert timezone.now() - oldest > timedelta(days=300)
    assert delivered.exclude(priority_score=None).count() == delivered.count()
