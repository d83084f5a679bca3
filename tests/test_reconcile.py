"""After a lost answer the case is looked up before any new send: adopted, held for review, or
sent again only when Kore has no candidate. Against the simulator answering as Kore documents,
under each reading of what the documentation leaves open."""

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from cases.delivery import actions, reconcile
from cases.delivery.deliver import case_deliver
from cases.delivery.sweep import deliveries_sweep
from cases.models import Case
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db(transaction=True)

READINGS = [
    {},
    {"paging": "skip"},
    {"page_size": 7},
    {"paging": "skip", "page_size": 7, "search": "words"},
    {"date_filter": "updatedAt"},
    {"date_filter": "dueDate"},
]


def deliver_until_settled(case, *, max_runs=12):
    for _ in range(max_runs):
        Case.objects.filter(pk=case.pk, state=Case.State.RETRYING).update(next_attempt_at=timezone.now())
        case_deliver(case_id=case.pk)
        case.refresh_from_db()
        if not case.is_pending:
            return case
    return case


def submitted(template, *, title="Printer on floor 3 is jammed", **body):
    """A case as the portal stores it, with the given requester keys in its body (an email if none)."""
    if not ({"emailId", "phoneNumber", "userInfo"} & set(body)):
        body["emailId"] = "dana@example.com"
    due = (timezone.now() + timedelta(days=3)).replace(microsecond=0)
    request_body = {
        "caseTmp": template.template_id,
        "name": title,
        "desc": "It makes a grinding noise.",
        "userInfo": body.pop("userInfo", {"name": "Dana"}),
        "dueDate": due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "source": "rtm",
        **body,
    }
    return CaseFactory(template=template, name=title, request_body=request_body)


def cases_at_kore_for(simulator, case):
    return [found for found in simulator.cases if found["name"] == case.request_body["name"]]


@pytest.fixture(
    params=READINGS, ids=lambda reading: ",".join(f"{k}={v}" for k, v in reading.items()) or "as-sampled"
)
def reading(request, simulator):
    simulator.set_readings(**request.param)
    return request.param


@pytest.mark.parametrize(
    "requester",
    [
        {"phoneNumber": "902398xxxx"},  # phone only: no answer of Kore's echoes a phone number
        {"emailId": "dana@example.com"},
        {"userInfo": {"_id": "u-portal-given-id", "name": "Dana"}},  # Kore answers its own u-… id
    ],
    ids=["phone-only", "email", "user-id"],
)
def test_a_lost_answer_ends_adopted_and_kore_holds_one_case(
    template, simulator, settings, reading, requester
):
    settings.KORE_READ_TIMEOUT = 0.5
    case = submitted(template, **requester)
    simulator.inject("drop_after_create")
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED
    assert case.attempts.last().outcome == "adopted"
    assert len(cases_at_kore_for(simulator, case)) == 1
    assert case.kore_id == simulator.cases[0]["_id"]


