"""Pacing: slots claimed through the shared cache never let more than `limit` sends into a window."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from cases.actions import send, task_send
from cases.actions.changes import Wanted, case_change, case_change_submit
from cases.actions.new_tasks import task_body, task_submit
from cases.delivery import fair, pacing
from cases.delivery.deliver import case_deliver
from cases.models import KoreStatus
from tests.factories import StreamFactory

pytestmark = pytest.mark.django_db(transaction=True)


def claim_all(key, *, limit, window, horizon, claimers=4, per_claimer=20):
    slots, lock = [], threading.Lock()

    def claimer():
        try:
            for _ in range(per_claimer):
                slot = pacing.claim_slot(key, limit=limit, window=window, horizon=horizon)
                if slot:
                    with lock:
                        slots.append(slot)
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer) for _ in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return slots


def test_each_slot_is_given_once_even_to_racing_claimers():
    slots = claim_all("acct-race", limit=11, window=1.0, horizon=2.0)
    starts = [slot.starts_at for slot in slots]
    assert len(starts) == len(set(starts))
    # Two seconds of horizon at 10 slots a second: about 20 slots to give (more as time moves on).
    assert len(slots) >= 18


def test_no_window_holds_more_than_the_limit_even_with_late_arrivals():
    limit, window = 6, 1.0
    slots = claim_all("acct-window", limit=limit, window=window, horizon=3.0)
    slots.sort(key=lambda slot: slot.starts_at)
    # Worst case: every send lands at the very end of its sending half.
    sends = [slot.ends_at for slot in slots]
    for index, first in enumerate(sends):
        in_window = [t for t in sends[index:] if t - first < window]
        assert len(in_window) <= limit


def test_accounts_do_not_share_a_budget():
    one = pacing.claim_slot("acct-a", limit=2, window=60, horizon=60)
    other = pacing.claim_slot("acct-b", limit=2, window=60, horizon=60)
    assert one and other


def test_a_full_horizon_answers_none():
    # Slots of 60 s and a 60 s horizon: one or two slots to give, then none.
    claims = [pacing.claim_slot("acct-full", limit=2, window=60, horizon=60) for _ in range(4)]
    given = [claim for claim in claims if claim]
    assert 1 <= len(given) <= 2
    assert claims[-1] is None


def test_streams_of_one_account_share_the_lowest_limit():
    fast = StreamFactory(rate_limit=60, account_id="acct-shared")
    slow = StreamFactory(rate_limit=20, account_id="acct-shared", host=fast.host.upper())
    unpaced = StreamFactory(rate_limit=0, account_id="acct-shared")
    elsewhere = StreamFactory(rate_limit=60, account_id="acct-other")
    assert pacing.account_limit(fast) == pacing.account_limit(slow) == pacing.account_limit(unpaced) == 20
    assert pacing.account_limit(elsewhere) == 60
    assert fast.rate_limit_key() == slow.rate_limit_key() == unpaced.rate_limit_key()
    slow.is_active = False
    slow.save()
    assert pacing.account_limit(fast) == 60  # an inactive stream sends nothing


def test_two_streams_of_one_account_never_add_up(settings):
    """Slots claimed for both streams at once lie on one grid, one send per slot of the lower
    limit: the two budgets never add up."""
    settings.KORE_RATE_WINDOW_SECONDS = 1.0
    settings.KORE_PACING_HORIZON_SECONDS = 1.0
    one = StreamFactory(rate_limit=11, account_id="acct-add")
    two = StreamFactory(rate_limit=31, account_id="acct-add")
    slots = [pacing.claim_for(stream) for _ in range(15) for stream in (one, two)]
    starts = sorted(slot.starts_at for slot in slots if slot)
    assert len(starts) >= 8
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= pacing.slot_seconds(11, 1.0) - 1e-6  # 0.1 s apart, never 1/30 s


def _a_case(worked_case, task_template):
    from tests.factories import CaseFactory

    case = CaseFactory(template=worked_case.template)
    return case, lambda: case_deliver(case_id=case.pk)


def _a_change(worked_case, task_template):
    body, shown = case_change(
        worked_case, Wanted(status=KoreStatus.objects.filter(stream=worked_case.stream)[1])
    )
    action = case_change_submit(case=worked_case, body=body, changes=shown, enqueue=False)
    return action, lambda: send.action_deliver(action_id=action.pk)


def _a_task(worked_case, task_template):
    body = task_body(case=worked_case, template=task_template, name="Call back", desc="About the printer.")
    task = task_submit(case=worked_case, template=task_template, body=body, enqueue=False)
    return task, lambda: task_send.task_deliver(task_id=task.pk)


@pytest.mark.parametrize("row_and_delivery", [_a_case, _a_change, _a_task], ids=["case", "change", "task"])
def test_a_row_with_no_turn_stays_queued_and_says_when_it_comes_back(
    worked_case, task_template, simulator, settings, monkeypatch, row_and_delivery
):
    """Every outbox row waits for its turn the same way (cases/delivery/outcomes.take_turn).
    Who gets which turn is fair.py's (tests/test_fair_share.py): here no turn comes."""
    settings.KORE_PACING_HORIZON_SECONDS = 0.2
    type(worked_case.stream).objects.filter(pk=worked_case.stream.pk).update(rate_limit=3)
    asked = []
    monkeypatch.setattr(fair, "wait_for_turn", lambda *args, **kwargs: asked.append(kwargs) or None)
    calls = dict(simulator.calls)
    row, deliver = row_and_delivery(worked_case, task_template)
    result = deliver()
    row.refresh_from_db()
    assert asked == [{"limit": 3, "give_up_after": 0.2}]
    assert not result.claimed and 0.1 <= result.retry_in <= 0.2
    assert row.state == "queued" and row.next_attempt_at > timezone.now()
    assert dict(simulator.calls) == calls  # nothing sent


def test_test_connection_waits_for_a_peoples_turn_at_the_accounts_pace(stream, simulator, settings):
    """*Test connection* is a getCases like any other: pressed again and again, it keeps to the
    account's pace instead of running into Kore's limit."""
    from cases.delivery.connection import stream_check

    settings.KORE_RATE_WINDOW_SECONDS = 1.0
    stream.rate_limit = 3  # slots of 0.5 s
    stream.save()
    simulator.set_rate_limit(3, 1.0)
    results = [stream_check(stream=stream) for _ in range(5)]
    assert all(result.ok for result in results), [result.message for result in results]
    assert simulator.calls["getCases"] == 5 and simulator.rate_limited_count == 0


def test_test_connection_with_no_turn_says_so_and_asks_nothing(stream, simulator, settings, monkeypatch):
    from cases.delivery.connection import stream_check

    settings.KORE_PACING_HORIZON_SECONDS = 0.2
    stream.rate_limit = 3
    stream.save()
    asked = []
    monkeypatch.setattr(fair, "wait_for_turn", lambda *args, **kwargs: asked.append(args[1]) or None)
    result = stream_check(stream=stream)
    assert asked == [fair.PEOPLE]
    assert not result.ok and "rate limit" in result.message
    assert simulator.request_count == 0
