"""The simulator speaks Kore's protocol: JWT rules, validation, answers, getCases, control plane."""

import json
import time

import jwt
import pytest
import requests

from cases.kore.client import KoreClient, StreamConfig, mint_token
from cases.kore.dates import parse_kore_datetime
from cases.kore.errors import KoreAuthError, KoreRefused
from cases.kore.simulator import Simulator
from cases.kore.simulator.server import SimulatorServer

SECRET = "simulator-test-secret-0123456789abcdef"
STREAM = "st-084d3c5e-376a-559f-9987-a012bb2b0000"
SAMPLE = {
    "caseTmp": "ctm-d4e6152-4255-4c5c-ba6c-91dac5cd0000",
    "name": "This is demo case",
    "desc": "Demo case",
    "userInfo": {"_id": "u-fd371c0a-3168-5a02-83dd-f4ba55970000", "name": "dummy"},
    "emailId": "dummy.898@gmail.com",
    "phoneNumber": "9023981234",
    "dueDate": "2026-09-04T14:15:00.000Z",
    "source": "rtm",
}


@pytest.fixture
def sim():
    simulator = Simulator(control=True)
    simulator.register_app("cs-app", SECRET, [STREAM])
    with SimulatorServer(simulator):
        yield simulator


def kore_client(sim, **overrides):
    config = {
        "host": sim.url,
        "stream_id": STREAM,
        "client_id": "cs-app",
        "client_secret": SECRET,
        "account_id": "acc-1",
    }
    config.update(overrides)
    return KoreClient(StreamConfig(**config), read_timeout=2)


def post(sim, endpoint="createCase", body=SAMPLE, token=None, headers=None):
    url = f"{sim.url}/caseManagement/api/public/analytics/{STREAM}/{endpoint}"
    token = token or mint_token(client_id="cs-app", client_secret=SECRET)
    return requests.post(
        url, json=body, headers={"auth": token, "accountId": "acc-1", **(headers or {})}, timeout=5
    )


def test_the_documents_sample_creates_a_case_shaped_like_the_documents_answer(sim):
    answer = post(sim).json()
    assert answer["_id"].startswith("ci-")
    assert answer["refId"] == "CS00000001"
    assert answer["status"]["name"] == "Open" and answer["status"]["statusCategory"] == "open"
    assert answer["status"]["_id"].startswith("sts-")
    assert set(answer["priority"]) >= {"name", "color", "score"}
    assert answer["currAssignee"]["name"] and answer["participants"]
    assert answer["ETA"] == SAMPLE["dueDate"]
    assert answer["iId"] == STREAM and answer["accountId"] == "acc-1"
    assert answer["userInfo"]["_id"] == SAMPLE["userInfo"]["_id"]
    assert sim.created_count == 1


def test_ref_ids_increase(sim):
    refs = [kore_client(sim).create_case(SAMPLE).ref_id for _ in range(3)]
    assert refs == ["CS00000001", "CS00000002", "CS00000003"]


def test_every_problem_with_a_body_is_listed(sim):
    response = post(sim, body={"userInfo": {}, "emailId": "nope", "dueDate": "someday"})
    messages = [error["msg"] for error in response.json()["errors"]]
    assert response.status_code == 400
    for key in ("caseTmp", "name", "desc", "source"):
        assert f"{key} is required." in messages
    assert any("dueDate" in m for m in messages) and any("emailId" in m for m in messages)
    assert sim.created_count == 0


def test_contact_is_required_without_a_user_id(sim):
    body = {**SAMPLE, "userInfo": {"name": "x"}}
    del body["emailId"], body["phoneNumber"]
    with pytest.raises(KoreRefused, match="emailId or phoneNumber"):
        kore_client(sim).create_case(body)


@pytest.mark.parametrize(
    "token, message",
    [
        (None, "auth header"),
        ("not-a-jwt", "not a valid JWT"),
        (jwt.encode({"appId": "cs-app"}, SECRET, algorithm="HS512"), "HS256"),
        (jwt.encode({"sub": "x"}, SECRET, algorithm="HS256"), "appId"),
        (jwt.encode({"appId": "unknown"}, SECRET, algorithm="HS256"), "Invalid SDK credentials"),
        (
            jwt.encode({"appId": "cs-app"}, "wrong-secret-wrong-secret-wrong-secret", algorithm="HS256"),
            "Invalid SDK credentials",
        ),
        (
            jwt.encode({"appId": "cs-app", "exp": int(time.time()) - 3600}, SECRET, algorithm="HS256"),
            "expired",
        ),
        (jwt.encode({"appId": "cs-app", "jti": "j1"}, SECRET, algorithm="HS256"), "exp"),
        (
            jwt.encode(
                {"appId": "cs-app", "jti": "j2", "iat": int(time.time()), "exp": int(time.time()) + 7200},
                SECRET,
                algorithm="HS256",
            ),
            "one hour",
        ),
    ],
)
def test_tokens_are_checked_as_kore_checks_them(sim, token, message):
    url = f"{sim.url}/caseManagement/api/public/analytics/{STREAM}/createCase"
    headers = {"auth": token} if token else {}
    response = requests.post(url, json=SAMPLE, headers=headers, timeout=5)
    assert response.status_code == 401
    assert message in response.json()["errors"][0]["msg"]
    assert sim.created_count == 0


def test_a_replayed_token_is_refused(sim):
    token = mint_token(client_id="cs-app", client_secret=SECRET)
    assert post(sim, token=token).status_code == 200
    replay = post(sim, token=token)
    assert replay.status_code == 401 and "replay" in replay.json()["errors"][0]["msg"]
    assert sim.created_count == 1


