"""Tasks of a case: created at Kore from the portal (createTask, never twice), their status changed
(updateTask), kept locally and refreshed by the sync. Against the simulator over real HTTP."""

from __future__ import annotations

import pytest
from django.utils import timezone

from cases.actions import send, task_send
from cases.actions.changes import task_change_submit, task_status_change
from cases.actions.new_tasks import task_adopt, task_body, task_submit
from cases.kore.simulator.catalog import catalog
from cases.models import CaseAction, CaseTask, KoreStatus
from cases.sync import runs

pytestmark = pytest.mark.django_db(transaction=True)


def new_task(case, template, name="Call the customer back", **kwargs) -> CaseTask:
    body = task_body(case=case, template=template, name=name, desc="Ask whether the printer works.")
    return task_submit(case=case, template=template, body=body, **kwargs)


def settled(task: CaseTask, rounds: int = 5) -> CaseTask:
    for _ in range(rounds):
        task.refresh_from_db()
        if not task.is_pending:
            return task
        CaseTask.objects.filter(pk=task.pk).update(next_attempt_at=timezone.now())
        task_send.task_deliver(task_id=task.pk)
    task.refresh_from_db()
    return task


def test_a_task_is_created_with_the_body_kore_documents(worked_case, task_template, simulator):
    task = settled(new_task(worked_case, task_template))
    assert task.state == CaseTask.State.DELIVERED, task.last_error
    body = task.request_body
    assert body["caseId"] == worked_case.kore_id and body["caseRefId"] == worked_case.ref_id
    assert body["taskTmp"] == "ttm-0000-follow-up" and body["source"] == "rtm"
    # createTask wants the contact inside userInfo, unlike createCase.
    assert body["userInfo"] == {"name": "dummy", "emailId": worked_case.requester_email}
    kept = simulator.tasks.get(worked_case.stream.stream_id, task.kore_id).doc
    assert kept["caseId"] == worked_case.kore_id and kept["taskTmp"] == "Follow-up call"
    assert task.ref_id.startswith("TS") and task.status_name == "Open" and task.priority_name == "Medium"


def test_a_lost_create_task_answer_is_looked_up_and_adopted_never_sent_twice(
    worked_case, task_template, simulator
):
    simulator.set_readings(tasks_by_case=True)
    simulator.inject("drop_after_create", endpoint="createTask")
    task = settled(new_task(worked_case, task_template))
    assert task.state == CaseTask.State.DELIVERED, task.last_error
    assert "adopted after a lost answer" in task.last_error
    assert len(simulator.tasks) == 1 and simulator.calls["createTask"] == 1
    assert simulator.calls["getTasks"] >= 1


@pytest.mark.parametrize("tasks_by_case", [False, True], ids=["caseId ignored", "caseId honoured"])
def test_a_create_task_that_never_reached_kore_is_sent_again(
    worked_case, task_template, simulator, tasks_by_case
):
    """getTasks' caseId filter is not documented: the look-up decides by itself either way."""
    simulator.set_readings(tasks_by_case=tasks_by_case)
    other = new_task(worked_case, task_template, name="Send a new toner")
    settled(other)
    simulator.inject("drop", endpoint="createTask")
    task = settled(new_task(worked_case, task_template))
    assert task.state == CaseTask.State.DELIVERED, task.last_error
    assert len(simulator.tasks) == 2 and simulator.calls["createTask"] == 3


def test_a_look_up_that_finds_two_holds_the_task_for_a_person(worked_case, task_template, simulator):
    simulator.inject("drop_after_create", endpoint="createTask")
    task = new_task(worked_case, task_template)
    task.refresh_from_db()
    assert task.lookup_required
    # Meanwhile someone at Kore added a task of the same name to the case.
    twin_of(simulator, worked_case, task.request_body)
    task = settled(task)
    assert task.state == CaseTask.State.NEEDS_REVIEW
    assert "Several Kore tasks may be this one" in task.last_error
    assert len(task.review_candidates) == 2 and simulator.calls["createTask"] == 1
    chosen = task.review_candidates[0]["_id"]
    assert task_adopt(task=task, kore_id=chosen)
    task.refresh_from_db()
    assert task.state == CaseTask.State.DELIVERED and task.kore_id == chosen


