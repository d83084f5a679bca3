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
