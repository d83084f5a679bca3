"""After a lost answer the case is looked up before any new send: adopted, held for review, or
sent again only when Kore has no candidate. Against the simulator answering as Kore documents,
under each reading of what the documentation leaves open."""

import importlib
from datetime import UTC, timedelta

import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from cases.delivery import actions, fair, pacing, reconcile
from cases.delivery.deliver import case_deliver
from cases.delivery.pacing import Slot
from cases.delivery.sweep import deliveries_sweep
from cases.kore.dates import format_kore_datetime
from cases.kore.lookup import SentCase, is_candidate
from cases.models import Case
from tests.delivering import deliver_until_settled
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


# --- Kore's search may match too little ----------------------------------------------------

TITLE_KORE_MAY_NOT_FIND = "Printer (floor 3) makes a grinding noise again"  # brackets; over 32 characters


@pytest.mark.parametrize("search", ["regex", "truncated"])
def test_a_search_that_misses_the_title_still_finds_the_lost_case(template, simulator, search):
    simulator.set_readings(search=search)
    case = submitted(template, title=TITLE_KORE_MAY_NOT_FIND)
    simulator.inject("drop_after_create")
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED and case.kore_id == simulator.cases[0]["_id"]
    assert list(case.attempts.values_list("outcome", flat=True)).count("adopted") == 1
    assert "asked without searchText" in case.attempts.last().error
    assert len(cases_at_kore_for(simulator, case)) == 1 and simulator.created_count == 1
    assert simulator.calls["getCases"] == 2  # the title search (nothing), then the window


def test_no_candidate_in_the_whole_window_is_safe_to_send(template, simulator, settings):
    settings.KORE_READ_TIMEOUT = 0.5
    simulator.set_readings(search="regex")
    case = submitted(template, title=TITLE_KORE_MAY_NOT_FIND)
    simulator.inject("drop")  # lost before Kore made anything
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED and case.attempts.last().outcome == "delivered"
    assert simulator.created_count == 1


def test_a_window_past_the_bound_without_search_needs_review_and_sends_nothing(template, simulator, settings):
    settings.KORE_LOOKUP_MAX_PAGES = 2
    settings.KORE_LOOKUP_PAGE_SIZE = 5
    simulator.set_readings(search="regex")
    case = submitted(template, title=TITLE_KORE_MAY_NOT_FIND)
    simulator.inject("drop_after_create")
    case_deliver(case_id=case.pk)
    for number in range(20):  # other people's cases, made in the window since
        simulator.create_case_directly(
            stream_id=template.stream.stream_id, body={**case.request_body, "name": f"Another case {number}"}
        )
    case = deliver_until_settled(case)
    assert case.state == Case.State.NEEDS_REVIEW
    assert "more than 2 page(s) of cases in the window" in case.last_error
    assert simulator.created_count == 21  # nothing sent again


# --- What Kore echoes, compared -------------------------------------------------------------


@pytest.mark.parametrize(
    "twin, seen",
    [({"emailId": "someone.else@example.com"}, "different email"), ({"source": "email"}, "different source")],
    ids=["email", "source"],
)
def test_a_case_that_contradicts_what_was_sent_needs_review(template, simulator, twin, seen):
    case = submitted(template)
    simulator.create_case_directly(stream_id=template.stream.stream_id, body={**case.request_body, **twin})
    simulator.inject("drop")  # lost before Kore made anything: the twin is somebody else's
    case = deliver_until_settled(case)
    assert case.state == Case.State.NEEDS_REVIEW
    assert seen in case.last_error
    assert [found["refId"] for found in case.review_candidates] == ["CS00000001"]
    assert simulator.created_count == 1  # nothing sent again


def test_a_listed_case_without_created_at_is_a_candidate_and_one_outside_the_window_is_not():
    now = timezone.now()
    sent = SentCase(
        body={"name": "Printer jammed"},
        template_id="ctm-1",
        template_name="Printers",
        sent_from=now - timedelta(minutes=1),
        sent_until=now,
    )
    margin = timedelta(seconds=60)
    assert is_candidate({"name": "Printer  jammed"}, sent, margin=margin)  # Kore does not say when
    assert is_candidate(
        {"name": "Printer jammed", "createdAt": format_kore_datetime(now)}, sent, margin=margin
    )
    day_before = format_kore_datetime(now - timedelta(days=1))
    assert not is_candidate({"name": "Printer jammed", "createdAt": day_before}, sent, margin=margin)


