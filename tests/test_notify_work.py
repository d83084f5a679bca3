"""Events from working cases: a task added or changed (``task.created``, ``task.changed``) from the
portal once Kore confirms it, through the gateway, or as the sync finds it at Kore (never on the
first read); a change of a case made from the portal is a ``case.changed`` like one the sync
sees, and a change Kore refuses tells nobody. Each reaches followers (the bell, e-mail with its
own switch) and webhooks that chose it. Against the simulator over real HTTP."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.urls import reverse
from standardwebhooks import Webhook

from cases.actions import send, task_send
from cases.actions.changes import (
    Wanted,
    case_change,
    case_change_submit,
    task_change_submit,
    task_status_change,
)
from cases.actions.new_tasks import task_body, task_submit
from cases.api.clients import api_client_create
from cases.kore.client import mint_token
from cases.kore.simulator.catalog import catalog
from cases.kore.simulator.updates import apply
from cases.models import CaseAction, CaseEvent, CaseTask, Follow, KoreStatus, StreamSync, TaskTemplate
from cases.notify import endpoints, follows, mail, tasks
from cases.people import roles
from cases.sync import runs
from tests.factories import UserFactory
from tests.receivers import text_of

pytestmark = pytest.mark.django_db(transaction=True)
Kind = CaseEvent.Kind
TASK_EVENTS = [Kind.TASK_CREATED, Kind.TASK_CHANGED]


def new_task(case, template, name="Call the customer back", **kwargs) -> CaseTask:
    body = task_body(case=case, template=template, name=name, desc="Ask whether the printer works.")
    task = task_submit(case=case, template=template, body=body, **kwargs)
    task.refresh_from_db()
    return task


def resolve_task(task: CaseTask):
    status = KoreStatus.objects.get(stream=task.case.stream, name="Resolved")
    body, shown = task_status_change(task, status)
    action = task_change_submit(task=task, body=body, changes=shown)
    action.refresh_from_db()
    return action


def change_case(case, **wanted) -> CaseAction:
    body, shown = case_change(case, Wanted(**wanted))
    action = case_change_submit(case=case, body=body, changes=shown)
    action.refresh_from_db()
    return action


def sync(stream) -> None:
    StreamSync.objects.filter(stream=stream).update(next_pass_at=None)
    runs.sync_account(runs.lease_key(stream), [stream.pk])


def at_kore(simulator, task: CaseTask, **changes) -> None:
    """Someone changes the task in Kore's own screens."""
    record = simulator.tasks.get(task.case.stream.stream_id, task.kore_id)
    with simulator._lock:
        apply(record, changes)


def made_at_kore(simulator, case, name: str) -> dict:
    """A task added in Kore's own screens (no request through the portal)."""
    with simulator._lock:
        return simulator.tasks.add(
            case.stream.stream_id,
            {"caseId": case.kore_id, "caseRefId": case.ref_id, "taskTmp": "ttm-0000-follow-up",
             "name": name, "desc": "", "userInfo": {"name": "Kim"}, "source": "rtm"},
            case.stream.account_id,
            template_name="Follow-up call",
        )  # fmt: skip


def agent_following(case):
    """dana, an agent of the case's stream, follows it; its earlier events (its delivery) gone."""
    dana = UserFactory(username="dana", email="dana@example.com", role=roles.AGENT)
    dana.member_streams.add(case.stream)
    Follow.objects.create(user=dana, case=case)
    CaseEvent.objects.all().delete()
    return dana


def events(*kinds) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(kind__in=kinds or Kind.values).order_by("id"))


# --- Tasks from the portal ---------------------------------------------------------------------


def test_a_task_added_from_the_portal_is_an_event_once_kore_confirms_it(worked_case, task_template):
    task = new_task(worked_case, task_template, enqueue=False)
    assert task.state == CaseTask.State.QUEUED and events(*TASK_EVENTS) == []  # pending: not news yet
    task_send.task_deliver(task_id=task.pk)
    task.refresh_from_db()
    [event] = events(*TASK_EVENTS)
    assert event.kind == Kind.TASK_CREATED and event.case_id == worked_case.pk
    assert event.stream_id == worked_case.stream_id
    assert event.data["task"] == {
        "id": task.pk,
        "kore_id": task.kore_id,
        "refId": task.ref_id,
        "name": "Call the customer back",
        "state": "delivered",
        "origin": "portal",
        "status_name": "Open",
        "status_category": task.status_category,
        "priority_name": "Medium",
    }
    assert task.ref_id.startswith("TS") and event.data["source"] == "portal"
    assert event.data["case"]["id"] == worked_case.pk and event.data["case"]["refId"] == worked_case.ref_id


def test_a_task_kore_refuses_is_no_event(worked_case, task_template, simulator):
    simulator.inject("400", endpoint="createTask")
    task = new_task(worked_case, task_template)
    assert task.state == CaseTask.State.FAILED
    assert events(*TASK_EVENTS) == []


