"""The simulator's Kore agent works cases as Kore's people would: on demand, in the background and
in bulk, each change seen through getCases with a newer updatedAt."""

import os
import secrets
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from cases.kore.client import mint_token
from cases.kore.dates import format_kore_datetime, parse_kore_datetime
from cases.kore.simulator import Simulator
from cases.kore.simulator.agent import UnknownCase
from cases.kore.simulator.catalog import ALL_AGENTS, catalog
from cases.kore.simulator.server import SimulatorServer
from tests.servers import ROOT, free_port, wait_for_port

SECRET = "simulator-agent-secret-0123456789abcdef"
STREAM = "st-5393141c-723b-579d-8265-27dd9b7f0000"
SAMPLE = {
    "caseTmp": "ctm-d4e6152-4255-4c5c-ba6c-91dac5cd0000",
    "name": "Printer jammed",
    "desc": "On floor 3",
    "userInfo": {"name": "dummy"},
    "emailId": "dummy@example.com",
    "dueDate": "2031-09-04T14:15:00.000Z",
    "source": "rtm",
}


@pytest.fixture
def sim():
    simulator = Simulator(control=True, seed=7)
    simulator.register_app("cs-app", SECRET, [STREAM])
    with SimulatorServer(simulator):
        yield simulator
    simulator.stop_agent()


