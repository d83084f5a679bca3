"""Changing a case at Kore from the portal: stored before it is sent, delivered with the rules of
case delivery, confirmed from Kore's answer or refused with Kore's message, and never sent over
a newer change made at Kore. Against the simulator over real HTTP, which checks every body as
Kore's documents say."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from cases.actions import send, settle
from cases.actions.changes import UNASSIGNED, Wanted, case_change, case_change_submit
from cases.kore.simulator.catalog import catalog
from cases.models import AuditEvent, CaseAction, CaseChange, KoreAssignee, KorePriority, KoreStatus
from cases.sync import runs

pytestmark = pytest.mark.django_db(transaction=True)
State = CaseAction.State


def status(case, name):
    return KoreStatus.objects.get(stream=case.stream, name=name)


def change(case, user=None, **wanted):
    body, shown = case_change(case, Wanted(**wanted))
    return case_change_submit(case=case, body=body, changes=shown, user=user)


def at_kore(simulator, case) -> dict:
    return simulator.store.find(case.kore_id).doc


def settled(action: CaseAction, *, rounds: int = 5) -> CaseAction:
    """Run the worker's retries now rather than after their backoff."""
    for _ in range(rounds):
        action.refresh_from_db()
        if not action.is_pending:
            return action
        CaseAction.objects.filter(pk=action.pk).update(next_attempt_at=timezone.now())
        send.action_deliver(action_id=action.pk)
    action.refresh_from_db()
    return action


def test_a_status_change_is_confirmed_applied_and_recorded(worked_case, simulator, member_user):
    action = change(worked_case, member_user, status=status(worked_case, "In Progress"))
    action.refresh_from_db()
    worked_case.refresh_from_db()
    assert action.state == State.CONFIRMED
    assert at_kore(simulator, worked_case)["status"]["name"] == "In Progress"
    assert worked_case.status_name == "In Progress" and worked_case.status_category == "in_progress"
    assert worked_case.status_kore_id == catalog(worked_case.stream.stream_id).status("In Progress")["_id"]
    history = worked_case.changes.get()
    assert (history.field, history.old_value, history.new_value, history.source) == (
        "status",
        "Open",
        "In Progress",
        "portal",
    )
    event = AuditEvent.objects.get(action="case.change_confirmed")
    assert event.actor == member_user and event.target_id == str(worked_case.pk)
    assert simulator.calls["updateCase"] == 1
    # What Kore received: the status object as the table gives it, and nothing else.
    kore_status = catalog(worked_case.stream.stream_id).status("In Progress")
    assert simulator.bodies("updateCase") == [
        {"status": {key: kore_status[key] for key in ("_id", "name", "lname", "statusCategory")}}
    ]


def test_each_field_is_sent_as_kore_documents_it_and_shows_in_the_record(worked_case, simulator):
    stream = worked_case.stream
    due = (timezone.now() + timedelta(days=5)).replace(second=0, microsecond=0)
    action = change(
        worked_case,
        name="Printer on fire",
        desc="Smoke from the tray.",
        priority=KorePriority.objects.get(stream=stream, name="Critical"),
        due_date=due,
        assignee=KoreAssignee.objects.get(stream=stream, name="Chen Wei"),
    )
    assert set(action.body) == {"name", "desc", "priority", "dueDate", "assigneeType", "currAssignee"}
    assert action.body["dueDate"] == int(due.timestamp() * 1000)  # epoch ms, as the table says
    assert action.body["assigneeType"] == "agent"
    (received,) = simulator.bodies("updateCase")
    critical = catalog(stream.stream_id).priority("Critical")
    assert received["priority"] == {"_id": critical["_id"], "name": "Critical"}
    assert (
        received["currAssignee"]["agentId"].startswith("u-") and received["dueDate"] == action.body["dueDate"]
    )
    action.refresh_from_db()
    assert action.state == State.CONFIRMED, action.last_error
    doc = at_kore(simulator, worked_case)
    assert (doc["name"], doc["desc"], doc["priority"]["name"]) == (
        "Printer on fire",
        "Smoke from the tray.",
        "Critical",
    )
    assert doc["currAssignee"]["name"] == "Chen Wei"
    worked_case.refresh_from_db()
    assert worked_case.name == "Printer on fire" and worked_case.desc == "Smoke from the tray."
    assert worked_case.priority_name == "Critical" and worked_case.priority_color == "#7F1D1D"
    assert worked_case.assignee_name == "Chen Wei" and worked_case.due_date == due
    fields = set(worked_case.changes.values_list("field", flat=True))
    assert fields == {"name", "desc", "priority", "assignee", "due_date"}