def test_a_task_changed_from_the_portal_is_an_event_with_its_changes(worked_case, task_template):
    task = new_task(worked_case, task_template)
    action = resolve_task(task)
    assert action.state == CaseAction.State.CONFIRMED, action.last_error
    [event] = events(Kind.TASK_CHANGED)
    assert event.data["changes"] == [{"field": "status", "old": "Open", "new": "Resolved"}]
    assert event.data["task"]["status_name"] == "Resolved" and event.data["task"]["id"] == task.pk
    assert event.data["source"] == "portal" and event.case_id == worked_case.pk


def test_a_task_change_kore_refuses_is_no_event(worked_case, task_template, simulator):
    task = new_task(worked_case, task_template)
    simulator.inject("400", endpoint="updateTask")
    action = resolve_task(task)
    assert action.state == CaseAction.State.REFUSED
    assert events(Kind.TASK_CHANGED) == []


def test_tasks_through_the_gateway_are_events_too(client, worked_case, simulator):
    tool, secret = api_client_create(name="CRM bot", streams=[worked_case.stream])

    def token() -> str:  # each call its own (a token is used once)
        return mint_token(client_id=tool.client_id, client_secret=secret)

    base = f"/caseManagement/api/public/analytics/{worked_case.stream.stream_id}/"
    body = {"caseId": worked_case.kore_id, "caseRefId": worked_case.ref_id, "taskTmp": "ttm-1",
            "name": "Send a new toner", "desc": "Before noon.", "source": "rtm",
            "userInfo": {"name": "Dana", "emailId": "d@example.com"}}  # fmt: skip
    created = client.post(
        base + "createTask", data=json.dumps(body), content_type="application/json", headers={"auth": token()}
    )
    assert created.status_code == 200, created.content
    task = CaseTask.objects.get()
    resolved = catalog(worked_case.stream.stream_id).status("Resolved")
    status = {key: resolved[key] for key in ("_id", "name", "lname", "statusCategory")}
    moved = client.post(
        base + f"updateTask/{task.kore_id}",
        data=json.dumps({"status": status}),
        content_type="application/json",
        headers={"auth": token()},
    )
    assert moved.status_code == 200, moved.content
    made, changed = events(*TASK_EVENTS)
    assert made.kind == Kind.TASK_CREATED and made.data["task"]["kore_id"] == task.kore_id
    assert changed.kind == Kind.TASK_CHANGED and changed.data["changes"][0]["new"] == "Resolved"
    assert made.data["source"] == changed.data["source"] == "api"


# --- Tasks the sync finds ----------------------------------------------------------------------


def test_the_sync_tells_tasks_added_and_changed_at_kore_but_not_on_its_first_pass(
    worked_case, task_template, simulator
):
    task = new_task(worked_case, task_template)
    made_at_kore(simulator, worked_case, "Check the cabling")
    CaseEvent.objects.all().delete()
    sync(worked_case.stream)  # the first pass: the task made at Kore was there before; not news
    assert CaseTask.objects.filter(name="Check the cabling").exists()
    assert [event.kind for event in events()] == [Kind.BACKFILLED]
    time.sleep(0.005)
    at_kore(simulator, task, status=catalog(worked_case.stream.stream_id).status("Resolved"))
    made_at_kore(simulator, worked_case, "Replace the drum")
    sync(worked_case.stream)
    changed = CaseEvent.objects.get(kind=Kind.TASK_CHANGED)
    assert changed.data["task"]["id"] == task.pk and changed.data["source"] == "sync"
    assert changed.data["changes"] == [{"field": "status", "old": "Open", "new": "Resolved"}]
    made = CaseEvent.objects.get(kind=Kind.TASK_CREATED)
    assert made.data["task"]["name"] == "Replace the drum" and made.data["task"]["origin"] == "kore"
    assert made.case_id == worked_case.pk
    sync(worked_case.stream)
    assert len(events(*TASK_EVENTS)) == 2  # what was told is not told again


def test_a_stream_that_begins_to_use_tasks_is_not_flooded_with_old_ones(worked_case, simulator):
    sync(worked_case.stream)  # told from now on; no tasks yet, so none read
    made_at_kore(simulator, worked_case, "Made long ago")
    TaskTemplate.objects.create(stream=worked_case.stream, template_id="ttm-0000-follow-up", name="Follow-up")
    sync(worked_case.stream)  # the first read of the stream's tasks
    assert CaseTask.objects.filter(name="Made long ago").exists()
    assert events(*TASK_EVENTS) == []
    made_at_kore(simulator, worked_case, "Made just now")
    sync(worked_case.stream)
    [made] = events(*TASK_EVENTS)
    assert made.data["task"]["name"] == "Made just now"


# --- Changes of a case from the portal -----------------------------------------------------------


