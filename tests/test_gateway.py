"""The gateway: all six of Kore's case endpoints under Kore's own paths, with the API clients'
Kore-style JWTs, their streams and rights, Idempotency-Key on the writes, Kore's answers as Kore
gave them, and Kore's error form on every failure. Against the simulator over real HTTP."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.actions import reads, settle, task_send
from cases.actions.changes import Wanted, case_change, case_change_submit
from cases.actions.send import action_deliver
from cases.actions.sweep import actions_sweep
from cases.api.clients import api_client_create
from cases.kore.client import mint_token
from cases.kore.simulator.catalog import catalog
from cases.models import (
    ApiClient,
    AuditEvent,
    Case,
    CaseAction,
    CaseChange,
    CaseEvent,
    CaseTask,
    KoreStatus,
    StreamSync,
    TaskTemplate,
)
from cases.models.streams import LEGACY_ENDPOINTS, READ_ENDPOINTS
from cases.sync.learn import Learner
from tests.factories import StreamFactory
from tests.holding import held, once_recorded

pytestmark = pytest.mark.django_db(transaction=True)
BASE = "/caseManagement/api/public/analytics/{stream}/"


@pytest.fixture
def tool(template):
    client, secret = api_client_create(name="CRM bot", streams=[template.stream])
    client.plain_secret = secret
    return client


def send(client, tool, stream, path, body=None, *, raw=None, headers=None):
    token = mint_token(client_id=tool.client_id, client_secret=tool.plain_secret)
    return client.post(
        BASE.format(stream=stream.stream_id) + path,
        data=raw if raw is not None else json.dumps(body if body is not None else {}),
        content_type="application/json",
        headers={"auth": token, **(headers or {})},
    )


def assert_kore_form(response, status):
    assert response.status_code == status, response.content[:400]
    assert response["Content-Type"].startswith("application/json")
    errors = response.json()["errors"]
    assert errors and all(isinstance(e["msg"], str) and e["msg"] and "code" in e for e in errors), errors
    return errors


# --- Reads pass through ----------------------------------------------------------------------


def test_get_cases_passes_through_with_the_streams_credentials_and_updates_the_record(
    client, tool, worked_case, simulator
):
    simulator.agent.set_status(worked_case.kore_id, "On Hold")
    made_at_kore = simulator.agent.create_case(worked_case.stream.stream_id, name="Opened by the chat bot")
    response = send(client, tool, worked_case.stream, "getCases", {"unresolved": True})
    assert response.status_code == 200
    answer = response.json()
    assert {case["_id"] for case in answer["results"]} == {worked_case.kore_id, made_at_kore["_id"]}
    assert set(answer) >= {"results", "page", "limit", "hasMore", "totalPages", "totalResults"}
    # Kore saw the stream's own app, never the API client's.
    assert tool.client_id not in simulator.app_ids()
    worked_case.refresh_from_db()
    assert worked_case.status_name == "On Hold"
    assert CaseChange.objects.get(case=worked_case).source == "gateway"
    assert Case.objects.get(kore_id=made_at_kore["_id"]).origin == Case.Origin.KORE


def test_a_read_applies_only_what_the_record_lacks(client, tool, worked_case, simulator, monkeypatch):
    """Applying unchanged cases would change nothing (never backwards): a tool polling them
    costs one query after its answer, and a case changed at Kore is applied alone."""
    other = simulator.agent.create_case(worked_case.stream.stream_id, name="Opened by the chat bot")
    send(client, tool, worked_case.stream, "getCases", {"unresolved": True})  # both known now
    applied: list[list[str]] = []
    real = reads.apply_read
    monkeypatch.setattr(
        reads,
        "apply_read",
        lambda stream, endpoint, answer, **kwargs: (
            applied.append([c["_id"] for c in answer["results"]]) or real(stream, endpoint, answer, **kwargs)
        ),
    )
    assert send(client, tool, worked_case.stream, "getCases", {"unresolved": True}).status_code == 200
    assert applied == []
    simulator.agent.set_priority(other["_id"], "Critical")
    response = send(client, tool, worked_case.stream, "getCases", {"unresolved": True})
    assert {case["_id"] for case in response.json()["results"]} == {worked_case.kore_id, other["_id"]}
    assert applied == [[other["_id"]]]
    assert Case.objects.get(kore_id=other["_id"]).priority_name == "Critical"


def test_reads_learn_the_catalog_and_ask_no_more_once_the_process_knows_it(
    client, tool, worked_case, simulator
):
    """A tool polling changed cases: the first read learns the status it names; a read naming
    only statuses, priorities and assignees the process knows, as they are, costs no catalog
    query (cases/sync/learn.py), nor asks again whether the stream's changes are news
    (cases/models/sync.py); one naming a status differently writes it again."""
    stream = worked_case.stream
    StreamSync.objects.update_or_create(stream=stream, defaults={"high_water_mark": timezone.now()})
    simulator.agent.set_status(worked_case.kore_id, "On Hold")
    KoreStatus.objects.filter(stream=stream, name="On Hold").update(lname="")
    send(client, tool, stream, "getCases", {"unresolved": True})
    on_hold = KoreStatus.objects.get(stream=stream, name="On Hold")
    assert on_hold.lname == catalog(stream.stream_id).status("On Hold")["lname"]

    simulator.agent.set_status(worked_case.kore_id, "Open")
    send(client, tool, stream, "getCases", {"unresolved": True})
    simulator.agent.set_status(worked_case.kore_id, "On Hold")
    with CaptureQueriesContext(connection) as queries:
        send(client, tool, stream, "getCases", {"unresolved": True})
    worked_case.refresh_from_db()
    assert worked_case.status_name == "On Hold"  # applied
    asked_once = ("cases_korestatus", "cases_korepriority", "cases_koreassignee", "cases_streamsync")
    assert not [q["sql"] for q in queries if any(table in q["sql"] for table in asked_once)]
    assert CaseEvent.objects.filter(kind=CaseEvent.Kind.CHANGED, case=worked_case).count() == 3  # news

    renamed = dict(worked_case.kore_case["status"], name="Waiting on customer")
    learner = Learner(stream)
    learner.learn([{**worked_case.kore_case, "status": renamed}])
    learner.save(seen_at=timezone.now(), only_changes=True)
    assert KoreStatus.objects.get(pk=on_hold.pk).name == "Waiting on customer"


def test_get_tasks_passes_through_and_keeps_the_tasks(client, tool, worked_case, simulator):
    TaskTemplate.objects.create(stream=worked_case.stream, template_id="ttm-1", name="Call back")
    body = task_body(worked_case)
    created = send(client, tool, worked_case.stream, "createTask", body).json()
    CaseTask.objects.all().delete()  # as if the portal had never heard of it
    response = send(client, tool, worked_case.stream, "getTasks", {"skip": 0, "limit": 10})
    assert response.status_code == 200 and [t["_id"] for t in response.json()["results"]] == [created["_id"]]
    assert CaseTask.objects.get().kore_id == created["_id"]


def test_a_read_is_answered_before_its_answer_is_applied(
    live_server, tool, worked_case, simulator, monkeypatch
):
    """The caller has Kore's answer before the local record takes it (cases/api/kore_paths.py,
    AnswerFirst): applying runs once the server has sent the last byte."""
    simulator.agent.set_status(worked_case.kore_id, "On Hold")
    token = mint_token(client_id=tool.client_id, client_secret=tool.plain_secret)
    url = live_server.url + BASE.format(stream=worked_case.stream.stream_id) + "getCases"
    with held(monkeypatch, reads, "apply_read") as applying:
        answer = requests.post(url, json={"unresolved": True}, headers={"auth": token}, timeout=10)
        assert answer.status_code == 200
        assert worked_case.kore_id in {case["_id"] for case in answer.json()["results"]}
        assert applying.wait(10)
        worked_case.refresh_from_db()
        assert worked_case.status_name != "On Hold"  # answered while applying was held
    for _ in range(100):
        worked_case.refresh_from_db()
        if worked_case.status_name == "On Hold":
            break
        time.sleep(0.05)
    assert worked_case.status_name == "On Hold"


def test_kores_own_refusal_of_a_read_comes_back_as_kore_said_it(client, tool, template, simulator):
    response = send(client, tool, template.stream, "getCases", {"status": "Open"})
    errors = assert_kore_form(response, 400)
    assert errors[0]["msg"] == "status must be an array."


@pytest.mark.parametrize(("rate_limit", "wait"), [(0, 60), (3, 2)], ids=["unpaced", "paced"])
def test_kores_rate_limit_answer_without_retry_after_tells_the_real_wait(
    client, tool, template, simulator, settings, rate_limit, wait
):
    """Kore need not say when to retry (its documents do not): the portal then tells the wait
    for the account's next slot, or, on a stream it does not pace, Kore's whole window."""
    settings.KORE_RATE_WINDOW_SECONDS = 60.0 if not rate_limit else 4.0  # paced: slots of 2 s
    template.stream.rate_limit = rate_limit
    template.stream.save()
    simulator.set_readings(rate_limit_retry_after=False)
    simulator.inject("429", endpoint="getCases")
    response = send(client, tool, template.stream, "getCases", {"page": 1, "limit": 1})
    errors = assert_kore_form(response, 429)
    assert "rate limit" in errors[0]["msg"]
    assert response["Retry-After"] == str(wait)


# --- Writes go through the outbox ----------------------------------------------------------


def status_body(case, name):
    status = catalog(case.stream.stream_id).status(name)
    return {"status": {key: status[key] for key in ("_id", "name", "lname", "statusCategory")}}


def test_update_case_is_stored_delivered_and_answered_as_kore_answered(client, tool, worked_case, simulator):
    response = send(
        client,
        tool,
        worked_case.stream,
        f"updateCase/{worked_case.kore_id}",
        status_body(worked_case, "Resolved"),
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert (
        answer["_id"] == worked_case.kore_id
        and answer["status"]["name"] == "Resolved"
        and answer["ETA"] == ""
    )
    action = CaseAction.objects.get()
    assert action.api_client == tool and action.state == CaseAction.State.CONFIRMED
    assert response["X-Portal-Change-Id"] == str(action.pk)
    worked_case.refresh_from_db()
    assert worked_case.status_name == "Resolved"
    assert CaseChange.objects.get(case=worked_case).source == "api"
    assert AuditEvent.objects.filter(action="case.change_by_api").exists()
    # Kore received the caller's body as it was sent: the gateway forwards, it does not rewrite.
    assert simulator.bodies("updateCase") == [status_body(worked_case, "Resolved")]


def test_an_incomplete_status_from_a_caller_is_refused_by_kore_in_its_form(
    client, tool, worked_case, simulator
):
    kore_status = status_body(worked_case, "Resolved")["status"]
    response = send(
        client,
        tool,
        worked_case.stream,
        f"updateCase/{worked_case.kore_id}",
        {"status": {"_id": kore_status["_id"], "name": kore_status["name"]}},
    )
    assert response.status_code == 400, response.content
    assert "lname and statusCategory missing" in response.json()["errors"][0]["msg"]
    assert CaseAction.objects.get().state == CaseAction.State.REFUSED
    worked_case.refresh_from_db()
    assert worked_case.status_name == "Open"


def test_a_change_waits_behind_a_pending_change_of_its_case(client, tool, worked_case, simulator, settings):
    """Changes of a case go in order: behind a person's change still pending, an API client's is
    stored, not sent, and answered 202; with nothing pending, it is sent at once."""
    settings.PROXY_WAIT_SECONDS = 0.3
    in_progress = KoreStatus.objects.get(stream=worked_case.stream, name="In Progress")
    body, shown = case_change(worked_case, Wanted(status=in_progress))
    earlier = case_change_submit(case=worked_case, body=body, changes=shown, enqueue=False)
    CaseAction.objects.filter(pk=earlier.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    sent_before = simulator.calls["updateCase"]
    path = f"updateCase/{worked_case.kore_id}"
    response = send(client, tool, worked_case.stream, path, status_body(worked_case, "On Hold"))
    assert response.status_code == 202, response.content
    assert simulator.calls["updateCase"] == sent_before  # neither was sent
    waiting = CaseAction.objects.exclude(pk=earlier.pk).get()
    assert waiting.state == CaseAction.State.QUEUED

    CaseAction.objects.all().delete()  # nothing pending now: sent at once
    response = send(client, tool, worked_case.stream, path, status_body(worked_case, "Open"))
    assert response.status_code == 200, response.content


def test_a_change_kore_took_is_answered_before_it_is_recorded(
    live_server, tool, worked_case, simulator, monkeypatch
):
    """The caller has Kore's answer before the portal records it (AnswerFirst): the row is
    confirmed, and Kore's answer applied, once the server has sent the last byte."""
    token = mint_token(client_id=tool.client_id, client_secret=tool.plain_secret)
    path = BASE.format(stream=worked_case.stream.stream_id) + f"updateCase/{worked_case.kore_id}"
    with held(monkeypatch, settle, "confirm") as recording:
        answer = requests.post(
            live_server.url + path,
            json=status_body(worked_case, "Resolved"),
            headers={"auth": token},
            timeout=10,
        )
        assert answer.status_code == 200 and answer.json()["status"]["name"] == "Resolved"
        assert recording.wait(10)
        action = CaseAction.objects.get()
        assert answer.headers["X-Portal-Change-Id"] == str(action.pk)
        assert action.state == CaseAction.State.SENDING  # answered while recording was held
    action = once_recorded(action)
    assert action.state == CaseAction.State.CONFIRMED and json.loads(action.response_body) == answer.json()
    worked_case.refresh_from_db()
    assert worked_case.status_name == "Resolved"


