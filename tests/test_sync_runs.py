"""How the sync runs: passes that pause rather than fail, one pass at a time even unpaced, the
first pass's reach, cases left to delivery, templates of cases made at Kore, and the full
re-read an administrator asks for, which always ends and says how. Against the simulator."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from cases.delivery import pacing
from cases.delivery.deliver import case_deliver
from cases.models import Case, StreamSync
from cases.sync import runs, tasks
from cases.sync.lease import Lease
from tests.conftest import TEST_CLIENT_SECRET
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db(transaction=True)


def sync(stream) -> StreamSync:
    StreamSync.objects.filter(stream=stream).update(next_pass_at=None)
    runs.sync_account(runs.lease_key(stream), [stream.pk])
    return StreamSync.objects.get(stream=stream)


def delivered(template) -> Case:
    case = CaseFactory(template=template)
    case_deliver(case_id=case.pk)
    case.refresh_from_db()
    time.sleep(0.005)  # Kore's updatedAt is in milliseconds: a change comes after it
    return case


@pytest.fixture
def no_turn_left(stream, settings):
    """Every slot of the account's rate limit is taken for the next seconds (deliveries came
    first), and a pass waits only a moment for one."""
    settings.KORE_RATE_WINDOW_SECONDS = 2.0
    settings.KORE_SYNC_TURN_SECONDS = 0.3
    type(stream).objects.filter(pk=stream.pk).update(rate_limit=11)
    stream.refresh_from_db()
    while pacing.claim_slot(stream.rate_limit_key(), limit=11, window=2.0, horizon=3.0):
        pass
    return stream


# --- passes ----------------------------------------------------------------------------------


def test_a_pass_with_no_turn_left_pauses_and_does_not_fail(no_turn_left, simulator):
    before = simulator.request_count
    state = sync(no_turn_left)
    assert simulator.request_count == before
    assert state.failures == 0 and state.last_error == ""
    assert state.high_water_mark is None  # the next pass starts over from the first page
    assert timezone.now() < state.next_pass_at <= timezone.now() + runs.RESUME_AFTER


def test_an_unpaced_stream_still_runs_one_pass_at_a_time(template, simulator):
    stream = template.stream
    type(stream).objects.filter(pk=stream.pk).update(rate_limit=0)
    for _ in range(3):
        delivered(template)
    simulator.set_latency(0.05)
    before, ran = simulator.request_count, []

    def worker():
        try:
            ran.append(runs.sync_account(runs.lease_key(stream), [stream.pk]).ran)
        finally:
            connection.close()

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert sorted(len(r) for r in ran) == [0, 1]
    assert simulator.request_count - before == StreamSync.objects.get(stream=stream).last_calls


def test_the_first_pass_reads_only_the_recent_window(stream, simulator, settings):
    now = timezone.now()

    def resolved(days: int) -> str:
        made = simulator.agent.create_case(
            stream.stream_id, name=f"{days} days old", now=now - timedelta(days=days), status="Resolved"
        )
        return made["_id"]

    recent, old = resolved(20), resolved(40)
    still_open = simulator.agent.create_case(stream.stream_id, now=now - timedelta(days=40))["_id"]
    assert settings.KORE_SYNC_FIRST_DAYS == 30
    sync(stream)
    imported = set(Case.objects.values_list("kore_id", flat=True))
    assert recent in imported and still_open in imported  # every unresolved case, however old
    assert old not in imported


def test_a_case_still_being_delivered_is_left_to_delivery(template, simulator):
    case = delivered(template)
    sync(template.stream)
    Case.objects.filter(pk=case.pk).update(state=Case.State.RETRYING)  # delivery holds it
    simulator.agent.set_status(case.kore_id, "In Progress")
    sync(template.stream)
    case.refresh_from_db()
    assert case.status_name != "In Progress" and not case.changes.exists()


@pytest.mark.parametrize("answered_as", ["name", "template_id"])
def test_a_case_made_at_kore_gets_its_template_by_the_id_or_name_kore_answers(
    template, simulator, answered_as
):
    # Kore answers caseTmp with the template's name (the simulator's way), or with its id.
    answer = getattr(template, answered_as)
    simulator.register_template(template.stream.stream_id, template.template_id, answer)
    made = simulator.agent.create_case(template.stream.stream_id, name="Opened by the bot")
    assert made["caseTmp"] == answer
    sync(template.stream)
    assert Case.objects.get(kore_id=made["_id"]).template == template


# --- the full re-read ------------------------------------------------------------------------


def sync_page(client) -> str:
    return client.get(reverse("sync_overview"), headers={"HX-Request": "true"}).content.decode()


def ask_for_full_read(client, stream) -> None:
    state = runs.sync_state(stream)
    client.post(reverse("sync_full_read", args=[state.pk]))


def test_a_full_re_read_asked_for_during_a_pass_runs_at_the_accounts_next_run(
    template, simulator, staff_client
):
    for _ in range(3):
        delivered(template)
    stream = template.stream
    with Lease(runs.lease_key(stream)) as pass_running:
        assert pass_running.held
        ask_for_full_read(staff_client, stream)  # its task finds the account busy
        state = StreamSync.objects.get(stream=stream)
        assert state.full_read_running and state.full_read_pages == 0
        page = sync_page(staff_client)
        assert "Full re-read: waiting to start" in page and 'hx-trigger="every 2s"' in page
    StreamSync.objects.filter(stream=stream).update(next_pass_at=timezone.now() + timedelta(hours=1))
    tasks.sync_due_streams()  # the next tick
    state = StreamSync.objects.get(stream=stream)
    assert not state.full_read_running and state.full_read_error == ""
    assert state.full_read_cases == 3 and state.full_read_total == 3
    page = sync_page(staff_client)
    assert "Full re-read: done, 3 cases" in page and "every 2s" not in page


def test_a_full_re_read_refused_by_kore_ends_with_its_message_kept(template, simulator, staff_client):
    stream = template.stream
    simulator.register_app(stream.client_id, "not-the-secret-anymore-0123456789", [stream.stream_id])
    ask_for_full_read(staff_client, stream)
    state = StreamSync.objects.get(stream=stream)
    assert not state.full_read_running and "Invalid SDK credentials" in state.full_read_error
    simulator.register_app(stream.client_id, TEST_CLIENT_SECRET, [stream.stream_id])
    assert sync(stream).last_error == ""  # a good pass since
    page = sync_page(staff_client)
    assert "Full re-read stopped after 0 cases: Invalid SDK credentials" in page
    assert "every 2s" not in page


def test_a_full_re_read_with_no_turn_left_stops_and_says_so(no_turn_left, staff_client):
    ask_for_full_read(staff_client, no_turn_left)
    state = StreamSync.objects.get(stream=no_turn_left)
    assert not state.full_read_running and state.full_read_error.startswith("paused")
    assert "Full re-read stopped after 0 cases: paused" in sync_page(staff_client)