def test_a_case_changed_from_the_portal_is_a_case_changed_event(worked_case):
    """Even before the stream's first sync pass: the portal's own change, confirmed, is news."""
    assert not StreamSync.objects.filter(stream=worked_case.stream, high_water_mark__isnull=False).exists()
    action = change_case(
        worked_case, status=KoreStatus.objects.get(stream=worked_case.stream, name="Resolved")
    )
    assert action.state == CaseAction.State.CONFIRMED, action.last_error
    [event] = events(Kind.CHANGED)
    assert event.case_id == worked_case.pk and event.data["source"] == "portal"
    assert event.data["changes"] == [{"field": "status", "old": "Open", "new": "Resolved"}]
    assert event.data["case"]["status_name"] == "Resolved"


def test_a_case_change_kore_refuses_tells_nobody(worked_case, simulator):
    gone = KoreStatus.objects.create(stream=worked_case.stream, kore_id="sts-gone", name="Escalated")
    action = change_case(worked_case, status=gone)
    assert action.state == CaseAction.State.REFUSED
    assert events(Kind.CHANGED) == []


def test_a_change_whose_answer_was_lost_is_told_once_when_read_back(worked_case, simulator):
    sync(worked_case.stream)
    simulator.inject("drop_after_create", endpoint="updateCase")  # made at Kore, the answer lost
    action = change_case(
        worked_case, status=KoreStatus.objects.get(stream=worked_case.stream, name="On Hold")
    )
    for _ in range(5):
        if not action.is_pending:
            break
        CaseAction.objects.filter(pk=action.pk).update(next_attempt_at=None)
        send.action_deliver(action_id=action.pk)
        action.refresh_from_db()
    assert action.state == CaseAction.State.CONFIRMED and "lost request had made it" in action.last_error
    sync(worked_case.stream)
    [event] = events(Kind.CHANGED)
    assert event.data["changes"] == [{"field": "status", "old": "Open", "new": "On Hold"}]


# --- Followers and webhooks ----------------------------------------------------------------------


def test_followers_see_a_portal_change_and_a_task_on_the_bell_and_by_e_mail(
    smtp_inbox, worked_case, task_template, clock
):
    dana = agent_following(worked_case)
    change_case(worked_case, status=KoreStatus.objects.get(stream=worked_case.stream, name="In Progress"))
    task = new_task(worked_case, task_template)
    resolve_task(task)
    assert follows.unread_count(dana) == 3  # the case's change, the task added, the task resolved
    assert mail.mail_due().messages == 1
    [message] = smtp_inbox.to("dana@example.com")
    text = text_of(message)
    assert "Status: Open → In Progress" in text
    assert f"Task added: “Call the customer back” ({task.ref_id}), Open." in text
    assert f"Task “Call the customer back” ({task.ref_id}): Status: Open → Resolved" in text


def test_a_follower_turns_task_mail_off_on_their_account_page(smtp_inbox, client, worked_case, task_template):
    dana = agent_following(worked_case)
    client.force_login(dana)
    assert "mail_tasks" in client.get(reverse("account")).content.decode()
    kept = {"mail_delivered": "on", "mail_failed": "on", "mail_needs_review": "on", "mail_changed": "on"}
    client.post(reverse("account_notifications"), kept)
    new_task(worked_case, task_template)
    assert mail.mail_due().messages == 0 and smtp_inbox.messages == []
    assert follows.unread_count(dana) == 1  # the bell still shows it


def test_a_task_event_reaches_a_webhook_signed_in_order_with_its_cases(receiver, worked_case, task_template):
    CaseEvent.objects.all().delete()  # the case's delivery: not chosen anyway
    endpoint, secret = endpoints.endpoint_create(
        name="Tasks tool", url=receiver.url, events=[Kind.CHANGED, *TASK_EVENTS], streams=[]
    )
    task = new_task(worked_case, task_template)
    resolve_task(task)
    change_case(worked_case, status=KoreStatus.objects.get(stream=worked_case.stream, name="Closed"))
    tasks.tick()
    payloads = [Webhook(secret).verify(request["body"], request["headers"]) for request in receiver.received]
    assert [payload["type"] for payload in payloads] == ["task.created", "task.changed", "case.changed"]
    made, changed, _ = payloads
    assert made["data"]["task"]["id"] == task.pk and made["data"]["task"]["refId"] == task.ref_id
    assert made["data"]["case"]["url"].endswith(f"/cases/{worked_case.pk}/")
    assert changed["data"]["changes"] == [{"field": "status", "old": "Open", "new": "Resolved"}]


def test_an_endpoint_that_chose_case_events_gets_no_task_events(receiver, worked_case, task_template):
    CaseEvent.objects.all().delete()  # the case's delivery would be sent
    case_events = [kind for kind in Kind.values if kind.startswith("case.")]
    endpoints.endpoint_create(name="Cases only", url=receiver.url, events=case_events, streams=[])
    resolve_task(new_task(worked_case, task_template))
    tasks.tick()
    assert receiver.received == []


def test_the_webhooks_page_offers_the_task_events_and_ticks_them_for_a_new_endpoint(staff_client):
    page = staff_client.get(reverse("webhook_new")).content.decode()
    for kind in ("task.created", "task.changed"):
        assert f'value="{kind}"' in page
        assert re.search(rf'value="{kind}" id="id_events_\d+" checked', page)