def test_remembered_token_ids_are_pruned_rarely_and_replays_stay_refused(monkeypatch):
    """Pruning the remembered ids walks them all: it waits until they have doubled, not every
    call once there are many (a long benchmark slowed the simulator down call after call)."""
    from cases.kore.simulator import core

    monkeypatch.setattr(core, "JTIS_KEPT", 5)
    simulator = Simulator()
    kept = [simulator._jtis]  # each pruning makes a new dict
    later = time.time() + 300
    for number in range(40):
        assert simulator._remember_jti("cs-app", f"jti-{number}", later)
        if simulator._jtis is not kept[-1]:
            kept.append(simulator._jtis)
    assert not simulator._remember_jti("cs-app", "jti-3", later)  # still a replay
    assert len(kept) - 1 <= 3, len(kept) - 1  # past 5, 10 and 20 ids: not at every call past 5


def test_an_app_is_confined_to_its_streams(sim):
    other = f"{sim.url}/caseManagement/api/public/analytics/st-other/createCase"
    response = requests.post(
        other, json=SAMPLE, headers={"auth": mint_token(client_id="cs-app", client_secret=SECRET)}, timeout=5
    )
    assert response.status_code == 401


def test_bad_credentials_surface_kores_message_through_the_client(sim):
    with pytest.raises(KoreAuthError, match="Invalid SDK credentials"):
        kore_client(sim, client_secret="another-secret-another-secret-0000").create_case(SAMPLE)


def test_unknown_routes_answer_in_kores_error_form(sim):
    response = requests.post(
        f"{sim.url}/caseManagement/api/public/analytics/{STREAM}/deleteEverything", timeout=5
    )
    assert response.status_code == 404 and response.json()["errors"][0]["msg"]


def create(sim, **overrides):
    return kore_client(sim).create_case({**SAMPLE, **overrides}).raw


def test_create_case_answers_the_templates_name_and_the_user_id_sent(sim):
    sim.register_template(STREAM, SAMPLE["caseTmp"], "Sales")
    answer = create(sim)
    assert answer["caseTmp"] == "Sales"  # Kore answers the template's name, not its id
    assert answer["userInfo"]["_id"] == SAMPLE["userInfo"]["_id"]  # as the document's sample
    assert answer["userInfo"]["emailId"] == SAMPLE["emailId"]


def test_no_answer_contains_the_requesters_phone_number(sim):
    create(sim)
    listed = kore_client(sim).get_cases({})
    assert SAMPLE["phoneNumber"] not in json.dumps(listed)
    assert SAMPLE["phoneNumber"] not in json.dumps(create(sim, name="Second"))


def test_get_cases_answers_kores_own_user_id(sim):
    create(sim)
    found = kore_client(sim).get_cases({})["results"][0]
    assert found["userInfo"]["_id"].startswith("u-")
    assert found["userInfo"]["_id"] != SAMPLE["userInfo"]["_id"]


def test_get_cases_answers_the_documented_page_shape(sim):
    create(sim)
    answer = kore_client(sim).get_cases({})
    assert set(answer) == {"results", "page", "limit", "hasMore", "totalPages", "totalResults"}
    assert answer["limit"] == 50 and answer["page"] == 1 and answer["hasMore"] is False


@pytest.mark.parametrize(
    "field, check",
    [
        ("status", lambda v: {"_id", "name", "lname", "statusCategory", "type"} <= set(v)),
        ("priority", lambda v: {"_id", "name", "color", "score"} <= set(v)),
        ("currAssignee", lambda v: isinstance(v, dict)),
        ("fields", lambda v: isinstance(v, list)),
        ("createdAt", lambda v: isinstance(v, str) and v.endswith("Z")),
        ("updatedAt", lambda v: isinstance(v, str) and v.endswith("Z")),
        ("ETA", lambda v: v == SAMPLE["dueDate"]),
        (
            "dueDate",
            lambda v: isinstance(v, int) and parse_kore_datetime(v) == parse_kore_datetime(SAMPLE["dueDate"]),
        ),
        ("refId", lambda v: v.startswith("CS")),
        ("_id", lambda v: v.startswith("ci-")),
        ("name", lambda v: v == SAMPLE["name"]),
    ],
)
def test_each_documented_get_cases_field(sim, field, check):
    create(sim)
    found = kore_client(sim).get_cases({})["results"][0]
    assert check(found[field]), found.get(field)


def test_search_text_matches_the_name_only(sim):
    create(sim, name="Printer jammed", desc="VPN also down")
    client = kore_client(sim)
    assert client.get_cases({"searchText": "printer"})["totalResults"] == 1
    assert client.get_cases({"searchText": "vpn"})["totalResults"] == 0
    assert client.get_cases({"searchText": "CS00000001"})["totalResults"] == 0


@pytest.mark.parametrize(
    "search, found",
    [
        ("substring", ["printer (floor 3)", "printer (floor 3) makes a grinding noise again", "(floor"]),
        ("words", ["(floor 3) printer"]),
        ("regex", ["printer", "grinding.*again", r"printer \(floor"]),  # escaped by the caller: found
        ("truncated", ["printer (floor 3) makes a grind"]),  # the name's first 32 characters
    ],
)
def test_search_text_finds_by_the_reading_it_is_given(sim, search, found):
    sim.set_readings(search=search)
    create(sim, name="Printer (floor 3) makes a grinding noise again")
    client = kore_client(sim)
    for text in found:
        assert client.get_cases({"searchText": text})["totalResults"] == 1, text
    if search in ("regex", "truncated"):
        # Readings that match too little: the whole title does not find its own case.
        title = "Printer (floor 3) makes a grinding noise again"
        assert client.get_cases({"searchText": title})["totalResults"] == 0
    if search == "regex":
        assert client.get_cases({"searchText": "printer ("})["totalResults"] == 0  # invalid: nothing