def test_assigning_to_a_queue_and_to_no_one(worked_case, simulator):
    queue = KoreAssignee.objects.get(stream=worked_case.stream, kind="queue", name="Billing")
    change(worked_case, assignee=queue)
    worked_case.refresh_from_db()
    assert worked_case.assignee_name == "Billing"
    assert at_kore(simulator, worked_case)["assigneeType"] == "queues"
    time.sleep(0.005)
    change(worked_case, assignee=UNASSIGNED)
    worked_case.refresh_from_db()
    assert worked_case.assignee_name == ""
    assert at_kore(simulator, worked_case)["assigneeType"] == "unassigned"


def test_a_refused_change_keeps_kores_message_and_the_case_as_kore_has_it(worked_case, simulator):
    gone = KoreStatus.objects.create(stream=worked_case.stream, kore_id="sts-gone", name="Escalated")
    action = change(worked_case, status=gone)
    action.refresh_from_db()
    worked_case.refresh_from_db()
    assert action.state == State.REFUSED
    assert "sts-gone is not a status of this stream" in action.last_error
    assert action.http_status == 400 and "errors" in action.response_body
    assert worked_case.status_name == "Open" and not worked_case.changes.exists()
    assert at_kore(simulator, worked_case)["status"]["name"] == "Open"
    assert AuditEvent.objects.filter(action="case.change_refused").exists()


def test_a_lost_answer_is_read_back_and_never_sent_twice(worked_case, simulator):
    """Kore made the change, the answer never came: the read back finds it made."""
    simulator.inject("drop_after_create", endpoint="updateCase")
    action = settled(change(worked_case, status=status(worked_case, "On Hold")))
    assert action.state == State.CONFIRMED, action.last_error
    assert "lost request had made it" in action.last_error
    assert simulator.calls["updateCase"] == 1 and simulator.calls["getCases"] >= 1
    worked_case.refresh_from_db()
    assert worked_case.status_name == "On Hold"


def test_a_request_that_never_reached_kore_is_sent_again_after_the_read_back(worked_case, simulator):
    simulator.inject("drop", endpoint="updateCase")  # dropped before Kore did anything
    action = settled(
        change(worked_case, priority=KorePriority.objects.get(stream=worked_case.stream, name="High"))
    )
    assert action.state == State.CONFIRMED, action.last_error
    assert simulator.calls["updateCase"] == 2 and simulator.calls["getCases"] >= 1
    assert at_kore(simulator, worked_case)["priority"]["name"] == "High"


def test_after_a_lost_answer_a_newer_change_at_kore_is_never_overwritten(worked_case, simulator, settings):
    simulator.inject("drop", endpoint="updateCase")
    settings.CELERY_TASK_ALWAYS_EAGER = True
    action = CaseAction.objects.create(
        case=worked_case,
        body={
            "priority": {"_id": catalog(worked_case.stream.stream_id).priority("High")["_id"], "name": "High"}
        },
        changes={"priority": {"old": "Medium", "new": "High"}},
        based_on=worked_case.kore_updated_at,
    )
    first = send.action_deliver(action_id=action.pk)  # the answer is lost
    assert first.action.state == State.RETRYING and first.action.lookup_required
    simulator.agent.set_priority(worked_case.kore_id, "Low")  # someone at Kore, meanwhile
    CaseAction.objects.filter(pk=action.pk).update(next_attempt_at=timezone.now())
    result = send.action_deliver(action_id=action.pk)
    assert result.action.state == State.SUPERSEDED
    assert "Kore's newer change stands" in result.action.last_error
    assert at_kore(simulator, worked_case)["priority"]["name"] == "Low"
    assert simulator.calls["updateCase"] == 1
    worked_case.refresh_from_db()
    assert worked_case.priority_name == "Low"  # the read back showed the case as Kore has it


