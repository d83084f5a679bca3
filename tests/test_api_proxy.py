"""The drop-in createCase proxy: Kore's request in, Kore's answer out, the record kept."""

import json
import threading
import time

import jwt
import pytest
import requests
from django.db import connection

from cases.api.clients import api_client_create
from cases.api.throttle import ApiClientThrottle
from cases.delivery import proxy
from cases.delivery.deliver import case_deliver
from cases.delivery.tasks import sweep_deliveries
from cases.kore.client import mint_token
from cases.models import ApiClient, Case
from tests.factories import CaseTemplateFactory, StreamFactory
from tests.holding import held, once_recorded

SAMPLE_BODY = """{
    "caseTmp": "%(template)s",
    "name": "This is demo case",
    "desc": "Demo case",
    "userInfo": {
        "_id": "u-fd371c0a-3168-5a02-83dd-f4ba5597xxxx",
        "name": "dummy"
    },
    "emailId": "dummy.898@gmail.com",
    "phoneNumber": "902398xxxx",
    "dueDate": "2099-09-04T14:15:00.000Z",
    "source": "rtm"
}"""


@pytest.fixture
def api_client(template):
    client, secret = api_client_create(name="CRM bot", streams=[template.stream])
    client.plain_secret = secret
    return client


def token_for(client: ApiClient, **claims) -> str:
    return mint_token(client_id=client.client_id, client_secret=client.plain_secret, **claims)


def proxy_url(stream_id: str) -> str:
    return f"/caseManagement/api/public/analytics/{stream_id}/createCase"


def body_for(template, **overrides) -> dict:
    body = json.loads(SAMPLE_BODY % {"template": template.template_id})
    body["phoneNumber"] = "9023981234"
    body.update(overrides)
    return body


def call(client, api_client, template, body=None, *, token=None, headers=None, stream_id=None):
    return client.post(
        proxy_url(stream_id or template.stream.stream_id),
        data=json.dumps(body if body is not None else body_for(template)),
        content_type="application/json",
        headers={"auth": token or token_for(api_client), **(headers or {})},
    )


# The request sample of kore-create-case-api.md, verbatim: a due date now in the past, a phone
# number with x's in it, the document's own template id. A proxy must not be stricter than Kore.
DOCUMENT_SAMPLE = """{
    "caseTmp": "ctm-d4e6152-4255-4c5c-ba6c-91dac5cdxxxx",
    "name": "This is demo case",
    "desc": "Demo case",
    "userInfo": {
        "_id": "u-fd371c0a-3168-5a02-83dd-f4ba5597xxxx",
        "name": "dummy"
    },
    "emailId": "dummy.898@gmail.com",
    "phoneNumber": "902398xxxx",
    "dueDate": "2026-09-04T14:15:00.000Z",
    "source": "rtm"
}"""


@pytest.mark.django_db(transaction=True)
def test_the_documents_request_sample_works_verbatim(live_server, api_client, template, simulator):
    """The curl of kore-create-case-api.md, with only the host, stream id and JWT put in."""
    stream = template.stream
    document_template = CaseTemplateFactory(
        stream=stream, template_id="ctm-d4e6152-4255-4c5c-ba6c-91dac5cdxxxx"
    )
    simulator.register_template(stream.stream_id, document_template.template_id, "Sales")
    response = requests.post(
        f"{live_server.url}/caseManagement/api/public/analytics/{stream.stream_id}/createCase",
        headers={
            "AccountId": "6639f7bd58c97ffac03bxxxx",
            "auth": token_for(api_client),
            "Iid": "st-adad1d73-99af-52b3-a85d-0791763bxxxx",
            "Content-Type": "application/json;charset=UTF-8",
            "bot-language": "en",
            "app-language": "en",
        },
        data=DOCUMENT_SAMPLE,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert simulator.created_count == 1
    answer = response.json()
    assert answer["_id"] == simulator.cases[0]["_id"] and answer["caseTmp"] == "Sales"
    case = once_recorded(Case.objects.get())  # recorded once the answer is sent
    assert case.kore_id == answer["_id"] and case.kore_case == answer
    assert case.request_body == json.loads(DOCUMENT_SAMPLE)  # forwarded and stored as received
    assert case.api_client == api_client
    assert case.state == Case.State.DELIVERED
    assert response.headers["X-Portal-Case-Id"] == str(case.pk)


@pytest.mark.django_db
def test_extra_keys_are_forwarded_as_received(client, api_client, template, simulator):
    body = body_for(template, tags=["vip"], customField={"a": 1})
    response = call(client, api_client, template, body)
    assert response.status_code == 200, response.content
    assert Case.objects.get().request_body == body
    sent = [request.json() for request in simulator.received if request.endpoint == "createCase"]
    assert sent == [body]  # what Kore received: the caller's body, extra keys included


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides",
    [
        {"dueDate": "2001-01-01T00:00:00.000Z"},  # in the past: Kore's to judge
        {"phoneNumber": "902398xxxx"},  # any phone format
        {"name": "x" * 2000},  # any length
        {"userInfo": {"name": "No id"}, "phoneNumber": "+1 555", "emailId": None},  # phone only
    ],
)
def test_the_proxy_checks_only_what_the_document_requires(client, api_client, template, simulator, overrides):
    body = {key: value for key, value in body_for(template, **overrides).items() if value is not None}
    response = call(client, api_client, template, body)
    assert response.status_code == 200, response.content
    assert simulator.created_count == 1


