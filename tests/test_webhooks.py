"""Signed webhooks: each event a JSON POST signed as Standard Webhooks says (checked here by the
independent ``standardwebhooks`` package), sent at least once through the outbox, never again
after a 2xx, retried with backoff, in order per case, switched off after a day of failing, and
only to addresses the host guard allows. A real receiver on loopback; the clock is moved by hand."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from standardwebhooks import Webhook

from cases.models import CaseEvent, WebhookAttempt, WebhookEndpoint, WebhookMessage
from cases.models.notify import record_case_event
from cases.notify import dispatch, endpoints, sender, tasks
from cases.notify.signing import signature
from cases.sync.lease import LeaseLost
from tests.factories import CaseFactory, StreamFactory

pytestmark = pytest.mark.django_db
Kind = CaseEvent.Kind
CASE_EVENTS = [kind for kind in Kind.values if kind.startswith("case.")]


def endpoint_for(url: str, *, events=None, streams=()) -> tuple[WebhookEndpoint, str]:
    return endpoints.endpoint_create(
        name=f"Tool {url[-12:]}", url=url, events=events or CASE_EVENTS, streams=streams
    )


def change(case, status: str) -> CaseEvent:
    """A change seen at Kore, recorded as the sync records it."""
    return record_case_event(
        Kind.CHANGED, case, changes=[{"field": "status", "old": case.status_name, "new": status}]
    )


def deliver_everything() -> None:
    """What beat does: fan out, then run each due endpoint's sender."""
    tasks.tick()


def received_ids(receiver) -> list[str]:
    return [request["headers"]["webhook-id"] for request in receiver.received]


def test_each_event_is_a_json_post_signed_as_standard_webhooks_says(receiver):
    endpoint, secret = endpoint_for(receiver.url)
    case = CaseFactory()
    change(case, "In Progress")
    deliver_everything()
    [request] = receiver.received
    headers = request["headers"]
    assert headers["content-type"] == "application/json"
    assert re.fullmatch(r"msg_[0-9a-f]{32}", headers["webhook-id"])
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]+=*", headers["webhook-signature"])
    payload = Webhook(secret).verify(request["body"], headers)  # the independent implementation
    assert payload["type"] == "case.changed"
    assert payload["data"]["case"]["id"] == case.pk
    assert payload["data"]["case"]["url"].endswith(f"/cases/{case.pk}/")
    assert payload["data"]["changes"] == [{"field": "status", "old": "", "new": "In Progress"}]
    assert secret.startswith("whsec_") and secret not in WebhookEndpoint.objects.get().secret_encrypted


def test_a_forged_or_altered_message_does_not_verify(receiver):
    _, secret = endpoint_for(receiver.url)
    change(CaseFactory(), "Resolved")
    deliver_everything()
    [request] = receiver.received
    tampered = request["body"].replace(b"Resolved", b"Closed")
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(tampered, request["headers"])
    _, other = endpoints.endpoint_create(name="other", url=receiver.url, events=CASE_EVENTS, streams=[])
    with pytest.raises(Exception, match="signature"):
        Webhook(other).verify(request["body"], request["headers"])


