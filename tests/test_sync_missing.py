"""The local open cases Kore stops listing as unresolved: found closed (their status applied) or
flagged missing, never deleted, and never a live case flagged, however Kore reads ``sortBy`` and
``startDate``/``endDate`` (its documentation says neither). Against the simulator over HTTP."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from cases.models import Case, StreamSync
from cases.sync import runs

pytestmark = pytest.mark.django_db(transaction=True)


def sync(stream) -> StreamSync:
    StreamSync.objects.filter(stream=stream).update(next_pass_at=None)
    runs.sync_account(runs.lease_key(stream), [stream.pk])
    return StreamSync.objects.get(stream=stream)


def made_at_kore(simulator, stream, *, ago: timedelta, status: str = "Open") -> str:
    made = simulator.agent.create_case(
        stream.stream_id, name=f"Made {ago} ago", now=timezone.now() - ago, status=status
    )
    return made["_id"]


def local(kore_id: str) -> Case:
    return Case.objects.get(kore_id=kore_id)


def test_a_case_gone_long_after_its_last_update_is_flagged(stream, simulator, settings):
    # Its last update is far older than the overlap: only when the portal last saw it tells.
    kore_id = made_at_kore(simulator, stream, ago=timedelta(hours=2))
    assert timedelta(hours=2) > timedelta(seconds=settings.KORE_SYNC_OVERLAP_SECONDS)
    sync(stream)
    simulator.delete_case_directly(kore_id)
    state = sync(stream)
    assert local(kore_id).kore_missing_since is not None
    assert state.last_missing == 1
    assert Case.objects.filter(kore_id=kore_id).exists()  # flagged, never deleted


def test_a_case_the_portal_last_saw_before_the_last_pass_is_not_asked_for(stream, simulator):
    kore_id = made_at_kore(simulator, stream, ago=timedelta(hours=2))
    sync(stream)
    Case.objects.filter(kore_id=kore_id).update(kore_seen_at=timezone.now() - timedelta(days=2))
    simulator.delete_case_directly(kore_id)
    sync(stream)
    assert local(kore_id).kore_missing_since is None  # a full re-read tells


@pytest.mark.parametrize("sort_by", ["created_only", "ignored"])
def test_a_kore_that_does_not_sort_by_update_never_gets_a_live_case_flagged(stream, simulator, sort_by):
    simulator.set_readings(page_size=2)
    worked = made_at_kore(simulator, stream, ago=timedelta(days=3))
    gone = made_at_kore(simulator, stream, ago=timedelta(days=2, hours=12))
    # Closed long ago, created after ``worked``: newest created first, they open the closed
    # read in what looks like newest-update-first order, already older than the last pass.
    made_at_kore(simulator, stream, ago=timedelta(days=1), status="Resolved")
    made_at_kore(simulator, stream, ago=timedelta(hours=2), status="Closed")
    simulator.agent.set_status(worked, "In Progress")
    sync(stream)
    simulator.set_readings(sort_by=sort_by)
    simulator.agent.resolve(worked)
    simulator.delete_case_directly(gone)
    state = sync(stream)
    assert local(worked).status_name == "Resolved" and local(worked).kore_missing_since is None
    assert local(gone).kore_missing_since is not None
    assert state.last_missing == 1


def test_the_read_by_creation_window_costs_about_a_call_per_page_of_cases(stream, simulator):
    ids = [made_at_kore(simulator, stream, ago=timedelta(hours=6 * n + 1)) for n in range(120)]
    sync(stream)
    simulator.set_readings(sort_by="ignored")
    resolved = ids[::4]  # 30 cases, one a day over 30 days
    for kore_id in resolved[::2] + resolved[1::2]:  # in an order neither by creation nor against it
        simulator.agent.resolve(kore_id)
        time.sleep(0.002)  # Kore's updatedAt is in milliseconds
    before = simulator.calls["getCases"]
    state = sync(stream)
    assert Case.objects.filter(kore_id__in=resolved, status_name="Resolved").count() == 30
    # unresolved (90: 2 pages), created since the last pass (1), the closed ones newest update
    # first (1, unsorted), and one window over the 120 cases (3 pages); never one a case.
    assert simulator.calls["getCases"] - before == state.last_calls <= 8
    assert state.last_missing == 0


def test_nothing_is_flagged_while_kores_date_filter_may_be_on_the_due_date(stream, simulator):
    simulator.set_readings(page_size=2, date_filter="dueDate")
    worked = made_at_kore(simulator, stream, ago=timedelta(days=3))
    made_at_kore(simulator, stream, ago=timedelta(days=1), status="Resolved")
    made_at_kore(simulator, stream, ago=timedelta(hours=2), status="Closed")
    simulator.agent.set_status(worked, "In Progress")
    sync(stream)
    simulator.set_readings(sort_by="ignored")
    simulator.agent.resolve(worked)
    state = sync(stream)
    # Neither the read of new cases nor its creation window lists it when the dates are due
    # dates: absent from both, it is still not taken for gone.
    assert not state.dates_not_due
    assert local(worked).kore_missing_since is None
