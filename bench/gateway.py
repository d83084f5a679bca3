"""The gateway under contention: three API clients at once against the simulator's rate limit,
one of them sending ten times as much as the others, every call to Kore paced by the portal's
fair share. Then what the portal adds over a direct call, on a read and on createCase.

    .venv/bin/python bench/gateway.py                    # Kore's 60 s window: about 3 minutes
    .venv/bin/python bench/gateway.py --window 10 --seconds 30 --warmup 5   # a quick look

Each client has a stream of its own, the three of one Kore account (one budget, one fair
share), so the simulator's count of the calls it received per stream is each client's share of
Kore's calls: counted at Kore, not from the answers the clients got. Prints each share against
its weight's share, the 429s each client got and whether their Retry-After held, the share of
the time each had a call on its way (a client that leaves gaps gives up slots), and the calls
Kore refused for its rate limit; then ``PASS``/``FAIL``: every share within 10% of its weight's
share (while all three wait) and no refusal by Kore. Each client honours Retry-After, as a
well-behaved integration does. The latency part reads one case and creates cases, a quick look;
``bench/proxy.py`` measures every path with real changes.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections import Counter

import requests
from portal import (
    BASE,
    KORE_APP,
    KORE_SECRET,
    control,
    make_stream,
    percentile,
    portal,
    run_load,
    token_maker,
)

PACED = "st-00000000-0000-4000-8000-00000000fair{n}"  # one per client, of one account
UNPACED = "st-00000000-0000-4000-8000-0000000speed"
TOLERANCE = 0.10  # of a weight's share: the "within 10%"
CASE_BODY = {
    "caseTmp": "ctm-bench",
    "name": "Bench case",
    "desc": "Gateway run",
    "userInfo": {"_id": "u-bench", "name": "Bench"},
    "emailId": "bench@example.com",
    "dueDate": "2099-09-04T14:15:00.000Z",
    "source": "rtm",
}


class Caller:
    """One API client: ``threads`` loops sending getCases. Like a well-behaved integration, the
    client as a whole honours a 429's Retry-After: after the wait one call goes first (the
    probe), the others follow once it is answered. A truthful Retry-After lets the probe in."""

    def __init__(self, name: str, client, secret: str, url: str, threads: int):
        self.name, self.client, self.url, self.threads = name, client, url, threads
        self.token = token_maker(client.client_id, secret)
        self.served, self.refused, self.other = Counter(), Counter(), Counter()
        self.retry_at, self.probe_pending, self.probe_in_flight = 0.0, False, False
        self.probes = self.probes_refused = self.probes_waited = 0
        # 429s that came after waiting in the queue (admitted, then no turn in time), not at once.
        self.refused_after_waiting = 0
        # Calls on their way now, and samples of whether any was while counting: the fair share
        # holds "while all three wait", so a client that left gaps may get less than its share.
        self.in_flight, self.samples = 0, Counter()
        self.lock = threading.Lock()

    def _may_send(self) -> tuple[bool, bool]:
        """(may send now, as the probe)."""
        with self.lock:
            if time.time() < self.retry_at or self.probe_in_flight:
                return False, False
            probe, self.probe_pending = self.probe_pending, False
            self.probe_in_flight = probe
            return True, probe

    def run(self, until: float, counting_from: float) -> None:
        session = requests.Session()
        while time.time() < until:
            may, probe = self._may_send()
            if not may:
                time.sleep(0.01)
                continue
            sent = time.time()
            with self.lock:
                self.in_flight += 1
            answer = session.post(
                self.url, json={"page": 1, "limit": 1}, headers={"auth": self.token()}, timeout=60
            )
            now = time.time()
            counted = counting_from <= now < until
            with self.lock:
                self.in_flight -= 1
                self.probes += probe
                self.probe_in_flight = self.probe_in_flight and not probe
                if answer.status_code == 200:
                    self.served[counted] += 1
                elif answer.status_code == 429:
                    self.refused[counted] += 1
                    self.refused_after_waiting += counted and now - sent > 1
                    if probe:
                        self.probes_refused += 1
                        # Admitted, then no turn within the queue's wait (not refused at the door).
                        self.probes_waited += now - sent > 1
                    self.retry_at = max(self.retry_at, now + int(answer.headers.get("Retry-After", "1")))
                    self.probe_pending = True
                else:
                    self.other[answer.status_code] += 1

    def sample(self, until: float, counting_from: float) -> None:
        """Every 50 ms while counting: whether a call of this client is on its way."""
        while time.time() < until:
            if time.time() >= counting_from:
                self.samples[self.in_flight > 0] += 1
            time.sleep(0.05)

    @property
    def waiting_share(self) -> float:
        return self.samples[True] / max(1, sum(self.samples.values()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=120, help="measured, after the warm-up")
    parser.add_argument("--warmup", type=float, default=20, help="seconds before counting starts")
    parser.add_argument("--limit", type=int, default=60, help="Kore's calls per window")
    parser.add_argument(
        "--window", type=float, default=60, help="seconds (Kore's: 60; shorter for a quick look)"
    )
    parser.add_argument("--weights", default="1,1,2", help="of the heavy client and the two others")
    parser.add_argument("--threads", type=int, default=2, help="each light client's calls at once")
    parser.add_argument("--requests", type=int, default=400, help="for the latency part")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--gunicorn-threads", type=int, default=8)
    args = parser.parse_args()
    weights = [int(w) for w in args.weights.split(",")]
    # The portal's default wait (10 s) is for Kore's 60 s window; a shorter window shortens it
    # alike, so a light client still keeps a call or two waiting for its turn.
    queue_seconds = max(2.0, 10 * args.window / 60)
    env = {"KORE_RATE_WINDOW_SECONDS": str(args.window), "GATEWAY_QUEUE_SECONDS": f"{queue_seconds:g}"}

    with portal(workers=args.workers, threads=args.gunicorn_threads, env=env) as (sim_url, web_url):
        from cases.api.clients import api_client_create

        control(sim_url, "rate_limit", limit=args.limit, window=args.window)
        callers, streams = [], {}
        for n, (name, weight, threads) in enumerate(
            (
                ("heavy", weights[0], args.threads * 10),
                ("light", weights[1], args.threads),
                ("light-2", weights[2], args.threads),
            )
        ):
            stream_id = PACED.format(n=n)
            stream = make_stream(sim_url, stream_id=stream_id, rate_limit=args.limit, account_id="bench-fair")
            client, secret = api_client_create(name=name, streams=[stream], weight=weight)
            url = web_url + BASE.format(stream=stream_id) + "getCases"
            callers.append(Caller(name, client, secret, url, threads))
            streams[name] = stream_id
        started = time.time()
        counting_from, until = started + args.warmup, started + args.warmup + args.seconds
        # Kore's count per stream when counting starts and when it ends: the calls in between.
        at_kore = {}
        timers = [
            threading.Timer(moment - started, lambda key=key: at_kore.setdefault(key, sim_stats(sim_url)))
            for key, moment in (("from", counting_from), ("until", until))
        ]
        threads = [
            threading.Thread(target=caller.run, args=(until, counting_from))
            for caller in callers
            for _ in range(caller.threads)
        ] + [threading.Thread(target=caller.sample, args=(until, counting_from)) for caller in callers]
        for thread in timers + threads:
            thread.start()
        for thread in timers + threads:
            thread.join()
        stats = sim_stats(sim_url)

        # What the portal adds, on an unpaced stream, with Kore's limit lifted (as bench/proxy.py).
        control(sim_url, "rate_limit", limit=None)
        unpaced = make_stream(sim_url, stream_id=UNPACED, rate_limit=0, account_id="bench-speed")
        client, secret = api_client_create(name="Speed", streams=[unpaced])
        latencies = {}
        for path, body in (("getCases", {"page": 1, "limit": 1}), ("createCase", CASE_BODY)):
            for label, base, token in (
                ("direct", sim_url, token_maker(KORE_APP, KORE_SECRET)),
                ("via portal", web_url, token_maker(client.client_id, secret)),
            ):
                url = base + BASE.format(stream=UNPACED) + path
                run_load(lambda _n, url=url, body=body: (url, body), token, count=50, concurrency=1)
                latencies[path, label] = run_load(
                    lambda _n, url=url, body=body: (url, body), token, count=args.requests, concurrency=1
                )[0]

    def kore_calls(name: str) -> int:
        stream_id = streams[name]
        return at_kore["until"]["stream_calls"].get(stream_id, 0) - at_kore["from"]["stream_calls"].get(
            stream_id, 0
        )

    received = {caller.name: kore_calls(caller.name) for caller in callers}
    total = sum(received.values())
    capacity = args.limit / args.window * args.seconds
    print(
        f"Kore's limit: {args.limit} calls per {args.window:g} s; measured {args.seconds:g} s after "
        f"{args.warmup:g} s; GATEWAY_QUEUE_SECONDS {queue_seconds:g}"
    )
    print(
        f"{'client':10}{'weight':>7}{'threads':>8}{'at Kore':>8}{'share':>8}{'expected':>9}"
        f"{'off by':>8}{'200s':>7}{'429s':>7}{'waiting':>9}"
    )
    shares_ok = total > 0
    for caller, weight in zip(callers, weights, strict=True):
        expected = weight / sum(weights)
        share = received[caller.name] / total if total else 0.0
        off = (share - expected) / expected
        shares_ok = shares_ok and abs(off) <= TOLERANCE
        print(
            f"{caller.name:10}{weight:>7}{caller.threads:>8}{received[caller.name]:>8}{share:>8.1%}"
            f"{expected:>9.1%}{off:>+8.1%}{caller.served[True]:>7}{caller.refused[True]:>7}"
            f"{caller.waiting_share:>9.0%}"
        )
    print(
        f"Kore received {total} calls of the {capacity:.0f} its limit allows in {args.seconds:g} s "
        f"({total / capacity:.0%}: work-conserving)"
    )
    refused_by_kore = stats["rate_limited_count"]
    print(f"Kore refused for its rate limit: {refused_by_kore} (of {stats['request_count']} calls)")
    probes = sum(caller.probes for caller in callers)
    refused_again = sum(caller.probes_refused for caller in callers)
    waited = sum(caller.probes_waited for caller in callers)
    print(
        f"first calls after waiting a 429's Retry-After: {probes}, refused again: {refused_again} "
        f"({waited} of them admitted but given no turn within GATEWAY_QUEUE_SECONDS)"
    )
    after_waiting = {caller.name: caller.refused_after_waiting for caller in callers}
    print(f"429s after waiting over a second (admitted, then no turn in time): {after_waiting}")
    other = sum((caller.other for caller in callers), Counter())
    if other:
        print(f"other answers: {dict(other)}")
    print(
        f"{'PASS' if shares_ok else 'FAIL'}: each client's share of Kore's calls within "
        f"{TOLERANCE:.0%} of its weight's share"
    )
    print(f"{'PASS' if refused_by_kore == 0 else 'FAIL'}: Kore's limit never exceeded (no refusal by Kore)")
    print()
    print(f"{'added by the portal':22}{'p50 ms':>9}{'p95 ms':>9}")
    for path in ("getCases", "createCase"):
        direct, via = latencies[path, "direct"], latencies[path, "via portal"]
        print(
            f"{path:22}{statistics.median(via) - statistics.median(direct):9.2f}"
            f"{percentile(via, 0.95) - percentile(direct, 0.95):9.2f}"
        )
    print("(one unchanged case read, and createCase; bench/proxy.py measures each path with real changes)")


def sim_stats(sim_url: str) -> dict:
    return requests.get(f"{sim_url}/_simulator/stats", timeout=30).json()


if __name__ == "__main__":
    main()