def test_the_simulator_keeps_what_each_request_carried(sim):
    post(sim, body={**SAMPLE, "tags": ["vip"]})
    received = sim.received[-1]
    assert received.endpoint == "createCase" and received.json() == {**SAMPLE, "tags": ["vip"]}


@pytest.mark.parametrize("paging", ["page", "skip"])
@pytest.mark.parametrize("page_size", [None, 2])
def test_get_cases_pages_by_the_reading_it_is_given(sim, paging, page_size):
    sim.set_readings(paging=paging, page_size=page_size)
    for number in range(5):
        create(sim, name=f"Case {number}")
    client = kore_client(sim)
    first = client.get_cases({"page": 2, "limit": 2, "skip": 0})
    # One reading honours page, the other skip; none is wrong, so the portal sends both.
    expected_first = "Case 4" if paging == "skip" else "Case 2"
    assert first["results"][0]["name"] == expected_first
    assert first["hasMore"] is True


@pytest.mark.parametrize("date_filter", ["createdAt", "updatedAt", "dueDate"])
def test_start_and_end_date_filter_on_the_reading_it_is_given(sim, date_filter):
    sim.set_readings(date_filter=date_filter)
    create(sim, dueDate="2031-01-01T00:00:00.000Z")
    client = kore_client(sim)
    around_due = {"startDate": "2030-12-31T00:00:00.000Z", "endDate": "2031-01-02T00:00:00.000Z"}
    assert client.get_cases(around_due)["totalResults"] == (1 if date_filter == "dueDate" else 0)
    assert client.get_cases({"endDate": "2000-01-01T00:00:00.000Z"})["totalResults"] == 0


def test_the_rate_limit_answer_may_come_with_another_status(sim):
    sim.set_readings(rate_limit_status=200)
    sim.set_rate_limit(1, 60)
    assert post(sim).status_code == 200
    limited = post(sim)
    assert limited.status_code == 200 and "_id" not in limited.json()
    assert "exceeded the per-minute rate limit" in limited.json()["errors"][0]["msg"]


def test_get_cases_requires_the_account_header(sim):
    with pytest.raises(KoreRefused, match="accountId"):
        kore_client(sim, account_id="").get_cases({})


def test_the_rate_limit_answers_429_with_kores_message_and_retry_after(sim):
    sim.set_rate_limit(2, 60)
    assert post(sim).status_code == 200 and post(sim).status_code == 200
    limited = post(sim)
    assert limited.status_code == 429
    assert "exceeded the per-minute rate limit" in limited.json()["errors"][0]["msg"]
    assert int(limited.headers["Retry-After"]) >= 1
    assert sim.rate_limited_count == 1


def test_the_control_plane_drives_a_simulator_in_another_process(sim):
    requests.post(
        f"{sim.url}/_simulator/apps",
        json={"client_id": "cs-2", "secret": SECRET, "stream_ids": None},
        timeout=5,
    )
    requests.post(f"{sim.url}/_simulator/faults", json={"fault": "503", "times": 1}, timeout=5)
    assert post(sim).status_code == 503
    token = mint_token(client_id="cs-2", client_secret=SECRET)
    assert post(sim, token=token).status_code == 200
    stats = requests.get(f"{sim.url}/_simulator/stats", timeout=5).json()
    assert stats["created_count"] == 1 and stats["request_count"] == 2
    assert stats["stream_calls"] == {STREAM: 2}
    assert stats["cases"][0]["refId"] == "CS00000001"
    requests.post(f"{sim.url}/_simulator/reset", json={}, timeout=5)
    assert requests.get(f"{sim.url}/_simulator/stats", timeout=5).json()["created_count"] == 0
    assert (
        requests.post(f"{sim.url}/_simulator/faults", json={"fault": "nonsense"}, timeout=5).status_code
        == 400
    )


def test_the_control_plane_is_off_unless_asked():
    simulator = Simulator()
    with SimulatorServer(simulator) as server:
        assert requests.get(f"{server.url}/_simulator/stats", timeout=5).status_code == 404


def test_connections_are_kept_alive(sim):
    session = requests.Session()
    for _ in range(3):
        url = f"{sim.url}/caseManagement/api/public/analytics/{STREAM}/createCase"
        session.post(
            url,
            data=json.dumps(SAMPLE),
            headers={"auth": mint_token(client_id="cs-app", client_secret=SECRET)},
            timeout=5,
        )
    pool = next(iter(session.adapters["http://"].poolmanager.pools._container.values()))
    assert pool.num_connections == 1


def test_the_server_binds_to_loopback_only():
    with pytest.raises(ValueError):
        SimulatorServer(Simulator(), host="0.0.0.0")


def test_the_dev_site_serves_the_simulator_for_apps_in_its_file(client, settings, tmp_path):
    from cases.kore.simulator import register_app_in_file
    from cases.kore.simulator import views as simulator_views

    settings.KORE_SIMULATOR_APPS_FILE = tmp_path / "apps.json"
    register_app_in_file(
        settings.KORE_SIMULATOR_APPS_FILE, client_id="cs-site", secret=SECRET, stream_ids=[STREAM]
    )
    simulator_views._site_simulator = None
    response = client.post(
        f"/simulator/caseManagement/api/public/analytics/{STREAM}/createCase",
        data=json.dumps(SAMPLE),
        content_type="application/json",
        headers={"auth": mint_token(client_id="cs-site", client_secret=SECRET)},
    )
    assert response.status_code == 200
    assert response.json()["refId"].startswith("CS")
    assert client.get("/simulator/_simulator/stats").status_code == 404


