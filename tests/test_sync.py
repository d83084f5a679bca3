"""The sync keeps every case in step with Kore and brings in the cases made elsewhere: against the
simulator over real HTTP, its Kore agent making the changes."""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cases.delivery.deliver import case_deliver
from cases.models import Case, CaseChange, KorePriority, KoreStatus, StreamSync
from cases.sync import runs
from cases.sync.apply import CaseApplier
from cases.sync.refresh import case_refresh
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db(transaction=True)


def sync(stream) -> None:
    """One pass of the stream, now (as the task would run it)."""
    StreamSync.objects.filter(stream=stream).update(next_pass_at=None)
    runs.sync_account(runs.lease_key(stream), [stream.pk])


def delivered(template, **fields) -> Case:
    case = CaseFactory(template=template, **fields)
    case_deliver(case_id=case.pk)
    case.refresh_from_db()
    assert case.state == Case.State.DELIVERED
    time.sleep(0.005)  # Kore's updatedAt is in milliseconds: a change comes after it
    return case


@pytest.fixture
def kore_case(template, simulator):
    case = delivered(template)
    sync(template.stream)  # the first pass
    return case


def element(html: str, element_id: str) -> str:
    """The markup inside the element with that id (one that holds no element of its own tag)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert found, f"no #{element_id}"
    return found[2]


def row_of(html: str, case: Case) -> str:
    """The list's row of that case (a row links to its case page)."""
    rows = [
        row for row in re.findall(r"<tr\b.*?</tr>", html, re.S) if f'href="{case.get_absolute_url()}"' in row
    ]
    assert len(rows) == 1, f"{len(rows)} rows of {case}"
    return rows[0]


def export_row(client, case: Case) -> dict[str, str]:
    exported = b"".join(client.get(reverse("case_export_csv")).streaming_content).decode()
    rows = [row for row in csv.DictReader(io.StringIO(exported)) if row["id"] == str(case.pk)]
    assert len(rows) == 1
    return rows[0]


NEW_DUE = (timezone.now() + timedelta(days=10)).replace(second=0, microsecond=0)
CHANGES = {
    # field: (the change at Kore, the new value, its column in the export)
    "status_name": (lambda agent, kore_id: agent.set_status(kore_id, "In Progress"), "In Progress", "status"),
    "priority_name": (lambda agent, kore_id: agent.set_priority(kore_id, "Critical"), "Critical", "priority"),
    "assignee_name": (
        lambda agent, kore_id: agent.reassign(kore_id, to="Felipe Souza"),
        "Felipe Souza",
        "assignee",
    ),
    "name": (lambda agent, kore_id: agent.rename(kore_id, "Printer on fire"), "Printer on fire", "name"),
    "due_date": (lambda agent, kore_id: agent.set_due_date(kore_id, NEW_DUE), NEW_DUE, "dueDate"),
}


@pytest.mark.parametrize("field", list(CHANGES), ids=["status", "priority", "assignee", "title", "due date"])
def test_a_change_at_kore_reaches_the_case_page_list_export_and_api(
    kore_case, simulator, staff_client, field
):
    change, new, column = CHANGES[field]
    # The pages show times in the portal's zone (no user's zone set here).
    shown = timezone.localtime(new).strftime("%Y-%m-%d %H:%M") if field == "due_date" else new
    exported = new.isoformat() if field == "due_date" else new
    page_part = "case-title" if field == "name" else "case-status"
    assert shown not in row_of(staff_client.get(reverse("case_list")).content.decode(), kore_case)

    change(simulator.agent, kore_case.kore_id)
    sync(kore_case.stream)
    kore_case.refresh_from_db()
    assert getattr(kore_case, field) == new
    page = staff_client.get(reverse("case_detail", args=[kore_case.pk])).content.decode()
    assert shown in element(page, page_part)
    assert shown in row_of(staff_client.get(reverse("case_list")).content.decode(), kore_case)
    assert export_row(staff_client, kore_case)[column] == exported
    api = staff_client.get(reverse("api_case_detail", args=[kore_case.pk])).json()
    assert (parse_datetime(api[field]) if field == "due_date" else api[field]) == new
    history = kore_case.changes.get()
    assert history.new_value == exported and history.source == "sync"


def test_a_due_date_moved_at_kore_is_in_the_history(kore_case, simulator):
    new_due = (timezone.now() + timedelta(days=10)).replace(microsecond=0)
    simulator.agent.set_due_date(kore_case.kore_id, new_due)
    sync(kore_case.stream)
    kore_case.refresh_from_db()
    assert kore_case.due_date == new_due
    assert kore_case.changes.get().field == CaseChange.Field.DUE_DATE


