"""A fair, work-conserving share of an account's rate limit: under load each kind of work gets
its floor and API clients their weights, a lone kind gets every slot, Kore's limit is never
passed, and a client over its share is told the truth in Retry-After."""

from __future__ import annotations

import threading
import time
from collections import Counter
from contextlib import ExitStack

import pytest
import requests
from django.db import connection

from cases.api.clients import api_client_create
from cases.delivery import fair
from cases.kore.client import mint_token

pytestmark = pytest.mark.django_db(transaction=True)
LIMIT, WINDOW = 11, 1.0  # slots of 0.1 s


def contend(
    turns: fair.Turns, shares: dict[str, tuple[fair.Share, int]], seconds: float
) -> tuple[Counter, list]:
    """Waiters of each share (name: (share, how many)) take turns for ``seconds``: the slots each
    was given, and when the sends were made.

    A slot counts as given even when its waiter woke too late to send in it: the slots here are a
    tenth of a second, ten times shorter than at Kore's 60 a minute, so a thread waking 50 ms late
    on a busy machine (seen here, with ten threads on two cores) misses a slot that it would make
    in production. The scheduler gave it; whether it was used is the machine's doing."""
    got, sends, lock = Counter(), [], threading.Lock()
    stop = time.time() + seconds

    def waiter(name: str, share: fair.Share) -> None:
        try:
            while time.time() < stop:
                slot = turns.wait(share, give_up_after=2.0)
                if slot is None or slot.starts_at >= stop:
                    continue
                with lock:
                    got[name] += 1
                time.sleep(slot.wait())
                sent_at = time.time()
                if sent_at >= slot.ends_at:
                    continue  # woke too late: given back unsent, as in_slot does
                with lock:
                    sends.append(sent_at)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=waiter, args=(name, share))
        for name, (share, count) in shares.items()
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got, sorted(sends)


def never_over_the_limit(sends: list[float]) -> None:
    for index, first in enumerate(sends):
        assert len([t for t in sends[index:] if t - first < WINDOW]) <= LIMIT


def test_every_kind_gets_its_floor_under_load_and_none_starves(settings):
    settings.KORE_FAIR_SHARES = "people=4,api=3,import=1,bulk=1,sync=1"
    turns = fair.Turns("acct-floors", limit=LIMIT, window=WINDOW)
    got, sends = contend(turns, {"people": (fair.PEOPLE, 3), "sync": (fair.SYNC, 3)}, seconds=5)
    total = sum(got.values())
    assert total >= 35  # about 50 slots in 5 s, some lost to the start
    # People weigh 4, the sync 1: 80% and 20% while both wait.
    assert 0.12 <= got["sync"] / total <= 0.3, got
    never_over_the_limit(sends)


def test_every_kind_gets_at_least_its_floor_when_all_contend(settings):
    settings.KORE_FAIR_SHARES = "people=4,api=3,import=1,bulk=1,sync=1"
    turns = fair.Turns("acct-all-kinds", limit=LIMIT, window=WINDOW)
    tool = fair.Share.api(Client("cs-tool", 1))
    shares = {"people": fair.PEOPLE, "api": tool, "import": fair.IMPORT, "bulk": fair.BULK, "sync": fair.SYNC}
    # Two waiters a kind: while one sleeps until its slot, the other keeps the kind waiting. (With
    # one, a waiter slow to queue again on a loaded machine lost slots it was owed: a kind that
    # waits for nothing is owed nothing.) Slots given are counted, used or not (see contend).
    got, sends = contend(turns, {kind: (share, 2) for kind, share in shares.items()}, seconds=8)
    total = sum(got.values())
    assert total >= 60  # about 80 slots in 8 s
    for kind, floor in fair.floors().items():
        # At least its floor (40%, 30%, 10%, 10%, 10%), give or take a slot lost to the start.
        assert got[kind] / total >= floor - 1.5 / total, (kind, got)
    never_over_the_limit(sends)