# --- statuses and priorities ---------------------------------------------------------------


def call(sim, endpoint, body=None, *, account="acc-1", stream=STREAM):
    """POST one of Kore's endpoints with a fresh token, as a client would."""
    headers = {"auth": mint_token(client_id="cs-app", client_secret=SECRET)}
    if account:
        headers["accountId"] = account
    url = f"{sim.url}/caseManagement/api/public/analytics/{stream}/{endpoint}"
    return requests.post(url, json={} if body is None else body, headers=headers, timeout=5)


def listed(sim, body=None):
    response = call(sim, "getCases", body or {})
    assert response.status_code == 200, response.text
    return response.json()


def the_case(sim, case_id):
    return next(found for found in listed(sim, {"limit": 100})["results"] if found["_id"] == case_id)


def messages(response):
    return [error["msg"] for error in response.json()["errors"]]


def test_new_cases_start_open_with_the_streams_stable_status_and_priority_ids(sim):
    first, second = create(sim), create(sim, name="Second")
    assert first["status"]["name"] == "Open" and first["status"]["_id"] == second["status"]["_id"]
    assert first["priority"]["_id"] == second["priority"]["_id"]
    assert first["status"]["_id"].startswith("sts-") and first["priority"]["_id"].startswith("pr-")
    again = Simulator(control=True)
    again.register_app("cs-app", SECRET, [STREAM])
    with SimulatorServer(again):
        assert create(again)["status"]["_id"] == first["status"]["_id"]  # the same after a restart
    other = Simulator().store.add("st-other", SAMPLE, "acc-1")
    assert other["status"]["_id"] != first["status"]["_id"]  # but each stream has its own


def test_the_streams_statuses_and_priorities_are_kores_defaults():
    from cases.kore.simulator.catalog import catalog

    stream = catalog(STREAM)
    assert [s["name"] for s in stream.statuses] == ["Open", "In Progress", "On Hold", "Resolved", "Closed"]
    assert [p["name"] for p in stream.priorities] == ["Low", "Medium", "High", "Critical"]
    for status in stream.statuses:
        assert set(status) == {
            "_id",
            "name",
            "lname",
            "statusCategory",
            "type",
            "desc",
            "isEnabled",
            "isActive",
        }
    for priority in stream.priorities:
        assert priority["color"].startswith("#") and isinstance(priority["score"], int)
    assert stream.priority("Medium")["color"] == "#16A34A" and stream.priority("Medium")["score"] == 10


# --- updateCase ------------------------------------------------------------------------------

UPDATED_KEYS = {
    "_id",
    "caseTmp",
    "name",
    "lname",
    "userInfo",
    "accountId",
    "status",
    "priority",
    "refId",
    "assigneeType",
    "isActive",
    "createdAt",
    "updatedAt",
    "ETA",
}


def status_body(name):
    from cases.kore.simulator.catalog import catalog

    status = catalog(STREAM).status(name)
    return {key: status[key] for key in ("_id", "name", "lname", "statusCategory")}


def priority_body(name):
    from cases.kore.simulator.catalog import catalog

    priority = catalog(STREAM).priority(name)
    return {key: priority[key] for key in ("_id", "name")}


@pytest.mark.parametrize(
    "field, check",
    [
        ("_id", lambda v, case: v == case["_id"]),
        ("caseTmp", lambda v, case: v == case["caseTmp"]),
        ("name", lambda v, case: v == "Renamed at the portal"),
        ("lname", lambda v, case: v == "renamed at the portal"),
        ("userInfo", lambda v, case: v["_id"].startswith("u-") and set(v) <= {"_id", "name", "emailId"}),
        ("accountId", lambda v, case: v == "acc-1"),
        (
            "status",
            lambda v, case: set(v) == {"_id", "name", "statusCategory"} and v["name"] == "In Progress",
        ),
        ("priority", lambda v, case: set(v) == {"_id", "name", "desc"} and v["name"] == "High"),  # no colour
        ("refId", lambda v, case: v == case["refId"]),
        ("assigneeType", lambda v, case: v == "agent"),
        ("isActive", lambda v, case: v is True),
        ("createdAt", lambda v, case: v == case["createdAt"]),
        ("updatedAt", lambda v, case: v > case["updatedAt"] and v.endswith("Z")),
        ("ETA", lambda v, case: v == ""),
    ],
)
def test_each_documented_field_of_the_update_case_answer(sim, field, check):
    case = create(sim)
    body = {
        "name": "Renamed at the portal",
        "status": status_body("In Progress"),
        "priority": priority_body("High"),
    }
    answer = call(sim, f"updateCase/{case['_id']}", body).json()
    assert set(answer) == UPDATED_KEYS  # trimmed: nothing the sample does not show
    assert check(answer[field], case), answer[field]


def test_the_documents_update_case_sample_is_accepted(sim):
    case = create(sim)
    before = the_case(sim, case["_id"])
    sample = {  # the document's request: the whole case sent back, with the changes in it
        "_id": case["_id"],
        "caseTmp": "one",
        "name": "case one",
        "lname": "case one",
        "desc": "this is case one",
        "tags": [],
        "userInfo": {
            "_id": "u-d0db86ae-8a26-51dd-a6d6-5d531c390000",
            "name": "",
            "emailId": "john.doe@example.com",
        },
        "accountId": "acc-1",
        "iId": STREAM,
        "orgId": "o-a55026c9-2abd-5503-b212-5fba600a0000",
        "status": status_body("Open"),
        "priority": {**priority_body("Medium"), "lname": "medium", "desc": "Moderate urgency"},
        "refId": "CS000100",
        "isActive": True,
        "dueDate": 1748491380000,
    }
    response = call(sim, f"updateCase/{case['_id']}", sample)
    assert response.status_code == 200, response.text
    found = the_case(sim, case["_id"])
    assert found["name"] == "case one" and found["dueDate"] == 1748491380000
    assert found["refId"] == case["refId"] and found["userInfo"]["_id"] == before["userInfo"]["_id"]


