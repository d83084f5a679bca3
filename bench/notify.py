"""What telling costs: 10,000 changes seen by the sync, 5 webhook endpoints, 1,000 followers.

    .venv/bin/python bench/notify.py [--changes 10000] [--cases 2000] [--endpoints 5] [--followers 1000]
                                     [--outage-changes 1000] [--minutes 10] [--rss-growth-mb 100]

A SQLite portal in a temporary folder; receivers on loopback in a process of their own (each
checks every signature with the ``standardwebhooks`` package and records what it accepted); a
real SMTP server (aiosmtpd) on loopback in another (so this process holds only the portal's
side, whose memory is measured); the notify package's clock driven by hand, so a receiver's
hour-long outage takes seconds.

1. **The sync**: Kore's answers applied page by page (50 cases a page, as a pass does), the
   changes arriving over 10 simulated minutes (``--minutes``); the same volume again with events
   off gives the cost of recording them. Mail ticks every 30 simulated seconds meanwhile.
2. **E-mail** through the SMTP server: messages sent; per follower and case, no two closer than
   the window; every change a follower wants is in exactly one message (counted line by line).
3. **Webhooks**: every event fanned out, then POSTed to every endpoint by five senders at once (as
   five worker slots run ``send_endpoint``, in this one process). **Events out per second**, the
   goal (at least 200/s): an event counts once, when every endpoint that subscribed to it has
   accepted it (a 2xx), over the time from fan-out to the last; POSTs accepted per second beside.
4. **An outage**: one receiver answers 503 for a simulated hour while more changes arrive, then
   comes back. It must have refused (the receiver counts its 503s), the log must show those
   attempts and messages sent more than once (retries), the receiver must have accepted every
   event once per webhook-id (no duplicates), in order per case, and nothing may be left pending
   or given up, at any endpoint.

**Memory** (RSS of this process, where the portal's code runs; the receivers run apart) is sampled
every half second through all phases: flat means its peak stays within ``--rss-growth-mb`` of
its level once the world is set up.

The last line says "all goals met", or which were not.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
STATUSES = ["Open", "In Progress", "On Hold", "Resolved"]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class MemoryWatch:
    """RSS every half second in a thread of its own, through every phase (``phase`` names the
    one running), from a baseline taken when the world is set up."""

    def __init__(self, every: float = 0.5):
        self.every, self.phase = every, "setup"
        self.baseline = rss_mb()
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.wait(self.every):
            self.samples[self.phase].append(rss_mb())

    def enter(self, phase: str) -> None:
        self.phase = phase
        self.samples[phase].append(rss_mb())

    def stop(self) -> None:
        self.samples[self.phase].append(rss_mb())
        self.done.set()
        self.thread.join()

    @property
    def peak(self) -> float:
        return max(max(values) for values in self.samples.values())

    @property
    def growth(self) -> float:
        return self.peak - self.baseline


# --- The receivers (their own process) ----------------------------------------------------


def serve_receivers(port: int, secrets: list[str]) -> None:
    """Receivers at /r0 … /rN on one port; /_stats and /_down for the bench."""
    from standardwebhooks import Webhook

    hooks = [Webhook(secret) for secret in secrets]
    lock = threading.Lock()
    down: set[int] = set()
    stats = [{"accepted": [], "ids": set(), "duplicates": 0, "refused": 0, "bad": 0} for _ in secrets]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with lock:
                view = [
                    {key: value for key, value in s.items() if key != "ids"} | {"unique": len(s["ids"])}
                    for s in stats
                ]
            self.answer(200, json.dumps(view).encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/_down"):
                down.clear()
                down.update(int(n) for n in self.path.split("=", 1)[1].split(",") if n)
                return self.answer(204)
            index = int(self.path.lstrip("/r"))
            record = stats[index]
            if index in down:
                with lock:
                    record["refused"] += 1
                return self.answer(503, b"down")
            try:
                payload = hooks[index].verify(body, dict(self.headers))
            except Exception:  # noqa: BLE001 - a bad signature is counted, and refused
                with lock:
                    record["bad"] += 1
                return self.answer(400, b"bad signature")
            webhook_id = self.headers["webhook-id"]
            case = payload["data"]["case"]
            with lock:
                if webhook_id in record["ids"]:
                    record["duplicates"] += 1
                record["ids"].add(webhook_id)
                record["accepted"].append([webhook_id, case["id"], payload["data"]["changes"][0]["new"]])
            self.answer(204)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def serve_smtp(port: int, log: str) -> None:
    """An SMTP server on loopback: each message it accepts becomes one JSON line in ``log`` (its
    To, its Subject and the status changes its plain text lists), written before it answers."""
    import email
    from email.policy import default

    from aiosmtpd.controller import Controller

    from tests.receivers import text_of

    out = open(log, "a", encoding="utf-8")  # noqa: SIM115 - open for the server's life

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:
            message = email.message_from_bytes(envelope.original_content or envelope.content, policy=default)
            summary = {
                "to": message["To"],
                "subject": message["Subject"],
                "changes": text_of(message).count("Status:"),
            }
            out.write(json.dumps(summary) + "\n")
            out.flush()
            return "250 OK"

    Controller(Handler(), hostname="127.0.0.1", port=port).start()
    threading.Event().wait()


class Smtp:
    """The SMTP server's process; ``new_messages()``: what it accepted since the last call."""

    def __init__(self, folder: Path):
        from tests.servers import free_port, wait_for_port

        self.port, self.log = free_port(), folder / "smtp.jsonl"
        self.log.touch()
        self.read = 0
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-smtp", str(self.port), str(self.log)], cwd=ROOT
        )
        wait_for_port(self.port)

    def new_messages(self) -> list[dict]:
        with self.log.open(encoding="utf-8") as log:
            log.seek(self.read)
            text = log.read()
            self.read = log.tell()
        return [json.loads(line) for line in text.splitlines()]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class Receivers:
    def __init__(self, secrets: list[str]):
        from tests.servers import free_port, wait_for_port

        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-receivers", str(self.port), *secrets], cwd=ROOT
        )
        wait_for_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}"

    def stats(self) -> list[dict]:
        import requests

        return requests.get(f"{self.url}/_stats", timeout=30).json()

    def down(self, *indexes: int) -> None:
        import requests

        requests.post(f"{self.url}/_down={','.join(map(str, indexes))}", timeout=5)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# --- The portal ----------------------------------------------------------------------------