def test_a_kind_that_rejoins_after_a_pause_does_not_jump_the_queue(settings):
    """People had the slots to themselves, then paused; the sync starts a pass while nobody
    waits. When people wait again, they are not kept behind the sync's catching up."""
    settings.KORE_PACING_HORIZON_SECONDS = 0.5  # a waiting marker lives 2 s
    turns = fair.Turns("acct-rejoin", limit=LIMIT, window=WINDOW)
    for _ in range(40):  # a spell of deliveries alone
        turns.heartbeat(fair.PEOPLE)
        turns.charge(fair.PEOPLE)
    time.sleep(turns.marker_ttl + 0.1)  # people pause: nobody waits
    turns.heartbeat(fair.SYNC)
    assert turns.entitled(fair.SYNC)
    turns.charge(fair.SYNC)  # the pass's first slot
    turns.heartbeat(fair.PEOPLE)  # a case is submitted during the pass
    assert turns.entitled(fair.PEOPLE) and not turns.entitled(fair.SYNC)


def test_a_delivery_during_a_sync_pass_waits_at_most_one_slot_more(settings):
    settings.KORE_FAIR_SHARES = "people=1,api=1,import=1,bulk=1,sync=1"
    settings.KORE_PACING_HORIZON_SECONDS = 0.5
    turns = fair.Turns("acct-pass", limit=LIMIT, window=WINDOW)
    contend(turns, {"people": (fair.PEOPLE, 2)}, seconds=2)  # deliveries alone: about 20 slots
    time.sleep(turns.marker_ttl + 0.1)
    sync = threading.Thread(target=contend, args=(turns, {"sync": (fair.SYNC, 2)}, 2.5))
    sync.start()
    time.sleep(0.7)  # the pass is under way
    asked = time.time()
    slot = turns.wait(fair.PEOPLE, give_up_after=3.0)
    sync.join()
    # Alone it would start within a slot (the next one); the sync may hold the one under way.
    assert slot is not None and slot.starts_at - asked <= 2 * turns.length + 0.01, slot.starts_at - asked


def test_a_kind_alone_gets_every_slot(settings):
    turns = fair.Turns("acct-alone", limit=LIMIT, window=WINDOW)
    fair.Turns("acct-alone", limit=LIMIT, window=WINDOW).heartbeat(fair.PEOPLE)  # someone who left
    got, sends = contend(turns, {"sync": (fair.SYNC, 2)}, seconds=3)
    assert got["sync"] >= 24  # about 30 slots: work-conserving, even past a waiter who left
    never_over_the_limit(sends)


class Client:
    def __init__(self, client_id: str, weight: int):
        self.client_id, self.weight = client_id, weight


def test_api_clients_share_by_weight_whatever_they_send():
    turns = fair.Turns("acct-clients", limit=LIMIT, window=WINDOW)
    heavy, light = fair.Share.api(Client("cs-heavy", 1)), fair.Share.api(Client("cs-light", 2))
    got, sends = contend(turns, {"heavy": (heavy, 6), "light": (light, 1)}, seconds=5)
    total = sum(got.values())
    # Weights 1 and 2: a third and two thirds, although the heavy one sends six at a time.
    assert abs(got["light"] / total - 2 / 3) <= 0.1, got
    never_over_the_limit(sends)


def test_calls_arriving_together_each_take_a_place_and_are_told_when_the_first_frees(settings):
    settings.GATEWAY_QUEUE_SECONDS = 1.05
    turns = fair.Turns("acct-places", limit=LIMIT, window=WINDOW)  # slots of 0.1 s
    tool = fair.Share.api(Client("cs-burst", 1))
    turns.heartbeat(tool)  # alone: every slot is its own, a turn every 0.1 s
    with ExitStack() as places:
        for _ in range(10):  # places 1 to 10: at most 1.0 s each
            places.enter_context(turns.queued(tool, max_wait=1.05))
        with pytest.raises(fair.OverShare) as refused:
            places.enter_context(turns.queued(tool, max_wait=1.05))
        assert refused.value.wait == pytest.approx(1.1)
        # Five more calls arriving at this moment hold places 11 to 15 on their way to being
        # refused. The next one, at place 16, is refused too, and told the wait of place 11:
        # the others leave the queue, so room comes at the queue's next turn, not 0.5 s later.
        turns.cache.incr(turns.queue_key(tool), 5)
        with pytest.raises(fair.OverShare) as behind:
            places.enter_context(turns.queued(tool, max_wait=1.05))
        assert behind.value.wait == pytest.approx(1.1)
        turns.cache.decr(turns.queue_key(tool), 5)
    # Every place was left: a new call would be first.
    assert turns.estimated_wait(tool) == pytest.approx(0.1)