def test_a_change_kore_made_after_the_person_looked_is_not_overwritten(worked_case, simulator):
    """The person asked on a page showing Open; the sync has since seen Kore move it on."""
    looked_at = worked_case.kore_updated_at
    simulator.agent.set_status(worked_case.kore_id, "Resolved")
    runs.sync_account(runs.lease_key(worked_case.stream), [worked_case.stream.pk])
    worked_case.refresh_from_db()
    assert worked_case.status_name == "Resolved"
    body, shown = case_change(worked_case, Wanted(status=status(worked_case, "In Progress")))
    action = CaseAction.objects.create(case=worked_case, body=body, changes=shown, based_on=looked_at)
    result = send.action_deliver(action_id=action.pk)
    assert result.action.state == State.SUPERSEDED
    assert "Kore changed status after this change was asked" in result.action.last_error
    assert simulator.calls["updateCase"] == 0


def test_changes_of_one_case_go_in_the_order_they_were_asked(worked_case, simulator):
    in_progress, resolved = status(worked_case, "In Progress"), status(worked_case, "Resolved")
    first, shown = case_change(worked_case, Wanted(status=in_progress))
    first = case_change_submit(case=worked_case, body=first, changes=shown, enqueue=False)
    second, shown = case_change(worked_case, Wanted(status=resolved))
    second = case_change_submit(case=worked_case, body=second, changes=shown, enqueue=False)
    first.refresh_from_db()
    assert first.holds_next and not second.holds_next  # the second said it waits
    waiting = send.action_deliver(action_id=second.pk)
    assert not waiting.claimed and waiting.action.state == State.QUEUED  # the first goes first
    done = send.action_deliver(action_id=first.pk)
    assert done.action.state == State.CONFIRMED and done.then == (second.pk,)
    assert send.action_deliver(action_id=second.pk).action.state == State.CONFIRMED
    assert at_kore(simulator, worked_case)["status"]["name"] == "Resolved"


def test_a_change_stored_while_the_first_is_at_kore_is_sent_on(worked_case, simulator, monkeypatch):
    """The later change says it waits while the first is in flight: the first's settling,
    which writes its row on the condition that nothing waits, sees it and sends it on."""
    body, shown = case_change(worked_case, Wanted(status=status(worked_case, "In Progress")))
    first = case_change_submit(case=worked_case, body=body, changes=shown, enqueue=False)
    confirm, stored = settle.confirm, []

    def second_stored_meanwhile(*args):
        body, shown = case_change(worked_case, Wanted(status=status(worked_case, "Resolved")))
        stored.append(case_change_submit(case=worked_case, body=body, changes=shown, enqueue=False))
        return confirm(*args)

    monkeypatch.setattr(settle, "confirm", second_stored_meanwhile)
    done = send.action_deliver(action_id=first.pk)
    assert done.action.state == State.CONFIRMED and done.then == (stored[0].pk,)