def test_a_change_answered_but_never_recorded_is_read_back_not_sent_again(
    client, tool, worked_case, simulator, monkeypatch, settings
):
    """The portal stops between answering and recording: the row is left ``sending``, and the
    sweep has it read back, which finds the change made."""

    def stopped(*args):
        raise RuntimeError("the worker stopped")

    monkeypatch.setattr(settle, "confirm", stopped)
    path = f"updateCase/{worked_case.kore_id}"
    assert (
        send(client, tool, worked_case.stream, path, status_body(worked_case, "Resolved")).status_code == 200
    )
    action = CaseAction.objects.get()
    assert action.state == CaseAction.State.SENDING
    monkeypatch.undo()
    settings.KORE_SENDING_TIMEOUT_SECONDS = 0
    assert actions_sweep().action_ids == [action.pk]
    assert action_deliver(action_id=action.pk).state == CaseAction.State.CONFIRMED
    action.refresh_from_db()
    assert "lost request had made it" in action.last_error
    assert simulator.calls["updateCase"] == 1
    worked_case.refresh_from_db()
    assert worked_case.status_name == "Resolved"


def test_a_task_answered_but_never_recorded_is_looked_up_not_sent_again(
    client, tool, worked_case, simulator, monkeypatch, settings
):
    def stopped(*args, **kwargs):
        raise RuntimeError("the worker stopped")

    simulator.set_readings(tasks_by_case=True)
    monkeypatch.setattr(task_send, "delivered", stopped)
    answer = send(client, tool, worked_case.stream, "createTask", task_body(worked_case))
    assert answer.status_code == 200
    task = CaseTask.objects.get()
    assert task.state == CaseTask.State.SENDING
    monkeypatch.undo()
    settings.KORE_SENDING_TIMEOUT_SECONDS = 0
    assert actions_sweep().task_ids == [task.pk]
    assert task_send.task_deliver(task_id=task.pk).state == CaseTask.State.DELIVERED
    task.refresh_from_db()
    assert task.kore_id == answer.json()["_id"] and "adopted after a lost answer" in task.last_error
    assert simulator.calls["createTask"] == 1