def test_a_case_resolved_at_kore_closes_here_and_leaves_the_open_counts(kore_case, simulator, staff_user):
    assert Case.objects.open().filter(pk=kore_case.pk).exists()
    simulator.agent.resolve(kore_case.kore_id)
    sync(kore_case.stream)
    kore_case.refresh_from_db()
    assert kore_case.status_category == "resolved"
    assert not Case.objects.open().filter(pk=kore_case.pk).exists()


@pytest.mark.parametrize("sort_direction", ["desc", "asc"])
def test_newly_resolved_cases_are_found_whichever_way_kore_sorts(template, simulator, sort_direction):
    simulator.set_readings(sort_direction=sort_direction, page_size=3)
    cases = [delivered(template) for _ in range(7)]
    sync(template.stream)
    for case in cases[:4]:
        simulator.agent.resolve(case.kore_id)
    sync(template.stream)
    resolved = Case.objects.filter(status_category="resolved").count()
    assert resolved == 4
    assert Case.objects.filter(kore_missing_since__isnull=False).count() == 0


def test_a_case_kore_stops_listing_is_flagged_never_deleted(kore_case, simulator):
    simulator.delete_case_directly(kore_case.kore_id)
    sync(kore_case.stream)
    kore_case.refresh_from_db()
    assert kore_case.kore_missing_since is not None


def test_a_case_made_at_kore_appears_once_however_many_passes(template, simulator):
    made = simulator.agent.create_case(template.stream.stream_id, name="Called in: VPN down")
    for _ in range(3):
        sync(template.stream)
    case = Case.objects.get(kore_id=made["_id"])
    assert case.origin == Case.Origin.KORE and case.state == Case.State.DELIVERED
    assert case.name == "Called in: VPN down" and case.request_body == {}
    assert case.created_at == case.kore_created_at  # dated by Kore
    assert Case.objects.open().filter(pk=case.pk).exists()


def test_an_older_answer_never_overwrites_a_newer_state(kore_case, simulator):
    older = dict(next(c for c in simulator.cases if c["_id"] == kore_case.kore_id))
    simulator.agent.set_status(kore_case.kore_id, "On Hold")
    sync(kore_case.stream)
    stale = {**older, "status": {**older["status"], "name": "Open"}}
    CaseApplier(kore_case.stream, seen_at=timezone.now()).apply([stale])
    kore_case.refresh_from_db()
    assert kore_case.status_name == "On Hold"


def test_a_missing_or_empty_key_never_blanks_a_field(kore_case):
    stored = kore_case.kore_case
    trimmed = {
        "_id": kore_case.kore_id,
        "name": kore_case.name,
        "updatedAt": (timezone.now() + timedelta(seconds=1)).isoformat(),
        "ETA": "",
        "priority": {"_id": stored["priority"]["_id"], "name": stored["priority"]["name"]},  # no colour
        "status": {"name": "In Progress", "statusCategory": "in_progress"},
    }
    CaseApplier(kore_case.stream, seen_at=timezone.now()).apply([trimmed])
    before = kore_case
    after = Case.objects.get(pk=kore_case.pk)
    assert after.status_name == "In Progress"
    assert after.due_date == before.due_date
    assert after.priority_color == before.priority_color and after.assignee_name == before.assignee_name
    assert after.requester_email == before.requester_email


def test_an_explicit_unassignment_clears_the_assignee(kore_case, simulator):
    simulator.agent.reassign(kore_case.kore_id, to="unassigned")
    sync(kore_case.stream)
    kore_case.refresh_from_db()
    assert kore_case.assignee_name == ""


def test_statuses_priorities_and_agents_are_learned_per_stream(kore_case, simulator):
    simulator.agent.set_status(kore_case.kore_id, "In Progress")
    sync(kore_case.stream)
    names = set(KoreStatus.objects.filter(stream=kore_case.stream).values_list("name", flat=True))
    assert {"Open", "In Progress"} <= names
    priority = KorePriority.objects.get(stream=kore_case.stream, name=kore_case.priority_name)
    assert priority.kore_id.startswith("pr-") and priority.color.startswith("#")
    assert kore_case.stream.kore_assignees.exists()


def test_two_workers_running_the_sync_at_once_read_the_stream_once(template, simulator):
    for _ in range(3):
        delivered(template)
    simulator.set_latency(0.05)
    stream, before = template.stream, simulator.request_count
    ran = []

    def worker():
        try:
            ran.append(runs.sync_account(runs.lease_key(stream), [stream.pk]).ran)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(r) for r in ran) == [0, 1]
    assert simulator.request_count - before == StreamSync.objects.get(stream=stream).last_calls


def test_a_crashed_workers_lease_runs_out(template, simulator, settings):
    from cases.sync.lease import Lease

    settings.KORE_SYNC_LEASE_SECONDS = 1
    key = runs.lease_key(template.stream)
    assert Lease(key).take()  # taken, never released: the worker died
    assert not Lease(key).take()
    time.sleep(1.1)
    assert Lease(key).take()