def twin_of(simulator, case, body) -> dict:
    """A task made in Kore's own screens (no request)."""
    with simulator._lock:
        return simulator.tasks.add(
            case.stream.stream_id, body, case.stream.account_id, template_name="Follow-up call"
        )


def test_a_tasks_status_is_changed_with_update_task(worked_case, task_template, simulator):
    task = settled(new_task(worked_case, task_template))
    resolved = KoreStatus.objects.get(stream=worked_case.stream, name="Resolved")
    body, shown = task_status_change(task, resolved)
    action = task_change_submit(task=task, body=body, changes=shown)
    action.refresh_from_db()
    task.refresh_from_db()
    assert action.state == CaseAction.State.CONFIRMED, action.last_error
    assert simulator.tasks.get(worked_case.stream.stream_id, task.kore_id).doc["status"]["name"] == "Resolved"
    assert task.status_name == "Resolved" and task.status_kore_id == resolved.kore_id
    assert simulator.calls["updateTask"] == 1
    kore_status = catalog(worked_case.stream.stream_id).status("Resolved")
    assert simulator.bodies("updateTask") == [
        {"status": {key: kore_status[key] for key in ("_id", "name", "lname", "statusCategory")}}
    ]


def test_an_answer_applied_to_a_task_as_read_never_overwrites_a_newer_one(
    worked_case, task_template, simulator
):
    """The answer to a change is applied to the task its caller read (no second read); should
    another writer have recorded a newer answer meanwhile, the row is read again and kept."""
    from datetime import timedelta

    from cases.actions.apply import apply_task_answer

    task = settled(new_task(worked_case, task_template))
    as_read = CaseTask.objects.select_related("case").get(pk=task.pk)
    later = task.kore_updated_at + timedelta(minutes=5)
    CaseTask.objects.filter(pk=task.pk).update(status_name="Closed", kore_updated_at=later)
    older = {
        "_id": task.kore_id,
        "status": {"_id": "sts-x", "name": "In Progress"},
        "updatedAt": (task.kore_updated_at + timedelta(minutes=1)).isoformat(),
    }
    apply_task_answer(as_read, older, source="api")
    task.refresh_from_db()
    assert task.status_name == "Closed" and task.kore_updated_at == later
    newest = {**older, "updatedAt": (later + timedelta(minutes=1)).isoformat()}
    apply_task_answer(as_read, newest, source="api")
    task.refresh_from_db()
    assert task.status_name == "In Progress"


def test_the_sync_keeps_tasks_in_step_and_brings_in_tasks_made_at_kore(worked_case, task_template, simulator):
    task = settled(new_task(worked_case, task_template))
    stream = worked_case.stream
    # At Kore: someone resolves the portal's task and adds one of their own.
    record = simulator.tasks.get(stream.stream_id, task.kore_id)
    from cases.kore.simulator.catalog import catalog
    from cases.kore.simulator.updates import apply

    with simulator._lock:
        apply(record, {"status": catalog(stream.stream_id).status("Resolved")})
    twin_of(simulator, worked_case, {**task.request_body, "name": "Check the cabling"})
    runs.sync_account(runs.lease_key(stream), [stream.pk])
    task.refresh_from_db()
    assert task.status_name == "Resolved"
    found = CaseTask.objects.get(name="Check the cabling")
    assert found.origin == "kore" and found.state == CaseTask.State.DELIVERED and found.case == worked_case
    assert simulator.calls["getTasks"] >= 2


def test_a_lost_task_change_kore_lists_nothing_of_is_not_taken_as_made(worked_case, task_template, simulator):
    """getTasks lists no description: after a lost answer, a moved updatedAt cannot tell whose
    change it was, so the change is neither confirmed without evidence nor sent again."""
    task = settled(new_task(worked_case, task_template))
    simulator.inject("drop_after_create", endpoint="updateTask")
    action = task_change_submit(task=task, body={"desc": "Call after 5 pm."}, changes={"desc": {"new": "x"}})
    for _ in range(5):
        action.refresh_from_db()
        if not action.is_pending:
            break
        CaseAction.objects.filter(pk=action.pk).update(next_attempt_at=timezone.now())
        send.action_deliver(action_id=action.pk)
    assert action.state == CaseAction.State.SUPERSEDED, action.last_error
    assert "cannot tell whether the lost request made it" in action.last_error
    assert simulator.calls["updateTask"] == 1 and simulator.calls["getTasks"] >= 1