def test_the_signature_matches_the_specifications_own_example():
    # The example of the Standard Webhooks specification's reference implementations.
    key = __import__("base64").b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    assert (
        signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_a_message_answered_2xx_is_never_sent_again(receiver):
    endpoint_for(receiver.url)
    change(CaseFactory(), "In Progress")
    for _ in range(3):
        deliver_everything()
    assert len(receiver.received) == 1
    message = WebhookMessage.objects.get()
    assert message.state == WebhookMessage.State.DELIVERED and message.last_status == 204


def test_a_failing_receiver_is_retried_with_backoff_and_the_same_webhook_id(receiver, clock):
    endpoint_for(receiver.url)
    answers = iter([500, 503, 200])
    receiver.answer = lambda request: next(answers)
    change(CaseFactory(), "In Progress")
    deliver_everything()
    message = WebhookMessage.objects.get()
    assert message.state == "pending" and message.attempts == 1 and message.last_status == 500
    first_wait = message.next_attempt_at - clock.now()
    deliver_everything()  # not due yet: nothing sent
    assert len(receiver.received) == 1
    clock.advance(seconds=first_wait.total_seconds() + 1)
    deliver_everything()
    message.refresh_from_db()
    second_wait = message.next_attempt_at - clock.now()
    assert message.attempts == 2 and second_wait > first_wait / 2  # the backoff grows (with jitter)
    clock.advance(hours=2)
    deliver_everything()
    message.refresh_from_db()
    assert message.state == "delivered"
    assert len(set(received_ids(receiver))) == 1 and len(receiver.received) == 3
    assert [a.http_status for a in message.attempt_log.all()] == [500, 503, 200]
    assert message.attempt_log.first().response_body == "answered 500"


def sent_in_order(receiver) -> dict[int, list[str]]:
    """Per case, the new statuses the receiver accepted (2xx), in the order it accepted them."""
    accepted: dict[int, list[str]] = {}
    for request in receiver.received:
        if request.get("status", 204) < 300:
            data = json.loads(request["body"])["data"]
            accepted.setdefault(data["case"]["id"], []).append(data["changes"][0]["new"])
    return accepted


def test_a_case_waits_behind_its_stuck_event_while_other_cases_go_on(receiver, clock):
    endpoint_for(receiver.url)
    stuck, other = CaseFactory(), CaseFactory()
    first = change(stuck, "In Progress")
    change(stuck, "On Hold")
    change(other, "In Progress")
    change(other, "Resolved")
    refused = {"case": stuck.pk}  # the receiver refuses the stuck case until it is fixed

    def answer(request) -> int:
        request["status"] = (
            500 if json.loads(request["body"])["data"]["case"]["id"] == refused["case"] else 200
        )
        return request["status"]

    receiver.answer = answer
    for _ in range(4):
        deliver_everything()
        clock.advance(minutes=1)
    assert sent_in_order(receiver) == {other.pk: ["In Progress", "Resolved"]}
    assert [json.loads(r["body"])["data"]["changes"][0]["new"] for r in receiver.received].count(
        "On Hold"
    ) == 0
    refused["case"] = None
    clock.advance(hours=2)
    deliver_everything()
    assert sent_in_order(receiver) == {
        other.pk: ["In Progress", "Resolved"],
        stuck.pk: ["In Progress", "On Hold"],
    }
    assert WebhookMessage.objects.get(event=first).attempts >= 2


def test_a_message_given_up_after_a_day_lets_its_case_go_on(receiver, clock, settings):
    endpoint_for(receiver.url)
    case = CaseFactory()
    change(case, "In Progress")
    change(case, "Resolved")
    receiver.answer = lambda r: 400 if b"In Progress" in r["body"] else 200
    deliver_everything()
    clock.advance(hours=23)
    change(CaseFactory(), "Open")  # another case's event passes: the receiver is alive
    deliver_everything()  # still within the day: one more try, still pending
    assert WebhookMessage.objects.filter(state="pending").count() == 2
    clock.advance(hours=2)
    deliver_everything()
    states = dict(WebhookMessage.objects.values_list("event__data__changes__0__new", "state"))
    assert states == {"In Progress": "failed", "Resolved": "delivered", "Open": "delivered"}
    assert WebhookEndpoint.objects.get().is_active


def test_send_again_queues_a_message_with_the_same_webhook_id(receiver, staff_client):
    endpoint, _ = endpoint_for(receiver.url)
    change(CaseFactory(), "In Progress")
    deliver_everything()
    message = WebhookMessage.objects.get()
    log = staff_client.get(reverse("webhook_log", args=[endpoint.pk])).content.decode()
    assert message.webhook_id in log and "· 204 ·" in log
    staff_client.post(reverse("webhook_send_again", args=[endpoint.pk, message.pk]))
    deliver_everything()
    assert received_ids(receiver) == [message.webhook_id, message.webhook_id]
    assert WebhookAttempt.objects.filter(message=message).count() == 2


def test_an_endpoint_failing_for_a_day_is_switched_off_with_a_notice(
    receiver, clock, smtp_inbox, staff_user, staff_client
):
    endpoint, _ = endpoint_for(receiver.url)
    receiver.answer = lambda r: 503
    for n in range(12):
        change(CaseFactory(), f"Status {n}")
    deliver_everything()
    endpoint.refresh_from_db()
    assert endpoint.failing_since == clock.now() and endpoint.consecutive_failures == 12
    sent_before = len(receiver.received)
    clock.advance(minutes=30)
    deliver_everything()  # failing for a while: one probe a round, not every case at once
    assert len(receiver.received) == sent_before + 1
    for _ in range(26):
        clock.advance(hours=1)
        deliver_everything()
    endpoint.refresh_from_db()
    assert not endpoint.is_active and "no POST has passed since" in endpoint.switched_off_reason
    [notice] = smtp_inbox.to(staff_user.email)
    assert "switched off" in notice["Subject"]
    assert "is switched off" in staff_client.get(reverse("webhook_list")).content.decode()
    assert "Webhooks switched off" in staff_client.get(reverse("home")).content.decode()
    # Switched on again, the waiting messages go (the probe that failed past its day was given up).
    waiting = set(WebhookMessage.objects.filter(state="pending").values_list("pk", flat=True))
    assert len(waiting) == 11
    receiver.answer = lambda r: 200
    staff_client.post(reverse("webhook_switch", args=[endpoint.pk]), {"on": "1"})
    deliver_everything()
    assert set(WebhookMessage.objects.filter(state="delivered").values_list("pk", flat=True)) == waiting


def test_events_go_only_to_endpoints_that_want_their_type_and_stream(receiver):
    wanted, other = StreamFactory(), StreamFactory()
    endpoint_for(receiver.url, events=["case.delivered"], streams=[wanted])
    record_case_event(Kind.DELIVERED, CaseFactory(template__stream=wanted))
    record_case_event(Kind.DELIVERED, CaseFactory(template__stream=other))
    change(CaseFactory(template__stream=wanted), "In Progress")
    deliver_everything()
    [request] = receiver.received
    body = json.loads(request["body"])
    assert body["type"] == "case.delivered" and body["data"]["case"]["stream"]["id"] == wanted.pk


def test_an_endpoint_an_administrator_switched_off_is_kept_no_new_events(receiver):
    endpoint, _ = endpoint_for(receiver.url)
    endpoints.endpoint_switch(endpoint=endpoint, on=False)
    change(CaseFactory(), "In Progress")
    deliver_everything()
    assert receiver.received == [] and not WebhookMessage.objects.exists()
    endpoints.endpoint_switch(endpoint=endpoint, on=True)
    deliver_everything()
    assert receiver.received == []


def answering(status: int):
    """A receiver's answer that also notes the status on the request (for ``sent_in_order``)."""

    def answer(request) -> int:
        request["status"] = status
        return status

    return answer


def fail_until_switched_off(receiver, clock, endpoint) -> None:
    """The receiver answers 503 until the sender switches the endpoint off, a day later."""
    receiver.answer = answering(503)
    deliver_everything()
    for _ in range(26):
        clock.advance(hours=1)
        deliver_everything()
    endpoint.refresh_from_db()
    assert not endpoint.is_active and endpoint.switched_off_at is not None


def test_events_wait_for_an_endpoint_switched_off_for_failing_and_go_in_order_once_it_is_on(
    receiver, clock, staff_client
):
    endpoint, _ = endpoint_for(receiver.url)
    change(CaseFactory(), "Before")  # refused for a day: given up when the endpoint is switched off
    fail_until_switched_off(receiver, clock, endpoint)
    assert "its events are kept" in endpoint.switched_off_reason
    first, second = CaseFactory(), CaseFactory()
    for status in ["In Progress", "On Hold", "Resolved"]:
        change(first, status)
    change(second, "Open")
    tried = len(receiver.received)
    for _ in range(3):
        clock.advance(hours=1)
        deliver_everything()
    assert len(receiver.received) == tried  # kept for it, not sent while it is off
    assert endpoint.messages.filter(state="pending").count() == 4
    receiver.answer = answering(204)
    staff_client.post(reverse("webhook_switch", args=[endpoint.pk]), {"on": "1"})
    deliver_everything()
    assert sent_in_order(receiver) == {first.pk: ["In Progress", "On Hold", "Resolved"], second.pk: ["Open"]}
    assert not endpoint.messages.filter(state="pending").exists()


def test_an_administrator_may_stop_keeping_the_events_of_an_endpoint_switched_off_for_failing(
    receiver, clock
):
    endpoint, _ = endpoint_for(receiver.url)
    change(CaseFactory(), "Before")
    fail_until_switched_off(receiver, clock, endpoint)
    endpoints.endpoint_switch(endpoint=endpoint, on=False)  # "Keep it off and stop keeping its events"
    change(CaseFactory(), "In Progress")
    deliver_everything()
    assert not endpoint.messages.filter(state="pending").exists()


def test_messages_waiting_when_an_endpoint_is_switched_on_get_a_fresh_day_of_retries(receiver, clock):
    endpoint, _ = endpoint_for(receiver.url)
    receiver.answer = answering(503)
    change(CaseFactory(), "In Progress")
    deliver_everything()
    endpoints.endpoint_switch(endpoint=endpoint, on=False)
    clock.advance(days=2)  # off for longer than the day its message had
    endpoints.endpoint_switch(endpoint=endpoint, on=True)
    deliver_everything()  # still refused: retried, not given up after one try
    message = WebhookMessage.objects.get()
    assert message.state == "pending" and message.retry_until > clock.now() + timedelta(hours=23)
    receiver.answer = answering(204)
    clock.advance(hours=2)
    deliver_everything()
    message.refresh_from_db()
    assert message.state == "delivered"


def test_answers_in_before_the_lease_is_lost_are_recorded_so_a_2xx_is_never_sent_again(receiver, monkeypatch):
    endpoint, _ = endpoint_for(receiver.url)
    for n in range(3):
        change(CaseFactory(), f"Status {n}")
    dispatch.events_dispatch()
    monkeypatch.setattr(sender, "RENEW_EVERY", -1.0)  # renew after every answer

    def lost() -> None:
        raise LeaseLost(f"notify:webhooks:{endpoint.pk}")

    with pytest.raises(LeaseLost):
        sender.endpoint_send(endpoint.pk, renew=lost)
    recorded = set(WebhookMessage.objects.filter(state="delivered").values_list("webhook_id", flat=True))
    assert recorded  # at least the answer in hand when the lease was lost
    assert WebhookAttempt.objects.filter(message__webhook_id__in=recorded).count() == len(recorded)
    sender.endpoint_send(endpoint.pk)  # the worker that took the lease over
    assert WebhookMessage.objects.filter(state="delivered").count() == 3
    assert all(received_ids(receiver).count(webhook_id) == 1 for webhook_id in recorded)


def test_an_unreachable_receiver_is_recorded_not_raised(closed_port, clock):
    endpoint, _ = endpoint_for(f"http://127.0.0.1:{closed_port}/hooks")
    change(CaseFactory(), "In Progress")
    deliver_everything()
    attempt = WebhookAttempt.objects.get()
    assert attempt.http_status is None and "Could not reach" in attempt.error


# --- The host guard ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.8/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hooks",
        "https://192.168.1.20/hooks",
        "http://public.example.test/hooks",  # plain http to a host not listed
    ],
)
def test_the_form_refuses_internal_or_plain_http_receivers(staff_client, settings, fake_dns, url):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    fake_dns("public.example.test", "34.117.59.90")
    response = staff_client.post(
        reverse("webhook_new"), {"name": "x", "url": url, "events": ["case.changed"]}
    )
    assert response.status_code == 200 and not WebhookEndpoint.objects.exists()
    assert "WEBHOOK_ALLOWED_HOSTS" in response.content.decode()