def test_a_pass_and_a_burst_of_deliveries_never_exceed_the_rate_limit(template, simulator, settings):
    settings.KORE_RATE_WINDOW_SECONDS = 2.0
    settings.KORE_PACING_HORIZON_SECONDS = 1.0
    stream = template.stream
    type(stream).objects.filter(pk=stream.pk).update(rate_limit=11)
    stream.refresh_from_db()
    simulator.set_rate_limit(11, 2.0)
    simulator.agent.seed_cases(stream.stream_id, 150, unresolved=60)
    burst = CaseFactory.create_batch(12, template=template)

    def deliver_all():
        try:
            pending = list(burst)
            while pending:
                for case in list(pending):
                    Case.objects.filter(pk=case.pk, state=Case.State.RETRYING).update(
                        next_attempt_at=timezone.now()
                    )
                    case_deliver(case_id=case.pk)
                    case.refresh_from_db()
                    if not case.is_pending:
                        pending.remove(case)
                time.sleep(0.05)
        finally:
            connection.close()

    deliveries = threading.Thread(target=deliver_all)
    deliveries.start()
    sync(stream)
    deliveries.join()
    assert simulator.rate_limited_count == 0
    assert Case.objects.filter(pk__in=[c.pk for c in burst], state=Case.State.DELIVERED).count() == 12
    assert StreamSync.objects.get(stream=stream).last_calls >= 2


def test_a_lost_answer_and_a_sync_pass_end_with_one_case_and_one_record(template, simulator, settings):
    settings.KORE_READ_TIMEOUT = 0.5
    case = CaseFactory(template=template)
    simulator.inject("drop_after_create")
    case_deliver(case_id=case.pk)  # Kore made the case; the answer was lost
    sync(template.stream)  # the sync sees it before the look-up runs
    assert not Case.objects.filter(origin=Case.Origin.KORE).exists()
    Case.objects.filter(pk=case.pk).update(next_attempt_at=timezone.now())
    case_deliver(case_id=case.pk)
    case.refresh_from_db()
    assert case.state == Case.State.DELIVERED and case.attempts.last().outcome == "adopted"
    assert simulator.created_count == 1 and Case.objects.count() == 1


def test_a_case_imported_before_its_submission_is_looked_up_is_folded_into_it(template, simulator, settings):
    case = CaseFactory(template=template)
    simulator.inject("drop_after_create")
    case_deliver(case_id=case.pk)
    # The sync imported it as made at Kore before the portal knew the answer was lost.
    Case.objects.filter(pk=case.pk).update(state=Case.State.RETRYING, lookup_required=False)
    sync(template.stream)
    imported = Case.objects.get(origin=Case.Origin.KORE)
    simulator.agent.set_status(imported.kore_id, "In Progress")
    sync(template.stream)
    assert imported.changes.count() == 1
    Case.objects.filter(pk=case.pk).update(lookup_required=True, next_attempt_at=timezone.now())
    case_deliver(case_id=case.pk)
    case.refresh_from_db()
    assert case.state == Case.State.DELIVERED and case.kore_id == imported.kore_id
    assert not Case.objects.filter(pk=imported.pk).exists()
    assert case.changes.count() == 1  # the imported record's history moved here
    assert simulator.created_count == 1 and Case.objects.count() == 1


def test_refresh_from_kore_reads_the_case_now(kore_case, simulator):
    simulator.agent.set_priority(kore_case.kore_id, "High")
    result = case_refresh(case=kore_case)
    kore_case.refresh_from_db()
    assert result.found and result.changed and kore_case.priority_name == "High"
    assert kore_case.changes.get().source == "refresh"


def test_refresh_says_so_when_kore_does_not_find_the_case(kore_case, simulator):
    simulator.agent.rename(kore_case.kore_id, "Renamed at Kore")
    Case.objects.filter(pk=kore_case.pk).update(name="A title Kore never had")
    kore_case.refresh_from_db()
    result = case_refresh(case=kore_case)
    assert not result.found and "did not find" in result.message
    assert Case.objects.get(pk=kore_case.pk).name == "A title Kore never had"


def test_a_failing_stream_says_so(template, simulator):
    simulator.register_app(
        template.stream.client_id, "not-the-secret-anymore-0123456789", [template.stream.stream_id]
    )
    for _ in range(StreamSync.FAILING_AFTER):
        sync(template.stream)
    state = StreamSync.objects.get(stream=template.stream)
    assert state.is_failing and "Invalid SDK credentials" in state.last_error


def test_an_export_lists_cases_made_at_kore_like_the_portals_own(template, simulator, staff_client):
    simulator.agent.create_case(template.stream.stream_id, name="Made in Kore's own screen")
    sync(template.stream)
    rows = list(
        csv.reader(
            io.StringIO(b"".join(staff_client.get(reverse("case_export_csv")).streaming_content).decode())
        )
    )
    assert any("Made in Kore's own screen" in row for row in rows)