@pytest.mark.django_db
class TestRefusedCallsStoreNothing:
    def assert_kore_error(self, response, status, text):
        assert response.status_code == status, response.content
        errors = response.json()["errors"]
        assert any(text in error["msg"] for error in errors), errors
        assert all("code" in error for error in errors)
        assert not Case.objects.exists()

    def test_no_token(self, client, api_client, template):
        response = client.post(
            proxy_url(template.stream.stream_id), data="{}", content_type="application/json"
        )
        self.assert_kore_error(response, 401, "auth header")

    def test_a_garbage_token(self, client, api_client, template):
        self.assert_kore_error(call(client, api_client, template, token="garbage"), 401, "not a valid JWT")

    def test_a_wrong_secret(self, client, api_client, template):
        token = mint_token(client_id=api_client.client_id, client_secret="not-the-secret-not-the-secret-00")
        response = call(client, api_client, template, token=token)
        self.assert_kore_error(response, 401, "Invalid SDK credentials")
        assert response.json()["errors"][0]["code"] == 4002

    def test_an_expired_token(self, client, api_client, template):
        token = token_for(api_client, now=time.time() - 3600)
        self.assert_kore_error(call(client, api_client, template, token=token), 401, "expired")

    def test_a_replayed_token(self, client, api_client, template, simulator):
        token = token_for(api_client)
        assert call(client, api_client, template, token=token).status_code == 200
        replay = call(client, api_client, template, token=token)
        assert replay.status_code == 401 and "replay" in replay.json()["errors"][0]["msg"]
        assert Case.objects.count() == 1

    def test_a_jti_token_living_over_an_hour(self, client, api_client, template):
        now = int(time.time())
        claims = {"appId": api_client.client_id, "iat": now, "exp": now + 7200, "jti": "x"}
        token = jwt.encode(claims, api_client.plain_secret, algorithm="HS256")
        self.assert_kore_error(call(client, api_client, template, token=token), 401, "one hour")

    def test_an_inactive_client(self, client, api_client, template):
        ApiClient.objects.filter(pk=api_client.pk).update(is_active=False)
        self.assert_kore_error(call(client, api_client, template), 401, "Invalid SDK credentials")

    def test_a_stream_the_client_may_not_use(self, client, api_client, template):
        other = StreamFactory()
        response = call(client, api_client, template, stream_id=other.stream_id)
        self.assert_kore_error(response, 403, "may not use this stream")

    def test_an_unknown_stream(self, client, api_client, template):
        self.assert_kore_error(
            call(client, api_client, template, stream_id="st-unknown"), 404, "No active stream"
        )

    def test_every_problem_of_a_body_is_listed(self, client, api_client, template):
        body = {"caseTmp": template.template_id, "emailId": "not-an-email", "dueDate": "whenever"}
        response = call(client, api_client, template, body)
        self.assert_kore_error(response, 400, "name")
        fields = response.json()["fields"]
        assert {"name", "desc", "emailId", "dueDate", "userInfo"} <= set(fields)

    def test_an_unknown_template(self, client, api_client, template):
        response = call(client, api_client, template, body_for(template, caseTmp="ctm-nope"))
        self.assert_kore_error(response, 400, "ctm-nope")
        assert "caseTmp" in response.json()["fields"]

    @pytest.mark.parametrize("raw", ["not json", "[1, 2]", ""])
    def test_a_body_that_is_not_a_json_object(self, client, api_client, template, raw):
        response = client.post(
            proxy_url(template.stream.stream_id),
            data=raw,
            content_type="application/json",
            headers={"auth": token_for(api_client)},
        )
        self.assert_kore_error(response, 400, "JSON")

    def test_an_oversize_body(self, client, api_client, template, settings):
        settings.PROXY_MAX_BODY_BYTES = 1000
        response = call(client, api_client, template, body_for(template, desc="x" * 2000))
        self.assert_kore_error(response, 413, "too large")