def test_kores_allow_list_does_not_open_internal_addresses_to_webhooks(staff_client, settings):
    settings.KORE_ALLOWED_HOSTS = ["127.0.0.1", "10.0.0.8"]
    settings.WEBHOOK_ALLOWED_HOSTS = []
    response = staff_client.post(
        reverse("webhook_new"), {"name": "x", "url": "http://10.0.0.8/hooks", "events": ["case.changed"]}
    )
    assert "WEBHOOK_ALLOWED_HOSTS" in response.content.decode() and not WebhookEndpoint.objects.exists()


def test_a_name_that_turns_internal_after_saving_is_refused_at_connection(fake_dns, settings, clock):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    fake_dns("hooks.example.test", "34.117.59.91")
    endpoint, _ = endpoint_for("https://hooks.example.test/in")
    fake_dns("hooks.example.test", "127.0.0.1")  # rebinding: never connected to
    change(CaseFactory(), "In Progress")
    deliver_everything()
    attempt = WebhookAttempt.objects.get()
    assert attempt.http_status is None and "127.0.0.1" in attempt.error


# --- The pages -----------------------------------------------------------------------------


def test_an_administrator_registers_an_endpoint_and_sees_its_secret_once(staff_client, receiver):
    response = staff_client.post(
        reverse("webhook_new"),
        {"name": "CRM", "url": receiver.url, "events": ["case.delivered", "case.changed"]},
    )
    page = response.content.decode()
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", page).group(0)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == secret and response["Cache-Control"] == "no-store"
    assert endpoint.events == ["case.delivered", "case.changed"]
    assert secret not in staff_client.get(reverse("webhook_edit", args=[endpoint.pk])).content.decode()
    assert secret not in staff_client.get(reverse("webhook_list")).content.decode()
    renewed = staff_client.post(reverse("webhook_new_secret", args=[endpoint.pk])).content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret != secret and endpoint.secret in renewed