def test_the_case_found_on_page_three_is_adopted(template, simulator, settings, reading):
    settings.KORE_LOOKUP_MAX_PAGES = 25  # room for every page at the smallest page size
    case = submitted(template)
    simulator.inject("drop_after_create")
    case_deliver(case_id=case.pk)
    # After the lost answer, Kore gains 120 newer cases whose titles contain this one's.
    for number in range(120):
        simulator.create_case_directly(
            stream_id=template.stream.stream_id,
            body={**case.request_body, "name": f"{case.name} again {number}"},
        )
    requests_before = simulator.request_count
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED and case.attempts.last().outcome == "adopted"
    assert len(cases_at_kore_for(simulator, case)) == 1
    page_size = simulator.readings.page_size or 50
    assert simulator.request_count - requests_before == -(-121 // page_size)  # every page, once


def test_a_twin_with_the_same_title_on_page_three_needs_review(template, simulator, settings, reading):
    settings.KORE_LOOKUP_MAX_PAGES = 25
    case = submitted(template)
    # A twin made at Kore by hand meanwhile, then this submission's lost answer, then 120 newer cases.
    simulator.create_case_directly(stream_id=template.stream.stream_id, body=case.request_body)
    simulator.inject("drop_after_create")
    case_deliver(case_id=case.pk)
    for number in range(120):
        simulator.create_case_directly(
            stream_id=template.stream.stream_id,
            body={**case.request_body, "name": f"{case.name} again {number}"},
        )
    case = deliver_until_settled(case)
    assert case.state == Case.State.NEEDS_REVIEW
    assert "Several Kore cases match" in case.last_error
    assert {found["refId"] for found in case.review_candidates} == {"CS00000001", "CS00000002"}
    assert len(cases_at_kore_for(simulator, case)) == 2  # the twin and this one: never a third


def test_reaching_the_page_bound_needs_review_and_sends_nothing(template, simulator, settings):
    settings.KORE_LOOKUP_MAX_PAGES = 2
    case = submitted(template)
    simulator.inject("drop_after_create")
    case_deliver(case_id=case.pk)
    for number in range(120):
        simulator.create_case_directly(
            stream_id=template.stream.stream_id,
            body={**case.request_body, "name": f"{case.name} again {number}"},
        )
    case = deliver_until_settled(case)
    assert case.state == Case.State.NEEDS_REVIEW
    assert "more than 2 page(s)" in case.last_error
    assert len(cases_at_kore_for(simulator, case)) == 1


def test_a_different_template_at_kore_is_a_contradiction(template, simulator):
    case = submitted(template)
    simulator.register_template(template.stream.stream_id, template.template_id, "Something else")
    simulator.inject("drop_after_create")
    case = deliver_until_settled(case)
    assert case.state == Case.State.NEEDS_REVIEW
    assert "different template" in case.last_error
    assert [found["refId"] for found in case.review_candidates] == ["CS00000001"]
    assert simulator.created_count == 1


def test_a_case_created_before_the_window_is_not_a_candidate(template, simulator, settings):
    settings.KORE_LOOKUP_MARGIN_SECONDS = 60
    case = submitted(template)
    # The same title at Kore, made a day before this submission: somebody else's case.
    simulator.create_case_directly(
        stream_id=template.stream.stream_id, body=case.request_body, now=timezone.now() - timedelta(days=1)
    )
    simulator.inject("timeout")  # ambiguous, and nothing created
    settings.KORE_READ_TIMEOUT = 0.5
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED and case.attempts.last().outcome == "delivered"
    assert len(cases_at_kore_for(simulator, case)) == 2


def test_a_stream_without_account_id_holds_the_case_for_review(template, simulator, settings):
    type(template.stream).objects.filter(pk=template.stream.pk).update(account_id="")
    case = submitted(template)
    simulator.inject("drop_after_create")
    case = deliver_until_settled(case)
    assert case.state == Case.State.NEEDS_REVIEW
    assert "no account id" in case.last_error
    assert simulator.created_count == 1


def test_the_window_starts_at_the_send_a_dead_worker_left_behind(template, simulator, settings):
    """A worker died while Kore held the request; the sweep noticed ten minutes later."""
    settings.KORE_LOOKUP_MARGIN_SECONDS = 60
    case = submitted(template)
    sent_at = timezone.now() - timedelta(minutes=10)
    Case.objects.filter(pk=case.pk).update(created_at=sent_at - timedelta(minutes=1))
    simulator.create_case_directly(stream_id=template.stream.stream_id, body=case.request_body, now=sent_at)
    Case.objects.filter(pk=case.pk).update(state=Case.State.SENDING, sending_started_at=sent_at)
    assert deliveries_sweep().recovered == 1
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED
    assert list(case.attempts.values_list("outcome", flat=True)) == ["interrupted", "adopted"]
    assert simulator.created_count == 1


def test_a_case_already_held_by_another_submission_is_not_a_candidate(template, simulator, settings):
    settings.KORE_READ_TIMEOUT = 0.5
    first = deliver_until_settled(submitted(template))
    second = submitted(template)  # the same title, submitted again on purpose
    simulator.inject("timeout")
    second = deliver_until_settled(second)
    assert second.state == Case.State.DELIVERED and second.kore_id != first.kore_id
    assert len(cases_at_kore_for(simulator, second)) == 2


def test_a_person_adopts_a_listed_candidate(template, simulator):
    case = submitted(template)
    simulator.create_case_directly(stream_id=template.stream.stream_id, body=case.request_body)
    simulator.inject("drop_after_create")
    case = deliver_until_settled(case)
    assert case.state == Case.State.NEEDS_REVIEW
    chosen = case.review_candidates[1]
    assert not reconcile.case_adopt(case=case, kore_id="ci-not-a-candidate")
    assert reconcile.case_adopt(case=case, kore_id=chosen["_id"])
    case.refresh_from_db()
    assert (
        case.state == Case.State.DELIVERED
        and case.kore_id == chosen["_id"]
        and case.ref_id == chosen["refId"]
    )
    assert case.review_candidates == []
    assert simulator.created_count == 2


def test_send_anyway_sends_once_more_without_a_look_up(template, simulator):
    case = submitted(template)
    simulator.create_case_directly(stream_id=template.stream.stream_id, body=case.request_body)
    simulator.inject("drop_after_create")
    case = deliver_until_settled(case)
    assert case.state == Case.State.NEEDS_REVIEW
    requests_before = simulator.request_count
    assert actions.case_retry(case=case)
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED and case.attempts.last().outcome == "delivered"
    assert simulator.request_count == requests_before + 1
    assert simulator.created_count == 3
