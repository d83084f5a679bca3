"""Delivery: every fault ends with exactly one case at Kore; refusals fail at once; no doubles."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from cases.delivery import actions
from cases.delivery.deliver import case_deliver
from cases.delivery.tasks import sweep_deliveries
from cases.models import Case
from tests.delivering import deliver_until_settled
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def case(template):
    return CaseFactory(template=template)


@pytest.mark.parametrize(
    "faults",
    [
        ["500"],
        ["502"],
        ["503"],
        ["429"],
        ["timeout"],
        ["drop"],
        ["malformed"],
        ["500", "502", "503"],
        ["429", "timeout", "503"],
        ["drop", "malformed", "500", "429"],
    ],
)
def test_each_fault_ends_with_the_case_delivered_exactly_once(case, simulator, faults, settings):
    settings.KORE_READ_TIMEOUT = 0.5
    for fault in faults:
        simulator.inject(fault, delay=1.0)
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED
    assert simulator.created_count == 1
    assert Case.objects.filter(kore_id__isnull=False).count() == 1
    assert case.attempts.count() >= len(faults) + 1


def test_faults_that_create_the_case_before_failing_are_adopted_not_duplicated(case, simulator, settings):
    settings.KORE_READ_TIMEOUT = 0.5
    simulator.inject("timeout_after_create", delay=1.0)
    simulator.inject("drop_after_create")
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED
    assert simulator.created_count == 1
    assert case.attempts.filter(outcome="adopted").count() == 1


@pytest.mark.parametrize("fault", ["drop_after_create", "malformed_after_create", "timeout_after_create"])
def test_an_ambiguous_attempt_is_looked_up_and_adopted(case, simulator, fault, settings):
    settings.KORE_READ_TIMEOUT = 0.5
    simulator.inject(fault, delay=1.0)
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED
    assert simulator.created_count == 1
    outcomes = list(case.attempts.values_list("outcome", flat=True))
    assert outcomes[-1] == "adopted"
    assert case.kore_id == simulator.cases[0]["_id"]


def test_a_refused_case_fails_after_exactly_one_attempt(case, simulator):
    simulator.inject("400")
    case = deliver_until_settled(case)
    assert case.state == Case.State.FAILED
    assert case.attempts.count() == 1
    assert case.last_error


def test_delivery_gives_up_after_the_maximum_attempts_and_flags_the_case(case, simulator, settings):
    settings.KORE_MAX_ATTEMPTS = 3
    simulator.inject("503", times=10)
    case = deliver_until_settled(case)
    # A 503 may have created the case, so giving up means a person checks Kore.
    assert case.state == Case.State.NEEDS_REVIEW
    assert case.is_flagged
    # Three sends, with a look-up (which found nothing) before each send after the first.
    assert list(case.attempts.values_list("outcome", flat=True)) == [
        "unavailable",
        "looked_up",
        "unavailable",
        "looked_up",
        "unavailable",
    ]
    assert "Gave up after 3 attempts" in case.last_error
    assert simulator.created_count == 0


def test_retry_after_is_honoured(case, simulator):
    simulator.inject("429")
    case_deliver(case_id=case.pk)
    case.refresh_from_db()
    assert case.state == Case.State.RETRYING
    assert (case.next_attempt_at - timezone.now()).total_seconds() > 0.2  # Retry-After: 1 beats the 0.2 s cap


def test_several_matches_after_an_ambiguous_attempt_need_review(case, simulator, settings):
    settings.KORE_READ_TIMEOUT = 0.5
    # Someone created the same case at Kore by hand in the meantime.
    twin = dict(case.request_body)
    simulator.create_case_directly(stream_id=case.stream.stream_id, body=twin)
    simulator.inject("timeout_after_create", delay=1.0)
    case = deliver_until_settled(case)
    assert case.state == Case.State.NEEDS_REVIEW
    assert "Several Kore cases match" in case.last_error


def test_a_delivered_case_is_never_sent_again(case, simulator):
    case_deliver(case_id=case.pk)
    result = case_deliver(case_id=case.pk)
    assert not result.claimed
    assert simulator.created_count == 1


def test_two_workers_racing_for_one_case_deliver_it_once(case, simulator):
    simulator.set_latency(0.3)
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        try:
            case_deliver(case_id=case.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    case.refresh_from_db()
    assert case.state == Case.State.DELIVERED
    assert simulator.created_count == 1
    assert case.attempts.count() == 1


def test_a_cancelled_case_is_not_sent(case, simulator):
    assert actions.case_cancel(case=case)
    case_deliver(case_id=case.pk)
    case.refresh_from_db()
    assert case.state == Case.State.CANCELLED
    assert simulator.created_count == 0


def test_a_failed_case_can_be_retried(case, simulator, django_capture_on_commit_callbacks):
    simulator.inject("400")
    case_deliver(case_id=case.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert actions.case_retry(case=case)
    case.refresh_from_db()
    assert case.state == Case.State.DELIVERED
    assert simulator.created_count == 1


def test_the_sweep_takes_back_a_case_whose_worker_died_mid_call(case, simulator, settings):
    settings.KORE_SENDING_TIMEOUT_SECONDS = 1
    # The worker created the case at Kore, then was killed before recording the answer.
    simulator.create_case_directly(stream_id=case.stream.stream_id, body=case.request_body)
    Case.objects.filter(pk=case.pk).update(
        state=Case.State.SENDING, sending_started_at=timezone.now() - timedelta(seconds=5)
    )
    sweep_deliveries()
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED
    assert simulator.created_count == 1
    assert list(case.attempts.values_list("outcome", flat=True)) == ["interrupted", "adopted"]


def test_the_sweep_re_enqueues_a_case_whose_task_was_lost(case, simulator, settings):
    settings.KORE_QUEUED_TIMEOUT_SECONDS = 0
    Case.objects.filter(pk=case.pk).update(updated_at=timezone.now() - timedelta(seconds=5))
    sweep_deliveries()  # eager Celery runs the task at once
    case.refresh_from_db()
    assert case.state == Case.State.DELIVERED


def test_a_refused_connection_is_retried_until_kore_is_back(case, simulator, closed_port):
    real_host = case.stream.host
    type(case.stream).objects.filter(pk=case.stream.pk).update(host=f"http://127.0.0.1:{closed_port}")
    case_deliver(case_id=case.pk)
    case.refresh_from_db()
    assert case.state == Case.State.RETRYING
    assert not case.lookup_required  # nothing was sent, so nothing to look up

    type(case.stream).objects.filter(pk=case.stream.pk).update(host=real_host)
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED
    assert simulator.created_count == 1


def test_a_look_up_and_the_send_after_it_each_take_a_rate_limit_slot(case, simulator, settings):
    settings.KORE_READ_TIMEOUT = 0.5
    settings.KORE_RATE_WINDOW_SECONDS = 1.0
    settings.KORE_PACING_HORIZON_SECONDS = 1.0
    type(case.stream).objects.filter(pk=case.stream.pk).update(rate_limit=3)
    simulator.set_rate_limit(3, 1.0)
    simulator.inject("timeout", delay=1.0)  # ambiguous, and nothing created: look up, then send
    case = deliver_until_settled(case, max_runs=40)
    assert case.state == Case.State.DELIVERED
    assert simulator.created_count == 1
    assert simulator.rate_limited_count == 0
    # The timed-out send, the look-up (the title search, then the window without searchText,
    # each page in a slot of its own), the send.
    assert simulator.calls == {"createCase": 2, "getCases": 2}
    slots = [int(request.at // 0.5) for request in simulator.received]  # slots of 1.0 s / (3 - 1)
    assert len(set(slots)) == len(slots) == 4