def test_only_administrators_see_the_webhook_pages(member_client):
    assert member_client.get(reverse("webhook_list")).status_code == 403


def test_dispatch_never_skips_an_event_and_fans_it_out_once(receiver):
    endpoint_for(receiver.url)
    endpoint_for(receiver.url + "/second")
    for n in range(5):
        change(CaseFactory(), f"S{n}")
    assert dispatch.events_dispatch(batch=2) == 5
    assert dispatch.events_dispatch() == 0
    assert WebhookMessage.objects.count() == 10
    assert sender.endpoints_due() != []


def test_the_readmes_signature_check_accepts_a_real_message_and_refuses_a_forged_one(receiver):
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("Checking a signature") :]
    code = section[
        section.index("```python") + len("```python") : section.index("```\n", section.index("```python") + 9)
    ]
    namespace: dict = {}
    exec(code, namespace)  # the README's few lines, as a receiver would paste them
    _, secret = endpoint_for(receiver.url)
    change(CaseFactory(), "In Progress")
    deliver_everything()
    [request] = receiver.received
    assert namespace["verify"](secret, request["headers"], request["body"])
    assert not namespace["verify"](secret, request["headers"], request["body"] + b" ")
    stale = {
        **request["headers"],
        "webhook-timestamp": str(int(request["headers"]["webhook-timestamp"]) - 3600),
    }
    assert not namespace["verify"](secret, stale, request["body"])


def test_settled_messages_and_handled_events_go_after_the_keeping_days(receiver, clock, settings):
    from cases.notify import retention

    settings.NOTIFY_KEEP_DAYS = 30
    endpoint_for(receiver.url)
    old = change(CaseFactory(), "In Progress")
    deliver_everything()
    CaseEvent.objects.filter(pk=old.pk).update(mailed=True)
    receiver.answer = lambda request: 500
    waiting = change(CaseFactory(), "On Hold")
    deliver_everything()
    clock.advance(days=31)
    CaseEvent.objects.update(occurred_at=clock.now() - timedelta(days=31))
    WebhookMessage.objects.update(created_at=clock.now() - timedelta(days=31))
    assert retention.prune() >= 2
    assert not CaseEvent.objects.filter(pk=old.pk).exists()
    assert CaseEvent.objects.filter(pk=waiting.pk).exists()  # its message still waits
    assert WebhookMessage.objects.get().state == "pending"