@pytest.fixture
def paced(template, simulator, settings):
    settings.KORE_RATE_WINDOW_SECONDS = 2.0
    settings.KORE_PACING_HORIZON_SECONDS = 1.0
    settings.GATEWAY_QUEUE_SECONDS = 1.0
    stream = template.stream
    stream.rate_limit = 11  # slots of 0.2 s
    stream.save()
    simulator.set_rate_limit(11, 2.0)
    client, secret = api_client_create(name="Busy tool", streams=[stream])
    return stream, client, secret


def test_a_client_over_its_share_gets_429_with_a_retry_after_that_tells_the_truth(
    live_server, paced, simulator
):
    stream, client, secret = paced
    url = f"{live_server.url}/caseManagement/api/public/analytics/{stream.stream_id}/getCases"

    def read() -> requests.Response:
        token = mint_token(client_id=client.client_id, client_secret=secret)
        return requests.post(url, json={"page": 1, "limit": 1}, headers={"auth": token}, timeout=30)

    answers: list[requests.Response] = []
    burst = [threading.Thread(target=lambda: answers.append(read())) for _ in range(12)]
    for thread in burst:
        thread.start()
        time.sleep(0.01)
    for thread in burst:
        thread.join()
    refused = [answer for answer in answers if answer.status_code == 429]
    served = [answer for answer in answers if answer.status_code == 200]
    assert refused and served, [answer.status_code for answer in answers]
    assert all(answer.json()["errors"][0]["code"] == 429 for answer in refused)
    retry_after = max(int(answer.headers["Retry-After"]) for answer in refused)
    # Twelve calls at five a second: none waits more than about 2.4 s, so neither need Retry-After.
    assert 1 <= retry_after <= 3
    # Sent again after Retry-After, alone, the call is served.
    time.sleep(retry_after)
    assert read().status_code == 200
    assert simulator.rate_limited_count == 0


def test_a_heavy_client_over_its_share_gets_429_while_a_light_one_is_served(live_server, paced, simulator):
    stream, heavy, heavy_secret = paced
    light, light_secret = api_client_create(name="Light tool", streams=[stream])
    url = f"{live_server.url}/caseManagement/api/public/analytics/{stream.stream_id}/getCases"

    def read(client, secret) -> requests.Response:
        token = mint_token(client_id=client.client_id, client_secret=secret)
        return requests.post(url, json={"page": 1, "limit": 1}, headers={"auth": token}, timeout=30)

    heavy_answers: list[requests.Response] = []
    light_answers: list[requests.Response] = []
    burst = [
        threading.Thread(target=lambda: heavy_answers.append(read(heavy, heavy_secret))) for _ in range(14)
    ]
    for thread in burst:
        thread.start()
        time.sleep(0.01)
    for _ in range(3):  # the light client's calls, one at a time, during the burst
        light_answers.append(read(light, light_secret))
    for thread in burst:
        thread.join()
    assert [answer.status_code for answer in light_answers] == [200, 200, 200]
    refused = [answer for answer in heavy_answers if answer.status_code == 429]
    assert refused and any(answer.status_code == 200 for answer in heavy_answers)
    retry_after = max(int(answer.headers["Retry-After"]) for answer in refused)
    # Fourteen calls at half of five a second wait at most about 5.6 s, 1 s of it queued.
    assert 1 <= retry_after <= 5
    time.sleep(retry_after)
    assert read(heavy, heavy_secret).status_code == 200  # as Retry-After said
    assert simulator.rate_limited_count == 0