def test_update_case_requires_the_account_header(sim):
    case = create(sim)
    response = call(sim, f"updateCase/{case['_id']}", {"name": "x"}, account="")
    assert response.status_code == 400 and "accountId" in messages(response)[0]
    assert the_case(sim, case["_id"])["name"] == SAMPLE["name"]


def test_update_case_lists_every_problem_and_changes_nothing(sim):
    case = create(sim)
    body = {
        "name": "",
        "desc": 5,
        "status": {"name": "Open"},
        "priority": "High",
        "dueDate": "2031-01-01T00:00:00.000Z",
        "tags": "urgent",
        "queues": ["qu-nowhere"],
        "assigneeType": "robot",
        "fields": [{"selectedValue": "x"}],
    }
    response = call(sim, f"updateCase/{case['_id']}", body)
    assert response.status_code == 400
    found = " | ".join(messages(response))
    for key in ("name", "desc", "status", "priority", "dueDate", "tags", "queues", "assigneeType", "fields"):
        assert key in found, key
    assert len(messages(response)) == 9
    assert the_case(sim, case["_id"])["updatedAt"] == case["updatedAt"]


@pytest.mark.parametrize("key", ["status", "priority"])
def test_an_unknown_status_or_priority_id_is_refused(sim, key):
    case = create(sim)
    other_stream = Simulator().store.add("st-other", SAMPLE, "acc-1")  # a real id, of another stream
    names = ("_id", "name", "lname", "statusCategory") if key == "status" else ("_id", "name")
    whole = {name: other_stream[key][name] for name in names}  # complete: only the id is wrong
    response = call(sim, f"updateCase/{case['_id']}", {key: whole})
    assert response.status_code == 400
    assert messages(response) == [f"{key} {other_stream[key]['_id']} is not a {key} of this stream."]
    assert the_case(sim, case["_id"])[key]["_id"] == case[key]["_id"]


@pytest.mark.parametrize(
    "body, missing",
    [
        ({"status": "without"}, "lname"),
        ({"status": "without"}, "statusCategory"),
        ({"status": "without"}, "name"),
        ({"priority": "without"}, "name"),
    ],
)
def test_an_incomplete_status_or_priority_is_refused_as_kore_refuses(sim, body, missing):
    """The tables give status as {_id, name, lname, statusCategory} and priority as {_id, name}:
    an object short of one is refused, in Kore's error form, and nothing changes."""
    (key,) = body
    whole = status_body("In Progress") if key == "status" else priority_body("High")
    case = create(sim)
    response = call(sim, f"updateCase/{case['_id']}", {key: {k: v for k, v in whole.items() if k != missing}})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == 400
    assert messages(response) == [
        f"{key} must be an object with "
        + ("_id, name, lname and statusCategory" if key == "status" else "_id and name")
        + f": {missing} missing."
    ]
    assert the_case(sim, case["_id"])[key]["_id"] == case[key]["_id"]
    assert call(sim, f"updateCase/{case['_id']}", {key: whole}).status_code == 200


@pytest.mark.parametrize("status", [404, 400])
def test_updating_a_case_kore_does_not_have_answers_by_the_reading(sim, status):
    sim.set_readings(not_found_status=status)
    response = call(sim, "updateCase/ci-0000000-0000-0000-0000-000000000000", {"name": "x"})
    assert response.status_code == status and response.json()["errors"][0]["msg"]


def test_an_update_shows_in_get_cases_with_a_newer_updated_at(sim):
    case = create(sim)
    due = 1_924_992_000_000  # 2031-01-01T00:00:00.000Z
    body = {
        "status": status_body("On Hold"),
        "priority": priority_body("Critical"),
        "dueDate": due,
        "desc": "Now with details",
        "tags": ["vip"],
        "fields": [{"_id": "fd-custom-1", "selectedValue": "Gold"}],
    }
    assert call(sim, f"updateCase/{case['_id']}", body).status_code == 200
    found = the_case(sim, case["_id"])
    assert found["status"]["name"] == "On Hold" and found["priority"]["name"] == "Critical"
    assert found["priority"]["color"]  # getCases still gives the colour updateCase leaves out
    assert found["dueDate"] == due and found["ETA"] == "2031-01-01T00:00:00.000Z"
    assert found["desc"] == "Now with details" and found["tags"] == ["vip"]
    assert {"_id": "fd-custom-1", "selectedValue": "Gold"} in found["fields"]
    assert found["updatedAt"] > case["updatedAt"] and found["createdAt"] == case["createdAt"]


def test_assigning_to_a_queue_leaves_no_agent_and_counts_as_unassigned(sim):
    from cases.kore.simulator.catalog import catalog

    case = create(sim)
    queue = catalog(STREAM).queues[0]
    body = {"assigneeType": "queues", "queues": [queue["_id"]], "currAssignee": {}}
    assert call(sim, f"updateCase/{case['_id']}", body).json()["assigneeType"] == "queues"
    found = the_case(sim, case["_id"])
    assert found["currAssignee"] == {} and found["queues"] == [queue["_id"]]
    assert listed(sim, {"unassigned": True})["totalResults"] == 1
    sim.set_readings(unassigned="unassigned_only")
    assert listed(sim, {"unassigned": True})["totalResults"] == 0


