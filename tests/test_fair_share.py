"""A fair, work-conserving share of an account's rate limit: under load each kind of work gets
its floor and API clients their weights, a lone kind gets every slot, Kore's limit is never
passed, and a client over its share is told the truth in Retry-After."""

from __future__ import annotations

import threading
import time
from collections import Counter

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
    """Waiters of each share (name: (share, how many)) take turns for ``seconds``; what each got."""
    got, sends, lock = Counter(), [], threading.Lock()
    stop = time.time() + seconds

    def waiter(name: str, share: fair.Share) -> None:
        try:
            while time.time() < stop:
                slot = turns.wait(share, give_up_after=2.0)
                if slot is None:
                    continue
                time.sleep(slot.wait())
                with lock:
                    if time.time() < stop:
                        got[name] += 1
                        sends.append(time.time())
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