def setup(folder: Path) -> None:
    os.environ.update(
        {
            "PORTAL_VAR_DIR": str(folder),
            "DATABASE_URL": f"sqlite:///{folder / 'portal.sqlite3'}",
            "PORTAL_SECRET_KEYS": os.environ.get("PORTAL_SECRET_KEYS")
            or "q2bXbM0xkP4bF1uY9vZr0d3lq0m6o3r8c1i5m7o9x2c=",
            "LOG_LEVEL": "ERROR",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "testserver",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "DJANGO_SETTINGS_MODULE": "casesite.settings",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class Clock:
    """The notify package's clock, moved by the bench."""

    def __init__(self):
        from django.utils import timezone

        from cases.notify import clock

        self.at = timezone.now()
        clock.now = lambda: self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def make_world(cases: int, followers: int, rng: random.Random):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from cases.models import Case, CaseTemplate, Follow, Stream, StreamSync
    from cases.people import roles

    stream = Stream(
        name="Bench", host="https://platform.kore.ai", stream_id="st-bench-notify", client_id="cs"
    )
    stream.set_client_secret("bench-secret-0123456789abcdef")
    stream.save()
    template = CaseTemplate.objects.create(stream=stream, template_id="ctm-bench", name="Bench")
    # The first pass is long done: what the sync sees now is news.
    StreamSync.objects.create(stream=stream, high_water_mark=datetime(2026, 1, 1, tzinfo=UTC))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    Case.objects.bulk_create(
        [
            Case(
                stream=stream,
                template=template,
                request_body={},
                name=f"Bench case {n}",
                state="delivered",
                kore_id=f"ci-bench-{n}",
                ref_id=f"CS9{n:07d}",
                status_name="Open",
                status_category="open",
                kore_updated_at=start,
                due_date=start + timedelta(days=3),
            )
            for n in range(cases)
        ],  # fmt: skip
        batch_size=500,
    )
    users = get_user_model().objects.bulk_create(
        [
            get_user_model()(username=f"follower{n}", email=f"follower{n}@example.com")
            for n in range(followers)
        ]
    )
    roles.sync_role_groups()
    agents = Group.objects.get(name=roles.ROLES[roles.AGENT].group)
    get_user_model().groups.through.objects.bulk_create(
        [get_user_model().groups.through(user_id=user.pk, group_id=agents.pk) for user in users]
    )
    stream.members.add(*users)
    case_ids = list(Case.objects.values_list("pk", flat=True))
    Follow.objects.bulk_create(
        [Follow(user=user, case_id=case_id) for user in users for case_id in rng.sample(case_ids, 10)],
        ignore_conflicts=True,
        batch_size=1000,
    )
    return stream


class Kore:
    """Kore's answers: each change moves one case's status on, with a newer updatedAt."""

    def __init__(self, cases: int):
        self.cases, self.version = cases, defaultdict(int)
        self.updated = datetime(2026, 1, 1, tzinfo=UTC)

    def page(self, numbers: list[int]) -> list[dict]:
        self.updated += timedelta(seconds=1)
        stamp = self.updated.isoformat().replace("+00:00", "Z")
        answers = []
        for n in numbers:
            self.version[n] += 1
            answers.append(
                {"_id": f"ci-bench-{n}", "refId": f"CS9{n:07d}", "name": f"Bench case {n}",
                 "updatedAt": stamp,
                 "status": {"name": f"{STATUSES[self.version[n] % 4]} #{self.version[n]:05d}",
                            "statusCategory": "open"}}
            )  # fmt: skip
        return answers

    def changes(self, total: int, *, per_page: int = 50, spread: int | None = None):
        """Pages of changes: each case changes once before any changes again (pages of 50)."""
        spread = spread or self.cases
        per_page = min(per_page, spread)  # a case at most once a page, as Kore lists it
        numbers = [n % spread for n in range(total)]
        for start in range(0, total, per_page):
            yield self.page(numbers[start : start + per_page])


def phase_sync_and_mail(stream, kore: Kore, clock: Clock, changes: int, smtp: Smtp, minutes: int) -> dict:
    from django.conf import settings
    from django.db.models import Count
    from django.utils import timezone

    from cases.models import Follow
    from cases.notify import mail
    from cases.sync.apply import CaseApplier

    pages = kore.changes(changes)  # page by page, as the sync reads them
    ticks = minutes * 2  # a mail tick every 30 simulated seconds
    per_tick = max(1, math.ceil(math.ceil(changes / min(50, kore.cases)) / ticks))
    applier = CaseApplier(stream, seen_at=timezone.now())
    applying = mailing = 0.0
    sent_at = defaultdict(list)  # (follower, case) -> simulated send times
    lines = messages = 0

    def mail_tick() -> float:
        nonlocal lines, messages
        began = time.perf_counter()
        mail.mail_due()
        took = time.perf_counter() - began
        for message in smtp.new_messages():
            sent_at[(message["to"], message["subject"].split(":")[0].strip())].append(clock.at)
            lines += message["changes"]
            messages += 1
        clock.advance(30)
        return took

    while batch := list(islice(pages, per_tick)):
        began = time.perf_counter()
        for page in batch:
            applier.apply(page)
        applying += time.perf_counter() - began
        mailing += mail_tick()
    for _ in range(12):  # the last windows close
        mailing += mail_tick()
    gaps = [
        (b - a).total_seconds() for times in sent_at.values() for a, b in zip(times, times[1:], strict=False)
    ]
    # Every change a follower wants, in some message: changes per case x its followers.
    per_case = defaultdict(int)
    for n in range(changes):
        per_case[f"ci-bench-{n % kore.cases}"] += 1
    followers = Follow.objects.values("case__kore_id").annotate(n=Count("id"))
    wanted = sum(per_case[row["case__kore_id"]] * row["n"] for row in followers)
    # The same volume again with events off: what recording them costs the sync.
    silent = CaseApplier(stream, seen_at=timezone.now())
    silent.tell = False
    began = time.perf_counter()
    for page in kore.changes(changes):
        silent.apply(page)
    without = time.perf_counter() - began
    return {
        "applying": applying,
        "without": without,
        "mailing": mailing,
        "messages": messages,
        "pairs": len(sent_at),
        "closest": min(gaps, default=None),
        "window": settings.NOTIFY_MAIL_WINDOW_SECONDS,
        "lines": lines,
        "wanted": wanted,
        "minutes": minutes,
    }


def events_delivered_everywhere(first: int, last: int) -> int:
    """Events (ids ``first`` to ``last``) each of whose messages, one per endpoint that
    subscribed, was accepted."""
    from django.db.models import Count, F, Q

    from cases.models import WebhookMessage

    return (
        WebhookMessage.objects.filter(event_id__gte=first, event_id__lte=last)
        .values("event_id")
        .annotate(sent_to=Count("id"), accepted_by=Count("id", filter=Q(state="delivered")))
        .filter(accepted_by=F("sent_to"))
        .count()
    )


def phase_webhooks(endpoint_ids: list[int], receivers: Receivers, clock: Clock) -> dict:
    from django.db.models import Max, Min

    from cases.models import CaseEvent, WebhookMessage
    from cases.notify import dispatch, sender

    waiting = CaseEvent.objects.filter(dispatched=False)
    events = waiting.count()
    first, last = waiting.aggregate(first=Min("id"), last=Max("id")).values()
    began = time.perf_counter()
    dispatch.events_dispatch()
    fanned = time.perf_counter() - began

    def send_all(endpoint_id: int) -> None:
        """One endpoint's sender, as a worker slot runs it (``cases.notify.tasks.send_endpoint``)."""
        from django.db import connection

        try:
            while sender.endpoint_send(endpoint_id, budget_seconds=3600).rounds:
                pass
        finally:
            connection.close()

    senders = [threading.Thread(target=send_all, args=(endpoint_id,)) for endpoint_id in endpoint_ids]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    took = time.perf_counter() - began
    stats = receivers.stats()
    delivered = WebhookMessage.objects.filter(state="delivered").count()
    return {
        "events": events,
        "events_out": events_delivered_everywhere(first, last),
        "endpoints": len(endpoint_ids),
        "delivered": delivered,
        "took": took,
        "fanned": fanned,
        "accepted": sum(len(s["accepted"]) for s in stats),
        "duplicates": sum(s["duplicates"] for s in stats),
        "bad": sum(s["bad"] for s in stats),
    }


def phase_outage(
    stream, kore: Kore, endpoint_ids: list[int], receivers: Receivers, clock: Clock, changes: int
):
    from django.utils import timezone

    from cases.models import WebhookAttempt, WebhookMessage
    from cases.notify import dispatch, sender
    from cases.sync.apply import CaseApplier

    before = receivers.stats()
    first_new = (WebhookMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    receivers.down(0)
    applier = CaseApplier(stream, seen_at=timezone.now())
    pages = list(kore.changes(changes, spread=changes // 5))  # 5 changes per case: order matters
    ticks = 0
    began = time.perf_counter()
    while ticks < 6 * 120:  # 30 s ticks: the hour down, then up to two more until all is sent
        if pages and ticks % 4 == 0:  # changes keep coming during the first part of the hour
            for page in pages[:5]:
                applier.apply(page)
            pages = pages[5:]
        if ticks == 120:
            receivers.down()  # back after an hour
        dispatch.events_dispatch()
        for endpoint_id in endpoint_ids:
            sender.endpoint_send(endpoint_id, budget_seconds=60)
        ticks += 1
        clock.advance(30)
        if ticks > 120 and not pages and not WebhookMessage.objects.filter(state="pending").exists():
            break
    took = time.perf_counter() - began
    after = receivers.stats()
    first = after[0]
    accepted = first["accepted"][len(before[0]["accepted"]) :]
    order_ok, seen = True, defaultdict(int)
    for _, case_id, status in accepted:
        number = int(status.rsplit("#", 1)[1])
        order_ok &= number > seen[case_id]
        seen[case_id] = number
    messages = WebhookMessage.objects.filter(endpoint_id=endpoint_ids[0], id__gte=first_new)
    return {
        "expected": changes,
        "accepted": len(accepted),
        "unique": len({webhook_id for webhook_id, *_ in accepted}),
        "duplicates": first["duplicates"] - before[0]["duplicates"],
        "in_order": order_ok,
        # The receiver's own count of the POSTs it answered 503, and the portal's log of them.
        "refused": first["refused"] - before[0]["refused"],
        "logged_refusals": WebhookAttempt.objects.filter(message__in=messages, http_status=503).count(),
        "messages": messages.count(),
        "retried": messages.filter(attempts__gt=1).count(),
        "simulated_minutes": ticks * 30 / 60,
        "took": took,
        "pending": WebhookMessage.objects.filter(state="pending").count(),
        "failed": WebhookMessage.objects.filter(state="failed").count(),
    }


def report(changes: int, sync: dict, hooks: dict, outage: dict, memory: MemoryWatch, bound: float) -> str:
    events_per_second = hooks["events_out"] / hooks["took"]
    posts_per_second = hooks["delivered"] / hooks["took"]
    overhead = (sync["applying"] / sync["without"] - 1) * 100
    phases = ", ".join(f"{phase} {max(values):.0f}" for phase, values in memory.samples.items())
    lines = [
        f"sync: {changes:,} changes applied in {sync['applying']:.1f} s with their events, "
        f"{sync['without']:.1f} s without ({overhead:+.0f}%)",
        f"e-mail: changes over {sync['minutes']} simulated minutes; {sync['messages']:,} messages to "
        f"{sync['pairs']:,} (follower, case) pairs, sent in {sync['mailing']:.1f} s; the closest two to one "
        f"pair {'-' if sync['closest'] is None else format(sync['closest'], '.0f')} s apart (window "
        f"{sync['window']} s); {sync['lines']:,} of "
        f"{sync['wanted']:,} changes followers want mailed, {sync['lines'] / max(sync['messages'], 1):.1f} "
        "a message",
        f"webhooks: {hooks['events_out']:,} of {hooks['events']:,} events accepted by all "
        f"{hooks['endpoints']} endpoints in {hooks['took']:.1f} s (fan-out {hooks['fanned']:.1f} s): "
        f"{events_per_second:,.0f} events out/s (goal 200), {posts_per_second:,.0f} POSTs accepted/s "
        f"({hooks['delivered']:,} POSTs)",
        f"  receivers: {hooks['accepted']:,} accepted, {hooks['duplicates']} duplicates, "
        f"{hooks['bad']} bad signatures",
        f"outage: receiver 0 answered 503 for a simulated hour; {outage['expected']:,} changes on "
        f"{outage['expected'] // 5:,} cases; {outage['simulated_minutes']:.0f} simulated minutes in "
        f"{outage['took']:.1f} s",
        f"  the receiver refused {outage['refused']:,} POSTs, then accepted {outage['accepted']:,} events "
        f"with {outage['unique']:,} webhook-ids ({outage['duplicates']} duplicates), in order per case: "
        f"{outage['in_order']}",
        f"  its log: {outage['logged_refusals']:,} refused attempts; {outage['retried']:,} of "
        f"{outage['messages']:,} messages sent more than once; left pending (every endpoint): "
        f"{outage['pending']}; given up: {outage['failed']}",
        f"memory (RSS, every {memory.every:g} s through every phase): {memory.baseline:.0f} MB once set "
        f"up; peak per phase (MB): {phases}; grew {memory.growth:+.0f} MB (bound {bound:.0f} MB)",
    ]
    goals = {
        "events out >= 200/s": events_per_second >= 200,
        "every event to every endpoint": hooks["events_out"] == hooks["events"],
        "no duplicate or badly signed POST": hooks["duplicates"] == hooks["bad"] == 0,
        # No pair mailed twice (each case changed once) cannot break the window.
        "mail window kept": sync["closest"] is None or sync["closest"] >= sync["window"],
        "every wanted change mailed once": sync["lines"] == sync["wanted"],
        "outage: the receiver refused": outage["refused"] > 0,
        "outage: retries in the log": outage["logged_refusals"] > 0 and outage["retried"] > 0,
        "outage: every event, each webhook-id once": outage["accepted"]
        == outage["unique"]
        == outage["expected"]
        and outage["duplicates"] == 0,
        "outage: in order per case": outage["in_order"],
        "outage: nothing pending or given up": outage["pending"] == outage["failed"] == 0,
        f"memory within {bound:.0f} MB": memory.growth <= bound,
    }
    missed = [goal for goal, met in goals.items() if not met]
    return "\n".join(lines) + ("\nall goals met" if not missed else "\nGOALS NOT MET: " + "; ".join(missed))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--cases", type=int, default=2_000)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--followers", type=int, default=1_000)
    parser.add_argument("--outage-changes", type=int, default=1_000)
    parser.add_argument("--minutes", type=int, default=10, help="simulated minutes the changes arrive over")
    parser.add_argument(
        "--rss-growth-mb", type=float, default=100, help="how far RSS may rise above its level once set up"
    )
    parser.add_argument("--serve-receivers", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--serve-smtp", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_receivers:
        return serve_receivers(int(args.serve_receivers[0]), args.serve_receivers[1:])
    if args.serve_smtp:
        return serve_smtp(int(args.serve_smtp[0]), args.serve_smtp[1])
    folder = Path(tempfile.mkdtemp(prefix="portal-bench-notify-"))
    setup(folder)

    from django.conf import settings

    from cases.notify import endpoints

    rng = random.Random(16)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    clock = Clock()
    stream = make_world(args.cases, args.followers, rng)
    kore = Kore(args.cases)
    secrets, endpoint_ids = [], []
    smtp = Smtp(folder)
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
    try:
        for n in range(args.endpoints):
            endpoint, secret = endpoints.endpoint_create(
                name=f"Receiver {n}", url="http://127.0.0.1/", events=["case.changed"], streams=[]
            )
            secrets.append(secret)
            endpoint_ids.append(endpoint.pk)
        receivers = Receivers(secrets)
        try:
            from cases.models import WebhookEndpoint

            for n, endpoint_id in enumerate(endpoint_ids):
                WebhookEndpoint.objects.filter(pk=endpoint_id).update(url=f"{receivers.url}/r{n}")
            print(
                f"{args.cases:,} cases, {args.followers:,} followers (10 cases each), "
                f"{args.endpoints} endpoints"
            )
            memory = MemoryWatch()
            memory.enter("sync+mail")
            sync = phase_sync_and_mail(stream, kore, clock, args.changes, smtp, args.minutes)
            memory.enter("webhooks")
            hooks = phase_webhooks(endpoint_ids, receivers, clock)
            memory.enter("outage")
            outage = phase_outage(stream, kore, endpoint_ids, receivers, clock, args.outage_changes)
            memory.stop()
            print(report(args.changes, sync, hooks, outage, memory, args.rss_growth_mb))
        finally:
            receivers.stop()
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