@pytest.mark.django_db
def test_kores_refusal_comes_back_unchanged(client, api_client, template, simulator):
    simulator.inject("400")
    response = call(client, api_client, template)
    assert response.status_code == 400
    assert response.json() == {"errors": [{"msg": "caseTmp is invalid: no such case template.", "code": 400}]}
    assert Case.objects.get().state == Case.State.FAILED


@pytest.mark.django_db
def test_a_case_kore_made_is_answered_before_it_is_recorded(
    live_server, api_client, template, simulator, monkeypatch
):
    """The caller has Kore's answer before the portal records the delivery (AnswerFirst)."""
    url = live_server.url + proxy_url(template.stream.stream_id)
    with held(monkeypatch, proxy, "record_delivery") as recording:
        answer = requests.post(
            url, json=body_for(template), headers={"auth": token_for(api_client)}, timeout=10
        )
        assert answer.status_code == 200 and answer.json()["_id"].startswith("c")
        assert recording.wait(10)
        case = Case.objects.get()
        assert answer.headers["X-Portal-Case-Id"] == str(case.pk)
        assert case.state == Case.State.SENDING  # answered while recording was held
    case = once_recorded(case)
    assert case.state == Case.State.DELIVERED and case.kore_id == answer.json()["_id"]


def test_a_case_answered_but_never_recorded_is_looked_up_not_sent_again(
    client, api_client, template, simulator, monkeypatch, settings
):
    """The portal stops between answering and recording: the case is left ``sending``, and the
    sweep has it looked up, which finds it at Kore and adopts it."""

    def stopped(*args, **kwargs):
        raise RuntimeError("the worker stopped")

    monkeypatch.setattr(proxy, "record_delivery", stopped)
    answer = call(client, api_client, template)
    assert answer.status_code == 200
    case = Case.objects.get()
    assert case.state == Case.State.SENDING
    monkeypatch.undo()
    settings.KORE_SENDING_TIMEOUT_SECONDS = 0
    sweep_deliveries()
    Case.objects.filter(pk=case.pk).update(next_attempt_at=None)  # the retry is due now
    case_deliver(case_id=case.pk)
    case.refresh_from_db()
    assert case.state == Case.State.DELIVERED and case.kore_id == answer.json()["_id"]
    assert list(case.attempts.values_list("outcome", flat=True)) == ["interrupted", "adopted"]
    assert simulator.created_count == 1


def test_when_kore_is_down_the_case_is_queued_and_answered_202(client, api_client, template, simulator):
    simulator.inject("503")
    response = call(client, api_client, template)
    assert response.status_code == 202
    case = Case.objects.get()
    assert response.json()["caseId"] == case.pk
    assert response.json()["state"] == "retrying"
    assert case.state == Case.State.RETRYING


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fault, status, state",
    [
        # Kore answered with a passing error: nothing was created, so the case is withdrawn.
        ("429", 502, Case.State.CANCELLED),
        # The request may have created the case: it cannot be withdrawn, and is never sent again
        # unless a person decides to.
        ("503", 502, Case.State.NEEDS_REVIEW),
        ("timeout", 504, Case.State.NEEDS_REVIEW),
    ],
)
def test_respond_sync_refuses_to_queue(
    client, api_client, template, simulator, settings, fault, status, state
):
    settings.KORE_READ_TIMEOUT = 0.5
    simulator.inject(fault, delay=1.0)
    response = call(client, api_client, template, headers={"Prefer": "respond-sync"})
    assert response.status_code == status
    assert response.json()["errors"][0]["code"] == status
    assert Case.objects.get().state == state
    assert simulator.created_count == 0