def test_settling_a_change_nothing_waits_for_asks_for_no_next_change(worked_case, simulator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    body, shown = case_change(worked_case, Wanted(status=status(worked_case, "In Progress")))
    action = case_change_submit(case=worked_case, body=body, changes=shown, enqueue=False)
    with CaptureQueriesContext(connection) as captured:
        done = send.action_deliver(action_id=action.pk)
    assert done.action.state == State.CONFIRMED and done.then == ()
    later = [q["sql"] for q in captured.captured_queries if '"cases_caseaction"."id" >' in q["sql"]]
    assert later == [], later


def test_a_passing_failure_is_retried_with_backoff(worked_case, simulator):
    simulator.inject("503", endpoint="updateCase")
    action = settled(change(worked_case, status=status(worked_case, "In Progress")))
    # The 503 may have done the work (ambiguous): the retry read the case back first.
    assert action.state == State.CONFIRMED and action.attempt_count >= 2
    assert simulator.calls["getCases"] >= 1


def test_two_people_see_each_others_pending_change(worked_case, member_user, staff_user, client, settings):
    action = CaseAction.objects.create(
        case=worked_case,
        body=case_change(worked_case, Wanted(status=status(worked_case, "On Hold")))[0],
        changes={"status": {"old": "Open", "new": "On Hold"}},
        requested_by=staff_user,
    )
    client.force_login(member_user)
    page = client.get(worked_case.get_absolute_url()).content.decode()
    assert "pending at Kore" in page and "On Hold" in page and staff_user.username in page
    assert action.is_pending


def test_nothing_changed_asks_for_nothing(worked_case):
    body, shown = case_change(worked_case, Wanted(name=worked_case.name, status=status(worked_case, "Open")))
    assert body == {} and shown == {}
    assert CaseChange.objects.count() == 0


def lost_change_of_tags(case, simulator, fault: str) -> CaseAction:
    """A change Kore lists nothing of (tags: no getCases result shows them), its answer lost."""
    simulator.inject(fault, endpoint="updateCase")
    return settled(
        case_change_submit(case=case, body={"tags": ["vip"]}, changes={"tags": {"old": "", "new": "vip"}})
    )


def test_a_lost_change_kore_lists_nothing_of_is_not_taken_as_made(worked_case, simulator):
    """Kore took the change and the answer was lost: its updatedAt moved, and what it lists
    cannot say whether the change is the reason. Not confirmed without evidence, never resent."""
    action = lost_change_of_tags(worked_case, simulator, "drop_after_create")
    assert action.state == State.SUPERSEDED, action.last_error
    assert "cannot tell whether the lost request made it" in action.last_error
    assert "tags" in action.last_error
    assert simulator.calls["updateCase"] == 1 and simulator.calls["getCases"] >= 1


def test_a_change_kore_lists_nothing_of_is_sent_again_when_kore_did_not_move(worked_case, simulator):
    action = lost_change_of_tags(worked_case, simulator, "drop")  # never reached Kore
    assert action.state == State.CONFIRMED, action.last_error
    assert simulator.calls["updateCase"] == 2
    assert at_kore(simulator, worked_case)["tags"] == ["vip"]


def test_a_lost_change_is_superseded_when_kore_moved_and_nothing_of_it_is_listed(worked_case, simulator):
    """Not taken at Kore, but someone changed the case meanwhile: the portal cannot tell, so it
    does not send blindly over the newer change."""
    simulator.inject("drop", endpoint="updateCase")
    action = case_change_submit(
        case=worked_case, body={"tags": ["vip"]}, changes={"tags": {"old": "", "new": "vip"}}
    )
    action.refresh_from_db()
    assert action.state == State.RETRYING and action.lookup_required
    simulator.agent.set_priority(worked_case.kore_id, "Low")
    action = settled(action)
    assert action.state == State.SUPERSEDED and "cannot tell" in action.last_error
    assert simulator.calls["updateCase"] == 1
    assert at_kore(simulator, worked_case).get("tags") != ["vip"]


def test_what_a_listed_case_shows_of_a_change():
    from cases.kore.changes import case_shows, task_shows
    from cases.kore.simulator.catalog import ALL_AGENTS

    agent, other = ALL_AGENTS[0], ALL_AGENTS[1]
    found = {
        "_id": "ci-1",
        "name": "Printer",
        "status": {"_id": "sts-1", "name": "Open", "statusCategory": "open"},
        "priority": {"_id": "pr-1", "name": "Medium"},
        "assigneeType": "agent",
        "currAssignee": agent.assignee,
        "queues": ["qu-1"],
        "updatedAt": "2026-01-01T00:00:00.000Z",
    }
    # Nothing of these bodies is in a listed case: no evidence either way.
    assert case_shows(found, {"tags": ["vip"]}) is None
    assert case_shows(found, {"fields": [{"_id": "fd-1"}], "channel": ["email"]}) is None
    assert task_shows(found, {"desc": "More detail", "dueDate": 1_800_000_000_000}) is None
    # The assignee and the queues are compared with or without assigneeType.
    assert case_shows(found, {"currAssignee": {"agentId": agent.agent_id}}) is True
    assert case_shows(found, {"currAssignee": {"agentId": other.agent_id}}) is False
    assert case_shows(found, {"currAssignee": {}}) is False
    assert case_shows(found, {"queues": ["qu-1"]}) is True
    assert case_shows(found, {"queues": ["qu-2"]}) is False
    assert case_shows(found, {"priority": {"_id": "pr-1"}, "tags": ["vip"]}) is True


def test_a_status_is_sent_with_the_lname_kore_answered(worked_case, simulator):
    """lname is learned from what Kore lists (getCases); the lower-cased name is sent only for a
    status the portal never saw it for."""
    stream = worked_case.stream
    KoreStatus.objects.filter(stream=stream).update(lname="")
    runs.sync_account(runs.lease_key(stream), [stream.pk])
    kore_open = catalog(stream.stream_id).status("Open")
    assert KoreStatus.objects.get(stream=stream, kore_id=kore_open["_id"]).lname == kore_open["lname"]
    on_hold = status(worked_case, "On Hold")
    on_hold.lname = "on-hold"  # as another Kore might spell it
    on_hold.save()
    change(worked_case, status=on_hold)
    assert simulator.bodies("updateCase")[-1]["status"]["lname"] == "on-hold"