def test_assigning_to_an_agent_takes_the_agent_kore_knows(sim):
    from cases.kore.simulator.catalog import ALL_AGENTS

    case = create(sim)
    chosen = next(a for a in ALL_AGENTS if a.name != case["currAssignee"]["name"])
    answer = call(sim, f"updateCase/{case['_id']}", {"currAssignee": {"agentId": chosen.agent_id}})
    assert answer.status_code == 200 and answer.json()["assigneeType"] == "agent"
    assert the_case(sim, case["_id"])["currAssignee"] == chosen.assignee
    refused = call(sim, f"updateCase/{case['_id']}", {"currAssignee": {"agentId": "u-nobody"}})
    assert refused.status_code == 400


def test_update_case_takes_epoch_milliseconds_only_for_the_due_date(sim):
    case = create(sim)
    response = call(sim, f"updateCase/{case['_id']}", {"dueDate": "1924992000000"})
    assert response.status_code == 400 and "epoch milliseconds" in messages(response)[0]


def test_paths_with_and_without_an_id_are_kept_apart(sim):
    case = create(sim)
    assert call(sim, "updateCase", {}).status_code == 404
    assert call(sim, f"createCase/{case['_id']}", SAMPLE).status_code == 404
    assert call(sim, f"getTasks/{case['_id']}", {}).status_code == 404


# --- tasks -----------------------------------------------------------------------------------

TASK = {
    "taskTmp": "ttm-16623a9-c63c-4bda-b1e4-147549390000",
    "name": "This is demo task",
    "desc": "Call the customer back",
    "userInfo": {"name": "John", "emailId": "john.doe@example.com", "phoneNumber": "9023981234"},
    "source": "rtm",
}


def create_task(sim, case=None, **overrides):
    case = case or create(sim)
    body = {"caseId": case["_id"], "caseRefId": case["refId"], **TASK, **overrides}
    response = call(sim, "createTask", body)
    assert response.status_code == 200, response.text
    return case, response.json()


@pytest.mark.parametrize(
    "field, check",
    [
        ("_id", lambda v, case: v.startswith("ti-")),
        ("refId", lambda v, case: v == "TS00000001"),
        ("caseId", lambda v, case: v == case["_id"]),
        ("caseRefId", lambda v, case: v == case["refId"]),
        ("taskTmp", lambda v, case: v == "Call back"),  # the template's name, as caseTmp
        ("name", lambda v, case: v == TASK["name"]),
        ("lname", lambda v, case: v == TASK["name"].lower()),
        ("userInfo", lambda v, case: set(v) == {"_id", "name"} and v["_id"].startswith("u-")),
        ("status", lambda v, case: set(v) == {"_id", "name", "statusCategory"} and v["name"] == "Open"),
        ("priority", lambda v, case: set(v) == {"_id", "name", "color", "score"} and v["name"] == "Medium"),
        ("conversationType", lambda v, case: v == "TASK"),
        ("assigneeType", lambda v, case: v == "unassigned"),
        ("currAssignee", lambda v, case: v == {}),
        ("ETA", lambda v, case: v == ""),
        ("fields", lambda v, case: isinstance(v, list) and all("_id" in f for f in v)),
        ("createdAt", lambda v, case: v.endswith("Z")),
        ("updatedAt", lambda v, case: v.endswith("Z")),
        ("iId", lambda v, case: v == STREAM),
    ],
)
def test_each_documented_field_of_the_create_task_answer(sim, field, check):
    sim.register_template(STREAM, TASK["taskTmp"], "Call back")
    case, answer = create_task(sim)
    assert check(answer[field], case), answer[field]


def test_a_task_answer_never_carries_the_requesters_phone_or_email(sim):
    _, answer = create_task(sim)
    listed_tasks = call(sim, "getTasks", {}).json()
    for text in (json.dumps(answer), json.dumps(listed_tasks)):
        assert TASK["userInfo"]["phoneNumber"] not in text and TASK["userInfo"]["emailId"] not in text


def test_create_task_lists_every_problem(sim):
    response = call(sim, "createTask", {"userInfo": {"emailId": "nope"}, "phoneNumber": "9023981234"})
    assert response.status_code == 400
    found = messages(response)
    for key in ("caseId", "caseRefId", "taskTmp", "name", "desc", "source"):
        assert f"{key} is required." in found
    assert "userInfo.name is required." in found
    assert any("userInfo.emailId" in m and "valid" in m for m in found)
    assert len(sim.tasks) == 0


def test_create_task_wants_the_contact_inside_user_info(sim):
    case = create(sim)
    body = {"caseId": case["_id"], "caseRefId": case["refId"], **TASK, "userInfo": {"name": "John"}}
    body["emailId"] = "john.doe@example.com"  # where createCase takes it, not createTask
    response = call(sim, "createTask", body)
    assert response.status_code == 400
    assert messages(response) == [
        "userInfo.emailId or userInfo.phoneNumber is required when userInfo has no _id."
    ]


def test_create_task_needs_a_case_of_the_stream_and_its_ref_id(sim):
    case = create(sim)
    wrong_ref = {"caseId": case["_id"], "caseRefId": "CS99999999", **TASK}
    assert "is not the refId" in messages(call(sim, "createTask", wrong_ref))[0]
    unknown = {"caseId": "ci-0000000-0000-0000-0000-000000000000", "caseRefId": case["refId"], **TASK}
    assert "is not a case of this stream" in messages(call(sim, "createTask", unknown))[0]