def test_a_template_named_otherwise_at_kore_still_adopts(template, simulator):
    """The portal's display name is an administrator's; Kore answers its own, learnt from the
    first createCase answer."""
    simulator.register_template(template.stream.stream_id, template.template_id, "IT - Hardware (EMEA)")
    deliver_until_settled(submitted(template, title="An earlier case of this template"))
    template.refresh_from_db()
    assert template.kore_name == "IT - Hardware (EMEA)" != template.name
    case = submitted(template)
    simulator.inject("drop_after_create")
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED and case.attempts.last().outcome == "adopted"
    assert simulator.created_count == 2


def test_the_upgrade_learns_kore_names_from_cases_already_delivered(template, simulator):
    simulator.register_template(template.stream.stream_id, template.template_id, "IT - Hardware (EMEA)")
    deliver_until_settled(submitted(template))
    type(template).objects.filter(pk=template.pk).update(kore_name="")
    migration = importlib.import_module("cases.migrations.0021_casetemplate_kore_name")
    migration.learn_kore_names(django_apps, None)
    template.refresh_from_db()
    assert template.kore_name == "IT - Hardware (EMEA)"


# --- Paced look-ups -------------------------------------------------------------------------


def paced(template, settings, *, limit=4, window=0.8):
    """The stream's account paced at ``limit`` calls per ``window`` seconds (slots of 0.27 s)."""
    settings.KORE_RATE_WINDOW_SECONDS = window
    settings.KORE_PACING_HORIZON_SECONDS = 2.0
    type(template.stream).objects.filter(pk=template.stream.pk).update(rate_limit=limit)
    return pacing.slot_seconds(limit, window)


def lost_among_newer_namesakes(template, simulator, *, newer: int):
    case = submitted(template)
    simulator.inject("drop_after_create")
    case_deliver(case_id=case.pk)
    for number in range(newer):
        simulator.create_case_directly(
            stream_id=template.stream.stream_id,
            body={**case.request_body, "name": f"{case.name} again {number}"},
        )
    return case


def test_each_page_of_a_paced_look_up_takes_its_own_slot(template, simulator, settings):
    length = paced(template, settings)
    simulator.set_rate_limit(4, 0.8)  # Kore's own limit, as the stream is told
    settings.KORE_LOOKUP_PAGE_SIZE = 2
    case = lost_among_newer_namesakes(template, simulator, newer=4)  # this case is on page 3
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED and case.attempts.last().outcome == "adopted"
    assert simulator.calls["getCases"] == 3
    slots = [int(request.at // length) for request in simulator.received]
    assert len(slots) == 4 and len(set(slots)) == 4  # the createCase and three pages: a slot each
    assert simulator.rate_limited_count == 0


def test_a_page_whose_slot_is_over_on_waking_is_not_sent(template, simulator, settings, monkeypatch):
    """A worker that wakes after its slot ended (a stall, a busy host) gives the case back
    rather than call Kore outside its slot, as every deliverer does (outcomes.in_slot)."""
    paced(template, settings)
    settings.KORE_LOOKUP_PAGE_SIZE = 2
    case = lost_among_newer_namesakes(template, simulator, newer=4)
    Case.objects.filter(pk=case.pk).update(next_attempt_at=timezone.now())
    real_turn = fair.wait_for_turn
    turns = []

    def late_after_the_first(*args, **kwargs):
        slot = real_turn(*args, **kwargs)
        turns.append(slot)
        return slot if len(turns) == 1 else Slot(starts_at=slot.starts_at, ends_at=slot.starts_at)

    monkeypatch.setattr(fair, "wait_for_turn", late_after_the_first)
    result = case_deliver(case_id=case.pk)
    case.refresh_from_db()
    assert not result.claimed and case.state == Case.State.RETRYING and case.lookup_required
    assert simulator.calls["getCases"] == 1  # the first page, in the slot the delivery held
    monkeypatch.undo()
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED and simulator.created_count == 5
