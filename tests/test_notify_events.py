"""Where events come from: delivery's outcomes and the changes the sync sees at Kore, each recorded
in the same transaction as the change; a stream's first pass is not news (one summary instead).
Against the simulator over real HTTP."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from cases.delivery.deliver import case_deliver
from cases.delivery.outcomes import hold_for_review
from cases.models import Case, CaseEvent, Follow, StreamSync
from cases.sync import runs
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
Kind = CaseEvent.Kind


def sync(stream) -> None:
    StreamSync.objects.filter(stream=stream).update(next_pass_at=None)
    runs.sync_account(runs.lease_key(stream), [stream.pk])


def kinds() -> list[str]:
    return list(CaseEvent.objects.order_by("id").values_list("kind", flat=True))


def test_a_delivered_case_is_an_event_with_its_refid(template):
    case = CaseFactory(template=template)
    case_deliver(case_id=case.pk)
    event = CaseEvent.objects.get()
    assert event.kind == Kind.DELIVERED and event.case_id == case.pk
    assert event.data["case"]["refId"].startswith("CS") and event.data["case"]["state"] == "delivered"
    assert event.data["case"]["stream"]["stream_id"] == template.stream.stream_id


def test_a_case_kore_refuses_is_failed_for_good(template, simulator):
    simulator.inject("400")
    case = CaseFactory(template=template)
    case_deliver(case_id=case.pk)
    event = CaseEvent.objects.get()
    assert event.kind == Kind.FAILED and event.data["case"]["last_error"]


def test_a_retry_is_no_event_and_giving_up_is_one(template, simulator, settings):
    settings.KORE_MAX_ATTEMPTS = 2
    simulator.inject("503", times=10)
    case = CaseFactory(template=template)
    case_deliver(case_id=case.pk)
    assert Case.objects.get(pk=case.pk).state == "retrying" and kinds() == []
    for _ in range(10):
        if not Case.objects.get(pk=case.pk).is_pending:
            break
        Case.objects.filter(pk=case.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        case_deliver(case_id=case.pk)
    # A 503 may have created the case: giving up means a person checks.
    assert kinds() == [Kind.NEEDS_REVIEW]


def test_a_case_held_for_review_is_an_event():
    case = CaseFactory(state=Case.State.SENDING)
    hold_for_review(case, reason="The stream has no account id.")
    event = CaseEvent.objects.get()
    assert event.kind == Kind.NEEDS_REVIEW and event.data["case"]["state"] == "needs_review"


def test_a_stream_first_pass_is_one_summary_then_changes_are_events(template, simulator):
    delivered = CaseFactory(template=template)
    case_deliver(case_id=delivered.pk)
    simulator.agent.create_case(template.stream.stream_id)
    CaseEvent.objects.all().delete()
    sync(template.stream)  # the first pass: a made-at-Kore case and the delivered one, not news
    [summary] = CaseEvent.objects.all()
    assert summary.kind == Kind.BACKFILLED and summary.case is None
    assert summary.data["reason"] == "first_pass" and summary.data["cases_new"] == 1
    assert summary.data["cases_known"] == 2
    time.sleep(0.005)
    delivered.refresh_from_db()
    simulator.agent.set_status(delivered.kore_id, "In Progress")
    simulator.agent.reassign(delivered.kore_id, to="Felipe Souza")
    simulator.agent.create_case(template.stream.stream_id)
    sync(template.stream)
    changed = CaseEvent.objects.get(kind=Kind.CHANGED)
    assert changed.case_id == delivered.pk
    fields = {change["field"]: change["new"] for change in changed.data["changes"]}
    assert fields == {"status": "In Progress", "assignee": "Felipe Souza"}
    assert changed.data["case"]["status_name"] == "In Progress"
    made = CaseEvent.objects.get(kind=Kind.CREATED_AT_KORE)
    assert made.case.origin == Case.Origin.KORE and made.data["case"]["origin"] == "kore"


def test_a_full_re_read_before_the_first_pass_is_a_summary_too(template, simulator, staff_user):
    simulator.agent.create_case(template.stream.stream_id)
    runs.ask_for_full_read(runs.sync_state(template.stream))
    runs.full_read(template.stream)
    [summary] = CaseEvent.objects.all()
    assert summary.kind == Kind.BACKFILLED and summary.data["reason"] == "full_read"


def test_a_full_re_read_of_a_synced_stream_tells_what_it_finds_as_a_pass_would(template, simulator):
    known = CaseFactory(template=template)
    case_deliver(case_id=known.pk)
    sync(template.stream)  # the first pass: one summary
    CaseEvent.objects.all().delete()
    time.sleep(0.005)
    known.refresh_from_db()
    simulator.agent.set_status(known.kore_id, "In Progress")
    # Resolved before any pass looked: only a full read sees it.
    long_ago = timezone.now() - timedelta(days=400)
    old = simulator.agent.create_case(template.stream.stream_id, now=long_ago, status="Resolved")
    runs.ask_for_full_read(runs.sync_state(template.stream))
    runs.full_read(template.stream)
    assert sorted(kinds()) == [Kind.CHANGED, Kind.CREATED_AT_KORE]  # no summary
    changed = CaseEvent.objects.get(kind=Kind.CHANGED)
    assert changed.case_id == known.pk and changed.data["source"] == "full read"
    assert {"field": "status", "old": "Open", "new": "In Progress"} in changed.data["changes"]
    made = CaseEvent.objects.get(kind=Kind.CREATED_AT_KORE)
    assert made.case.kore_id == old["_id"] and made.data["case"]["origin"] == "kore"


def test_a_first_pass_summary_reaches_a_real_receiver_signed(template, simulator, receiver):
    from standardwebhooks import Webhook

    from cases.notify import endpoints, tasks

    _, secret = endpoints.endpoint_create(
        name="Backfills", url=receiver.url, events=[Kind.BACKFILLED], streams=[template.stream]
    )
    simulator.agent.create_case(template.stream.stream_id)
    sync(template.stream)
    tasks.tick()
    [request] = receiver.received
    payload = Webhook(secret).verify(request["body"], request["headers"])
    assert payload["type"] == "sync.backfilled"
    assert payload["data"]["reason"] == "first_pass" and payload["data"]["cases_new"] == 1
    assert payload["data"]["stream"]["stream_id"] == template.stream.stream_id


def test_the_submitter_follows_the_case_from_the_start(member_client, template):
    response = member_client.post(
        "/cases/new/",
        {"template": template.pk, "name": "Printer jammed", "desc": "Floor 3", "emailId": "dana@example.com"},
    )
    case = Case.objects.get()
    assert response.status_code == 302
    assert list(Follow.objects.values_list("user__username", "case")) == [("bob", case.pk)]


def test_existing_submitters_follow_their_cases_after_the_migration(template):
    """The migration's data step, run again on cases made before it."""
    from importlib import import_module
    from pathlib import Path

    from django.apps import apps
    from django.db import connection

    # Found by its name, whatever number it ends up with when branches merge.
    [path] = (Path(__file__).resolve().parent.parent / "cases" / "migrations").glob(
        "*_notify_follows_and_webhooks.py"
    )
    migration = import_module(f"cases.migrations.{path.stem}")
    erin = UserFactory(username="erin")
    mine, anonymous = CaseFactory(template=template, submitted_by=erin), CaseFactory(template=template)
    Follow.objects.all().delete()
    with connection.schema_editor() as editor:
        migration.submitters_follow_their_cases(apps, editor)
    assert list(Follow.objects.values_list("user", "case")) == [(erin.pk, mine.pk)]
    assert not Follow.objects.filter(case=anonymous).exists()