def test_create_task_does_not_need_the_account_header(sim):
    case = create(sim)
    body = {"caseId": case["_id"], "caseRefId": case["refId"], **TASK}
    assert call(sim, "createTask", body, account="").status_code == 200
    assert the_case(sim, case["_id"])["taskIds"] == [sim.tasks.records(STREAM)[0].doc["_id"]]


@pytest.mark.parametrize("touches", [False, True])
def test_a_new_task_touches_its_case_only_under_the_reading(sim, touches):
    sim.set_readings(task_touches_case=touches)
    case = create(sim)
    before = the_case(sim, case["_id"])
    _, task = create_task(sim, case)
    after = the_case(sim, case["_id"])
    assert after["taskIds"] == [task["_id"]]
    assert (after["updatedAt"] > before["updatedAt"]) is touches


@pytest.mark.parametrize("endpoint", ["getTasks", "updateTask/ti-x"])
def test_task_reads_and_updates_require_the_account_header(sim, endpoint):
    response = call(sim, endpoint, {}, account="")
    assert response.status_code == 400 and "accountId" in messages(response)[0]


@pytest.mark.parametrize(
    "field, check",
    [
        ("_id", lambda v, task, case: v == task["_id"]),
        ("caseId", lambda v, task, case: v == case["_id"]),
        ("caseRefId", lambda v, task, case: v == case["refId"]),
        ("name", lambda v, task, case: v == TASK["name"]),
        ("priority", lambda v, task, case: v == {"name": "Medium", "color": "#16A34A"}),
        ("status", lambda v, task, case: v == {"name": "Open", "statusCategory": "open"}),
        ("createdAt", lambda v, task, case: v == task["createdAt"]),
        ("updatedAt", lambda v, task, case: v == task["updatedAt"]),
    ],
)
def test_each_documented_field_of_a_get_tasks_result(sim, field, check):
    case, task = create_task(sim)
    answer = call(sim, "getTasks", {"skip": 0, "limit": 50}).json()
    assert set(answer) == {"results", "page", "limit", "hasMore", "totalPages", "totalResults"}
    (found,) = answer["results"]
    assert set(found) == {
        "_id",
        "caseId",
        "caseRefId",
        "name",
        "priority",
        "status",
        "createdAt",
        "updatedAt",
    }
    assert check(found[field], task, case), found[field]


def test_get_tasks_pages_by_skip_and_limit(sim):
    case = create(sim)
    for number in range(5):
        create_task(sim, case, name=f"Task {number}")
    first = call(sim, "getTasks", {"skip": 0, "limit": 2}).json()
    third = call(sim, "getTasks", {"skip": 4, "limit": 2, "page": 1}).json()
    assert [t["name"] for t in first["results"]] == ["Task 4", "Task 3"] and first["hasMore"] is True
    assert [t["name"] for t in third["results"]] == ["Task 0"] and third["hasMore"] is False
    assert third["page"] == 3 and third["totalResults"] == 5


def test_get_tasks_filters_by_case_only_under_the_reading(sim):
    first, _ = create_task(sim)
    create_task(sim, name="Other case's task")
    body = {"caseId": first["_id"]}
    assert call(sim, "getTasks", body).json()["totalResults"] == 2  # not a documented filter
    sim.set_readings(tasks_by_case=True)
    assert call(sim, "getTasks", body).json()["totalResults"] == 1


def test_get_tasks_takes_get_cases_filters(sim):
    case, task = create_task(sim)
    create_task(sim, case, name="Another")
    call(sim, f"updateTask/{task['_id']}", {"status": status_body("Resolved")})
    assert call(sim, "getTasks", {"unresolved": True}).json()["totalResults"] == 1
    assert call(sim, "getTasks", {"status": ["resolved"]}).json()["results"][0]["_id"] == task["_id"]
    assert call(sim, "getTasks", {"searchText": "another"}).json()["totalResults"] == 1


def test_update_task_changes_the_task_and_answers_it(sim):
    case, task = create_task(sim)
    body = {"name": "Task Testing", "status": status_body("In Progress"), "priority": priority_body("High")}
    response = call(sim, f"updateTask/{task['_id']}", body)
    answer = response.json()
    assert response.status_code == 200 and answer["_id"] == task["_id"] and answer["ETA"] == ""
    assert answer["name"] == "Task Testing" and answer["lname"] == "task testing"
    (found,) = call(sim, "getTasks", {}).json()["results"]
    assert found["status"]["name"] == "In Progress" and found["priority"]["name"] == "High"
    assert found["updatedAt"] > task["updatedAt"]


def test_update_task_refuses_what_update_case_refuses(sim):
    _, task = create_task(sim)
    unknown = {**status_body("Open"), "_id": "sts-nope"}
    response = call(sim, f"updateTask/{task['_id']}", {"status": unknown, "dueDate": "soon"})
    assert response.status_code == 400 and len(messages(response)) == 2
    incomplete = call(sim, f"updateTask/{task['_id']}", {"status": {"_id": status_body("Open")["_id"]}})
    assert messages(incomplete) == [
        "status must be an object with _id, name, lname and statusCategory: name, lname and statusCategory "
        "missing."
    ]
    assert call(sim, "updateTask/ti-0000000-0000-0000-0000-000000000000", {}).status_code == 404


# --- getCases filters ------------------------------------------------------------------------