def test_a_write_with_the_same_idempotency_key_is_sent_once(client, tool, worked_case, simulator):
    path = f"updateCase/{worked_case.kore_id}"
    body = status_body(worked_case, "In Progress")
    first = send(client, tool, worked_case.stream, path, body, headers={"Idempotency-Key": "k-1"})
    again = send(client, tool, worked_case.stream, path, body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert simulator.calls["updateCase"] == 1 and CaseAction.objects.count() == 1
    other = send(
        client,
        tool,
        worked_case.stream,
        path,
        status_body(worked_case, "Closed"),
        headers={"Idempotency-Key": "k-1"},
    )
    assert_kore_form(other, 422)


def test_kores_refusal_of_a_change_comes_back_as_kore_said_it(client, tool, worked_case, simulator):
    response = send(
        client, tool, worked_case.stream, f"updateCase/{worked_case.kore_id}", {"dueDate": "tomorrow"}
    )
    errors = assert_kore_form(response, 400)
    assert errors[0]["msg"] == "dueDate must be a number: epoch milliseconds."
    assert CaseAction.objects.get().state == CaseAction.State.REFUSED


def test_a_case_the_portal_does_not_know_is_404(client, tool, template, simulator):
    response = send(client, tool, template.stream, "updateCase/ci-nobody-knows", {"name": "x"})
    assert "No case ci-nobody-knows" in assert_kore_form(response, 404)[0]["msg"]


def task_body(case, **overrides):
    body = {
        "caseId": case.kore_id,
        "caseRefId": case.ref_id,
        "taskTmp": "ttm-1",
        "name": "Call the customer back",
        "desc": "Before noon.",
        "userInfo": {"name": "Dana", "emailId": "dana@example.com"},
        "source": "rtm",
    }
    return {**body, **overrides}


def test_create_task_and_update_task(client, tool, worked_case, simulator):
    created = send(
        client,
        tool,
        worked_case.stream,
        "createTask",
        task_body(worked_case),
        headers={"Idempotency-Key": "t-1"},
    )
    assert created.status_code == 200, created.content
    task = CaseTask.objects.get()
    assert created.json()["_id"] == task.kore_id and task.api_client == tool
    replay = send(
        client,
        tool,
        worked_case.stream,
        "createTask",
        task_body(worked_case),
        headers={"Idempotency-Key": "t-1"},
    )
    assert replay.json()["_id"] == task.kore_id and simulator.calls["createTask"] == 1
    Case.objects.filter(pk=worked_case.pk).update(status_name="Waiting on customer")
    was = task.status_name
    moved = send(
        client, tool, worked_case.stream, f"updateTask/{task.kore_id}", status_body(worked_case, "Resolved")
    )
    assert moved.status_code == 200 and moved.json()["status"]["name"] == "Resolved"
    task.refresh_from_db()
    assert task.status_name == "Resolved"
    # The change as people read it is the task's own, not its case's.
    change = CaseAction.objects.get(task=task)
    assert change.changes["status"] == {"old": was, "new": "Resolved"}


def test_a_new_task_reads_its_case_once(client, tool, worked_case, simulator):
    """The case is read with only what the task's event tells of it; nothing on the way reaches
    for another of its columns (each would be a query of its own)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        created = send(client, tool, worked_case.stream, "createTask", task_body(worked_case))
    assert created.status_code == 200, created.content
    reads = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and 'FROM "cases_case"' in q["sql"]
    ]
    assert len(reads) == 1, reads
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.TASK_CREATED)
    assert (
        event.data["case"]["refId"] == worked_case.ref_id and event.data["case"]["name"] == worked_case.name
    )


def test_a_change_of_a_task_reads_its_case_with_the_task(client, tool, worked_case, simulator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    created = send(client, tool, worked_case.stream, "createTask", task_body(worked_case))
    task = CaseTask.objects.get(kore_id=created.json()["_id"])
    Case.objects.filter(pk=worked_case.pk).update(status_name="Waiting on customer")
    with CaptureQueriesContext(connection) as captured:
        moved = send(
            client,
            tool,
            worked_case.stream,
            f"updateTask/{task.kore_id}",
            status_body(worked_case, "Resolved"),
        )
    assert moved.status_code == 200, moved.content
    reads = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('SELECT "cases_case"')]
    assert reads == [], reads
    # The task itself is read once, with its case: no column of it is fetched on its own later.
    task_reads = [q["sql"] for q in captured.captured_queries if 'FROM "cases_casetask"' in q["sql"]]
    assert len(task_reads) == 1, task_reads
    event = CaseEvent.objects.get(kind=CaseEvent.Kind.TASK_CHANGED)
    assert event.data["case"]["refId"] == worked_case.ref_id
    assert event.data["case"]["status_name"] == "Waiting on customer"


def test_create_task_checks_what_the_document_requires(client, tool, worked_case, simulator):
    body = task_body(worked_case, userInfo={"name": "Dana"}, taskTmp="")
    response = send(client, tool, worked_case.stream, "createTask", body)
    assert_kore_form(response, 400)
    assert set(response.json()["fields"]) == {"taskTmp", "userInfo.emailId"}
    assert simulator.calls["createTask"] == 0 and not CaseTask.objects.exists()


# --- Rights ---------------------------------------------------------------------------------


def test_create_api_client_grants_all_six_unless_read_only(template, capsys):
    call_command("create_api_client", "Full", "--stream", template.stream.stream_id)
    call_command("create_api_client", "Reader", "--stream", template.stream.stream_id, "--read-only")
    assert len(ApiClient.objects.get(name="Full").endpoints) == 6
    assert ApiClient.objects.get(name="Reader").endpoints == list(READ_ENDPOINTS)


@pytest.mark.parametrize(
    "endpoints, path, allowed",
    [
        (READ_ENDPOINTS, "getCases", True),
        (READ_ENDPOINTS, "createCase", False),
        (READ_ENDPOINTS, "updateCase/ci-x", False),
        (LEGACY_ENDPOINTS, "createCase", True),
        (LEGACY_ENDPOINTS, "getTasks", True),
        (LEGACY_ENDPOINTS, "createTask", False),
        (LEGACY_ENDPOINTS, "updateTask/ti-x", False),
    ],
)
def test_a_client_calls_only_what_it_was_given(client, tool, template, simulator, endpoints, path, allowed):
    ApiClient.objects.filter(pk=tool.pk).update(endpoints=list(endpoints))
    response = send(client, tool, template.stream, path, {})
    if allowed:
        assert response.status_code != 403
    else:
        assert "may not call" in assert_kore_form(response, 403)[0]["msg"]


# --- Hostile requests -------------------------------------------------------------------------

PATHS = ["createCase", "getCases", "updateCase/ci-x", "createTask", "getTasks", "updateTask/ti-x"]


@pytest.mark.parametrize("path", PATHS)
def test_every_path_refuses_hostile_requests_in_kores_form(client, tool, template, simulator, settings, path):
    stream = template.stream
    url = BASE.format(stream=stream.stream_id) + path
    assert_kore_form(client.post(url, data="{}", content_type="application/json"), 401)
    assert_kore_form(
        client.post(url, data="{}", content_type="application/json", headers={"auth": "garbage"}), 401
    )
    assert_kore_form(send(client, tool, stream, path, raw="not json"), 400)
    assert_kore_form(send(client, tool, stream, path, raw="[1, 2]"), 400)
    assert_kore_form(
        client.get(
            url, headers={"auth": mint_token(client_id=tool.client_id, client_secret=tool.plain_secret)}
        ),
        405,
    )
    assert_kore_form(send(client, tool, StreamFactory(), path, {}), 403)
    assert_kore_form(send(client, tool, StreamFactory.build(stream_id="st-unknown"), path, {}), 404)
    settings.PROXY_MAX_BODY_BYTES = 100
    assert_kore_form(send(client, tool, stream, path, {"name": "x" * 200}), 413)
    assert simulator.request_count == 0


@pytest.mark.parametrize(
    "path",
    [
        "updateCase/ci-x/extra",
        "updateCase/..%2FcreateCase",
        "updateTask/",
        "getCases/ci-x",
        "deleteCase/ci-x",
    ],
)
def test_paths_kore_does_not_have_are_404_in_kores_form(client, tool, template, path):
    assert_kore_form(send(client, tool, template.stream, path, {}), 404)