def call(sim, endpoint, body=None):
    headers = {"auth": mint_token(client_id="cs-app", client_secret=SECRET), "accountId": "acc-1"}
    url = f"{sim.url}/caseManagement/api/public/analytics/{STREAM}/{endpoint}"
    response = requests.post(url, json=body or {}, headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def control(sim, body):
    return requests.post(f"{sim.url}/_simulator/agent", json=body, timeout=30)


def create(sim, **overrides):
    return call(sim, "createCase", {**SAMPLE, **overrides})


def the_case(sim, case_id):
    found = call(sim, "getCases", {"limit": 100})["results"]
    return next(case for case in found if case["_id"] == case_id)


def other_agent(case):
    return next(agent for agent in ALL_AGENTS if agent.name != case["currAssignee"].get("name"))


BILLING = catalog(STREAM).queue("Billing")
DUE = datetime(2031, 1, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "act, check",
    [
        (lambda a, c: a.resolve(c["_id"]), lambda f, c: f["status"]["statusCategory"] == "resolved"),
        (lambda a, c: a.close(c["_id"]), lambda f, c: f["status"]["name"] == "Closed"),
        (lambda a, c: a.set_status(c["_id"], "On Hold"), lambda f, c: f["status"]["name"] == "On Hold"),
        (
            lambda a, c: a.set_status(c["_id"], catalog(STREAM).status("In Progress")["_id"]),
            lambda f, c: f["status"]["name"] == "In Progress",
        ),
        (
            lambda a, c: a.reassign(c["_id"], "Chen Wei"),
            lambda f, c: f["currAssignee"]["name"] == "Chen Wei" and f["assigneeType"] == "agent",
        ),
        (
            lambda a, c: a.reassign(c["_id"]),
            lambda f, c: f["currAssignee"]["name"] not in ("", c["currAssignee"]["name"]),
        ),
        (
            lambda a, c: a.reassign(c["_id"], queue="Billing"),
            lambda f, c: (
                f["currAssignee"] == {} and f["assigneeType"] == "queues" and f["queues"] == [BILLING["_id"]]
            ),
        ),
        (
            lambda a, c: a.reassign(c["_id"], "unassigned"),
            lambda f, c: f["currAssignee"] == {} and f["assigneeType"] == "unassigned",
        ),
        (
            lambda a, c: a.set_priority(c["_id"], "Critical"),
            lambda f, c: f["priority"]["name"] == "Critical" and f["priority"]["color"],
        ),
        (
            lambda a, c: a.set_due_date(c["_id"], DUE),
            lambda f, c: (
                f["dueDate"] == int(DUE.timestamp() * 1000) and f["ETA"] == "2031-01-01T09:30:00.000Z"
            ),
        ),
        (
            lambda a, c: a.rename(c["_id"], "Printer jammed again"),
            lambda f, c: f["name"] == "Printer jammed again" and f["lname"] == "printer jammed again",
        ),
        (lambda a, c: a.rename(c["_id"]), lambda f, c: c["name"] in f["name"] and f["name"] != c["name"]),
    ],
    ids=[
        "resolve",
        "close",
        "status by name",
        "status by id",
        "reassign to an agent",
        "reassign to another agent",
        "reassign to a queue",
        "unassign",
        "priority",
        "due date",
        "rename",
        "edit the title",
    ],
)
def test_each_on_demand_action_shows_in_get_cases_with_a_newer_updated_at(sim, act, check):
    case = create(sim)
    before = the_case(sim, case["_id"])
    returned = act(sim.agent, before)
    found = the_case(sim, case["_id"])
    assert check(found, before), found
    assert found["updatedAt"] > before["updatedAt"] and found["createdAt"] == before["createdAt"]
    assert returned["updatedAt"] == found["updatedAt"]  # the action answers the case as listed


def test_a_title_edit_shows_in_the_title_field_too(sim):
    case = create(sim)
    sim.agent.rename(case["_id"], "Printer on fire")
    title = next(field for field in the_case(sim, case["_id"])["fields"] if field["lname"] == "title")
    assert title["selectedValue"] == "Printer on fire"


def test_a_case_resolved_at_kore_leaves_the_unresolved_list(sim):
    first, second = create(sim), create(sim, name="Second")
    sim.agent.resolve(first["_id"])
    unresolved = call(sim, "getCases", {"unresolved": True})
    assert [case["_id"] for case in unresolved["results"]] == [second["_id"]]


def test_the_agent_creates_cases_of_its_own(sim):
    create(sim)
    made = sim.agent.create_case(STREAM, name="Opened by the bot")
    found = the_case(sim, made["_id"])
    assert found["name"] == "Opened by the bot" and found["refId"] == "CS00000002"
    assert found["status"]["name"] == "Open" and found["channel"] and found["source"]
    assert found["accountId"] == "acc-1"  # the stream's account, as the cases sent to it say
    assert found["userInfo"]["_id"].startswith("u-") and "phoneNumber" not in str(found)
    queued = sim.agent.create_case(STREAM, assigned=False)
    assert the_case(sim, queued["_id"])["assigneeType"] in ("unassigned", "queues")


def test_an_unknown_case_status_or_agent_is_refused(sim):
    case = create(sim)
    with pytest.raises(UnknownCase):
        sim.agent.resolve("ci-0000000-0000-0000-0000-000000000000")
    with pytest.raises(ValueError, match="status"):
        sim.agent.set_status(case["_id"], "Pending")
    with pytest.raises(ValueError, match="agent"):
        sim.agent.reassign(case["_id"], "Nobody Here")
    assert the_case(sim, case["_id"])["updatedAt"] == case["updatedAt"]


def worked(seed):
    """What 40 steps of an agent with ``seed`` make of the same five cases."""
    simulator = Simulator(seed=seed)
    for number in range(5):
        simulator.store.add(STREAM, {**SAMPLE, "name": f"Case {number}"}, "acc-1")
    kinds = [simulator.agent.step(STREAM).split()[0] for _ in range(40)]
    states = [
        (c["refId"], c["status"]["name"], c["priority"]["name"], c["currAssignee"].get("name"), c["name"])
        for c in simulator.cases
    ]
    return kinds, states


def test_steps_are_repeatable_with_a_seed():
    kinds, states = worked(seed=3)
    assert worked(seed=3) == (kinds, states)
    assert worked(seed=4) != (kinds, states)
    assert {"progress", "reassign", "priority"} <= set(kinds)


def test_the_background_agent_works_at_its_pace_and_stops_cleanly(sim):
    case = create(sim)
    sim.start_agent(every_seconds=0.1, seed=1)
    thread = next(t for t in threading.enumerate() if t.name == "kore-agent")
    assert thread.daemon and sim.agent.running
    time.sleep(1.05)
    made = sim.agent.changes_made
    assert 1 <= made <= 11  # one step per known stream each 0.1 s, never faster
    sim.stop_agent()
    assert not sim.agent.running and not thread.is_alive()
    stopped_at = sim.agent.changes_made
    time.sleep(0.3)
    assert sim.agent.changes_made == stopped_at
    latest = call(sim, "getCases", {"sortBy": {"updatedDate": "desc"}, "limit": 1})["results"][0]
    assert latest["updatedAt"] > case["createdAt"]


def test_the_control_plane_drives_the_agent(sim):
    case = create(sim)
    answer = control(sim, {"action": "resolve", "case_id": case["_id"]})
    assert answer.status_code == 200 and answer.json()["case"]["status"]["name"] == "Resolved"
    assert the_case(sim, case["_id"])["status"]["name"] == "Resolved"
    control(sim, {"action": "reassign", "case_id": case["_id"], "queue": "Billing"})
    control(sim, {"action": "set_priority", "case_id": case["_id"], "priority": "High"})
    control(sim, {"action": "set_due_date", "case_id": case["_id"], "due_date": "2031-02-01T00:00:00.000Z"})
    control(sim, {"action": "rename", "case_id": case["_id"], "name": "Renamed at Kore"})
    found = the_case(sim, case["_id"])
    assert found["assigneeType"] == "queues" and found["priority"]["name"] == "High"
    assert found["ETA"] == "2031-02-01T00:00:00.000Z" and found["name"] == "Renamed at Kore"
    made = control(sim, {"action": "create_case", "stream_id": STREAM, "name": "From the bot"}).json()
    assert the_case(sim, made["case"]["_id"])["name"] == "From the bot"
    assert control(sim, {"action": "step", "stream_id": STREAM}).json()["did"]

    assert control(sim, {"action": "start", "every_seconds": 0.05, "seed": 2}).status_code == 200
    stats = requests.get(f"{sim.url}/_simulator/stats", timeout=5).json()
    assert stats["agent"]["running"] and stats["agent"]["every_seconds"] == 0.05
    assert control(sim, {"action": "stop"}).status_code == 200
    assert not sim.agent.running

    assert control(sim, {"action": "resolve", "case_id": "ci-nope"}).status_code == 404
    assert control(sim, {"action": "set_status", "case_id": case["_id"], "status": "Nope"}).status_code == 400
    assert control(sim, {"action": "dance"}).status_code == 400


def test_bulk_seeding_twenty_thousand_cases_answers_a_page_quickly(sim):
    started = time.monotonic()
    seeded = control(sim, {"action": "seed_cases", "stream_id": STREAM, "count": 20_000, "unresolved": 2_000})
    assert seeded.json()["created"] == 20_000
    assert time.monotonic() - started < 15  # generous: about 1.5 s here

    session = requests.Session()
    headers = {"accountId": "acc-1"}
    url = f"{sim.url}/caseManagement/api/public/analytics/{STREAM}/getCases"
    timings = {}
    for label, body in {
        "newest": {"page": 1, "limit": 50},
        "unresolved": {"unresolved": True, "page": 2, "limit": 50},
        "by update": {"sortBy": "updatedDate", "limit": 50},
    }.items():
        headers["auth"] = mint_token(client_id="cs-app", client_secret=SECRET)
        begun = time.perf_counter()
        answer = session.post(url, json=body, headers=headers, timeout=10).json()
        timings[label] = time.perf_counter() - begun
        assert len(answer["results"]) == 50
    assert max(timings.values()) < 0.5, timings

    stats = requests.get(f"{sim.url}/_simulator/stats", timeout=30).json()["streams"][STREAM]
    assert stats == {"cases": 20_000, "unresolved": 2_000, "tasks": 0}
    oldest = call(sim, "getCases", {"sortBy": {"createdDate": "asc"}, "limit": 1})["results"][0]
    newest = call(sim, "getCases", {"limit": 1})["results"][0]
    now = datetime.now(UTC)
    assert (
        now - timedelta(days=30, minutes=1)
        <= parse_kore_datetime(oldest["createdAt"])
        < now - timedelta(days=25)
    )
    assert now - timedelta(days=2) < parse_kore_datetime(newest["createdAt"]) <= now


def test_churn_changes_and_resolves_distinct_unresolved_cases_now(sim):
    sim.agent.seed_cases(STREAM, 2_000, unresolved=400, days=10)
    mark = format_kore_datetime(datetime.now(UTC))
    time.sleep(0.002)
    done = control(sim, {"action": "churn", "stream_id": STREAM, "changed": 50, "resolved": 30}).json()
    assert len(done["changed"]) == 50 and len(done["resolved"]) == 30
    assert not set(done["changed"]) & set(done["resolved"])
    assert call(sim, "getCases", {"unresolved": True})["totalResults"] == 370
    sim.set_readings(date_filter="updatedAt")
    since = call(sim, "getCases", {"startDate": mark, "limit": 100})
    assert since["totalResults"] == 80
    assert {case["_id"] for case in since["results"]} == set(done["changed"]) | set(done["resolved"])


def test_the_dev_site_starts_the_agent_when_the_setting_says_so(client, settings, tmp_path):
    from cases.kore.simulator import register_app_in_file
    from cases.kore.simulator import views as simulator_views

    settings.KORE_SIMULATOR_APPS_FILE = tmp_path / "apps.json"
    register_app_in_file(
        settings.KORE_SIMULATOR_APPS_FILE, client_id="cs-site", secret=SECRET, stream_ids=[STREAM]
    )
    path = f"/simulator/caseManagement/api/public/analytics/{STREAM}/getCases"
    simulator_views._site_simulator = None
    try:
        client.post(path, data="{}", content_type="application/json")
        assert not simulator_views._site_simulator.agent.running  # 0: off (the tests' setting)

        simulator_views._site_simulator = None
        settings.KORE_SIMULATOR_AGENT_SECONDS = 0.05
        client.post(path, data="{}", content_type="application/json")
        site = simulator_views._site_simulator
        assert site.agent.running and site.agent.every_seconds == 0.05
        deadline = time.monotonic() + 5
        while not site.cases and time.monotonic() < deadline:
            time.sleep(0.02)
        assert site.cases[0]["iId"] == STREAM  # it opened a case in the stream its app names
    finally:
        if simulator_views._site_simulator:
            simulator_views._site_simulator.stop_agent()
        simulator_views._site_simulator = None


def test_the_standalone_command_runs_the_agent_at_the_pace_asked():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "manage.py", "kore_simulator", "--port", str(port), "--agent-seconds", "0.1"]
        + ["--seed", "5", "--app", f"cs-app:{SECRET}:{STREAM}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            stats = requests.get(f"http://127.0.0.1:{port}/_simulator/stats", timeout=5).json()
            if stats["created_count"]:
                break
            time.sleep(0.05)
        assert stats["agent"] == {
            "running": True,
            "every_seconds": 0.1,
            "changes_made": stats["agent"]["changes_made"],
        }
        assert stats["cases"][0]["stream_id"] == STREAM
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.parametrize(
    "environment, expected",
    [
        ({"DJANGO_ENV": "development"}, "20.0"),
        ({"DJANGO_ENV": "development", "KORE_SIMULATOR_AGENT_SECONDS": "0"}, "0.0"),
        ({"DJANGO_ENV": "production", "KORE_SIMULATOR_AGENT_SECONDS": "5"}, "0.0"),
    ],
)
def test_the_agent_works_every_20_seconds_in_development_and_never_in_production(
    tmp_path, environment, expected
):
    env = {key: value for key, value in os.environ.items() if key != "KORE_SIMULATOR_AGENT_SECONDS"}
    env.update(
        environment,
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="portal.example.com",
        PORTAL_VAR_DIR=str(tmp_path),
    )
    code = "from django.conf import settings; print(settings.KORE_SIMULATOR_AGENT_SECONDS)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip().splitlines()[-1] == expected, result.stderr