@pytest.fixture
def three_cases(sim):
    """Open/Medium (oldest), In Progress/High in a queue, Resolved/Low (newest)."""
    from cases.kore.simulator.catalog import catalog

    queue = catalog(STREAM).queues[1]
    oldest = create(sim, name="Oldest printer case", dueDate="2031-01-01T10:00:00.000Z")
    middle = create(sim, name="Middle vpn case", dueDate="2031-01-02T10:00:00.000Z")
    newest = create(sim, name="Newest refund case", dueDate="2031-01-03T10:00:00.000Z")
    call(
        sim,
        f"updateCase/{middle['_id']}",
        {
            "status": status_body("In Progress"),
            "priority": priority_body("High"),
            "assigneeType": "queues",
            "queues": [queue["_id"]],
        },
    )
    call(
        sim,
        f"updateCase/{newest['_id']}",
        {"status": status_body("Resolved"), "priority": priority_body("Low")},
    )
    call(sim, f"updateCase/{oldest['_id']}", {"channel": ["email"]})  # updated last
    return {"oldest": oldest, "middle": middle, "newest": newest, "queue": queue}


def names(answer):
    return [found["name"].split()[0] for found in answer["results"]]


@pytest.mark.parametrize(
    "body, expected",
    [
        ({}, ["Newest", "Middle", "Oldest"]),
        ({"unresolved": True}, ["Middle", "Oldest"]),
        ({"unassigned": True}, ["Middle"]),
        ({"mycase": True}, ["Newest", "Middle", "Oldest"]),  # a JWT app is no agent: ignored
        ({"status": ["Open", "resolved"]}, ["Newest", "Oldest"]),
        ({"priority": ["high"]}, ["Middle"]),
        ({"priority": ["Low", "Medium"]}, ["Newest", "Oldest"]),
        ({"channel": ["email"]}, ["Oldest"]),
        ({"queues": ["Billing"]}, ["Middle"]),
        ({"sortBy": "createdDate"}, ["Newest", "Middle", "Oldest"]),
        ({"sortBy": "updatedDate"}, ["Oldest", "Newest", "Middle"]),
        ({"sortBy": {"createdDate": "asc"}}, ["Oldest", "Middle", "Newest"]),
        ({"sortBy": {"dueDate": "desc"}}, ["Newest", "Middle", "Oldest"]),
        ({"searchText": "vpn", "unresolved": True}, ["Middle"]),
    ],
)
def test_each_get_cases_filter(sim, three_cases, body, expected):
    assert names(listed(sim, body)) == expected


def test_get_cases_filters_by_status_and_priority_ids(sim, three_cases):
    middle = three_cases["middle"]
    status_id, priority_id = status_body("In Progress")["_id"], priority_body("High")["_id"]
    assert names(listed(sim, {"status": [status_id]})) == ["Middle"]
    assert names(listed(sim, {"priority": [priority_id]})) == ["Middle"]
    assert names(listed(sim, {"queues": [three_cases["queue"]["_id"]]})) == ["Middle"]
    assert listed(sim, {"status": [status_id]})["results"][0]["_id"] == middle["_id"]


def test_a_sort_by_name_gives_its_direction_by_the_reading(sim, three_cases):
    assert names(listed(sim, {"sortBy": "createdDate"})) == ["Newest", "Middle", "Oldest"]
    sim.set_readings(sort_direction="asc")
    assert names(listed(sim, {"sortBy": "createdDate"})) == ["Oldest", "Middle", "Newest"]
    assert names(listed(sim, {"sortBy": "updatedDate"})) == ["Middle", "Newest", "Oldest"]


def test_the_sort_by_fields_honoured_by_the_reading(sim, three_cases):
    sim.set_readings(sort_by="created_only")
    assert names(listed(sim, {"sortBy": "updatedDate"})) == ["Newest", "Middle", "Oldest"]
    assert names(listed(sim, {"sortBy": {"createdDate": "asc"}})) == ["Oldest", "Middle", "Newest"]
    sim.set_readings(sort_by="ignored")
    assert names(listed(sim, {"sortBy": "updatedDate"})) == ["Newest", "Middle", "Oldest"]
    assert names(listed(sim, {"sortBy": {"createdDate": "asc"}})) == ["Newest", "Middle", "Oldest"]


@pytest.mark.parametrize(
    "reading, due, expected",
    [
        ("exact", "2031-01-02T10:00:00.000Z", ["Middle"]),
        ("exact", "2031-01-02T00:00:00.000Z", []),
        ("day", "2031-01-02T00:00:00.000Z", ["Middle"]),
        ("until", "2031-01-02T23:00:00.000Z", ["Middle", "Oldest"]),
    ],
)
def test_the_due_date_filter_by_the_reading(sim, three_cases, reading, due, expected):
    sim.set_readings(due_date_filter=reading)
    assert names(listed(sim, {"dueDate": due})) == expected


def test_queues_are_answered_as_ids_or_objects_by_the_reading(sim, three_cases):
    queue = three_cases["queue"]
    assert listed(sim, {"queues": ["Billing"]})["results"][0]["queues"] == [queue["_id"]]
    sim.set_readings(queues="objects")
    assert listed(sim, {"queues": ["Billing"]})["results"][0]["queues"] == [queue]


def test_a_filter_of_the_wrong_type_is_refused_with_every_problem(sim):
    response = call(sim, "getCases", {"status": "Open", "unresolved": "yes", "startDate": "last week"})
    assert response.status_code == 400 and len(messages(response)) == 3


def test_the_rate_limit_counts_every_endpoint_of_the_account(sim):
    sim.set_rate_limit(5, 60)
    case, task = create_task(sim)  # createCase, createTask
    assert call(sim, "getCases").status_code == 200
    assert call(sim, f"updateCase/{case['_id']}", {"name": "x"}).status_code == 200
    assert call(sim, "getTasks").status_code == 200
    limited = call(sim, f"updateTask/{task['_id']}", {"name": "y"})
    assert limited.status_code == 429 and "exceeded the per-minute rate limit" in messages(limited)[0]
    assert call(sim, "getCases", account="acc-2").status_code == 200  # another account's own budget