@pytest.mark.django_db
def test_the_same_idempotency_key_returns_the_first_outcome(client, api_client, template, simulator):
    first = call(client, api_client, template, headers={"Idempotency-Key": "order-42"})
    again = call(client, api_client, template, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert simulator.created_count == 1 and Case.objects.count() == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_422(client, api_client, template, simulator):
    call(client, api_client, template, headers={"Idempotency-Key": "order-43"})
    other = call(
        client,
        api_client,
        template,
        body_for(template, name="Other"),
        headers={"Idempotency-Key": "order-43"},
    )
    assert other.status_code == 422
    assert Case.objects.count() == 1


@pytest.mark.django_db
def test_keys_belong_to_their_client(client, api_client, template, simulator):
    second, secret = api_client_create(name="Other bot", streams=[template.stream])
    second.plain_secret = secret
    call(client, api_client, template, headers={"Idempotency-Key": "shared"})
    call(client, second, template, headers={"Idempotency-Key": "shared"})
    assert simulator.created_count == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_calls_with_one_key_create_one_case(live_server, api_client, template, simulator):
    simulator.set_latency(0.2)
    url = f"{live_server.url}{proxy_url(template.stream.stream_id)}"
    barrier, statuses = threading.Barrier(5), []

    def caller():
        barrier.wait()
        response = requests.post(
            url,
            json=body_for(template),
            headers={"auth": token_for(api_client), "Idempotency-Key": "burst-1"},
            timeout=30,
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=caller) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    connection.close()
    assert simulator.created_count == 1
    assert Case.objects.count() == 1
    assert statuses.count(200) == 5, statuses


@pytest.mark.django_db
def test_a_client_over_its_rate_is_throttled_with_retry_after(
    client, api_client, template, simulator, monkeypatch
):
    monkeypatch.setattr(ApiClientThrottle, "rate", "2/min", raising=False)
    assert call(client, api_client, template).status_code == 200
    assert call(client, api_client, template).status_code == 200
    throttled = call(client, api_client, template)
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert throttled.json()["errors"][0]["code"] == 429


@pytest.mark.django_db
def test_staff_create_a_client_and_see_its_secret_once(staff_client, template):
    response = staff_client.post(
        "/api-clients/new/", {"name": "Chatbot", "streams": [template.stream.pk], "is_active": "on"}
    )
    client = ApiClient.objects.get(name="Chatbot")
    page = response.content.decode()
    assert client.client_id in page and client.secret in page
    assert response["Cache-Control"] == "no-store"
    for url in (
        "/api-clients/",
        f"/api-clients/{client.pk}/edit/",
        f"/admin/cases/apiclient/{client.pk}/change/",
    ):
        assert client.secret not in staff_client.get(url).content.decode()


@pytest.mark.django_db
def test_a_new_secret_replaces_the_old_one(staff_client, api_client, template):
    old = api_client.plain_secret
    staff_client.post(f"/api-clients/{api_client.pk}/new-secret/")
    api_client.refresh_from_db()
    assert api_client.secret != old


@pytest.mark.django_db
def test_api_client_pages_are_staff_only(member_client, api_client):
    assert member_client.get("/api-clients/").status_code == 403
    assert member_client.post(f"/api-clients/{api_client.pk}/new-secret/").status_code == 403


@pytest.mark.django_db
def test_the_command_prints_the_id_and_secret_once(template, capsys):
    from django.core.management import call_command

    call_command("create_api_client", "Nightly import", "--stream", template.stream.stream_id)
    out = capsys.readouterr().out
    client = ApiClient.objects.get(name="Nightly import")
    assert client.client_id in out and client.secret in out
    assert list(client.streams.all()) == [template.stream]
