"""What a sync pass costs: Kore calls against the least the documented filters allow, wall time
against the rate limit's floor, memory, how much longer a delivery waits while a pass runs, and
the list's first page of a portal holding a million cases, before and after.

The documented run, against a portal of 1M cases (issue 14, "Scale and speed"):

    # once: a SQLite database of 1M cases, kept in var/bench/cases-1000000.sqlite3 (it takes
    # minutes; the same command times the list pages too, and reuses the database next time)
    .venv/bin/python bench/list.py --sizes 1000000 --db var/bench --no-export
    .venv/bin/python bench/sync.py --portal-db var/bench/cases-1000000.sqlite3

Without ``--portal-db`` the portal starts empty and the list page is not judged. A quick look:
``bench/sync.py --sizes 1000,4000 --window 3``.

Per size (default 5,000 and 20,000): the standalone simulator (its own process) holds that many
cases in one stream, a tenth unresolved; a first pass reads them (the first 30 days). Then three
times Kore's agent changes 2.5% of them and resolves 1.5% (500 and 300 of 20,000), and a pass
runs:

1. **the pass alone**: its calls against the least (the unresolved cases, the cases new since
   the last pass and the newly resolved ones, 50 a page: ``ceil(n / 50)`` each, at least one
   call for each question, counted at the simulator); its wall time against the rate limit's
   floor for those calls (the least × ``window / limit``, the shortest time Kore's limit lets
   them take);
2. **another pass alone** for the peak memory it allocated (tracemalloc, which slows every
   allocation: so not during the timed pass);
3. **the pass during deliveries**: cases delivered one after another while it runs, each one's
   wait for its pacing slot beside the same deliveries with no pass running: the sync may add
   at most one slot (``window / (limit - 1)``, pacing.py's). The slots those deliveries took are
   reported beside the pass's own calls.

Then ``PASS``/``FAIL`` lines: calls at most 1.2x the least, wall time within 1.2x the floor,
deliveries delayed by at most one slot (each size), memory flat (the largest stream's peak at
most ``--memory-margin`` times the smallest's), and with ``--portal-db`` list page 1 unchanged:
the median of ``--page-samples`` reads after warming up, after the passes at most
``--page-margin`` over the median before (plus 2 ms, below which timing is noise).

The rate limit is Kore's 60 calls per ``--window`` seconds (60 in production; 6 by default
here, ten times faster, so a run takes minutes); the floor and the slots scale with it.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PAGE = 50
LIMIT = 60  # Kore's calls per window
GOAL_RATIO = 1.2  # calls against the least, wall time against the floor (issue 14)
NOISE_MS = 2.0  # a list page's change below this is timing noise, not a change


def setup(folder: Path, portal_db: str | None, window: float) -> None:
    database = folder / "portal.sqlite3"
    if portal_db:
        shutil.copyfile(portal_db, database)
    os.environ.update(
        {
            "PORTAL_VAR_DIR": str(folder),
            "DATABASE_URL": f"sqlite:///{database}",
            "PORTAL_SECRET_KEYS": os.environ.get("PORTAL_SECRET_KEYS")
            or "q2bXbM0xkP4bF1uY9vZr0d3lq0m6o3r8c1i5m7o9x2c=",
            "LOG_LEVEL": "WARNING",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "testserver",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "KORE_RATE_WINDOW_SECONDS": str(window),
            "KORE_PACING_HORIZON_SECONDS": str(max(1.0, window / 12)),
            "DJANGO_SETTINGS_MODULE": "casesite.settings",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def control(url: str, endpoint: str, **body) -> dict:
    answer = requests.post(f"{url}/_simulator/{endpoint}", json=body, timeout=600)
    answer.raise_for_status()
    return answer.json()


def stream_stats(url: str, stream_id: str) -> dict:
    stats = requests.get(f"{url}/_simulator/stats", timeout=600).json()
    return {"calls": stats["stream_calls"].get(stream_id, 0), **stats["streams"][stream_id]}


def list_page_ms(client, samples: int) -> float:
    """The list's first page: the median of ``samples`` reads after three to warm up (caches,
    the database's pages), so that a cold read is not taken for a change."""
    times = []
    for n in range(3 + samples):
        started = time.perf_counter()
        assert client.get("/cases/").status_code == 200
        if n >= 3:
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


class Deliveries:
    """Deliveries one after another in another thread; each one's wait for its pacing slot."""

    def __init__(self, template):
        self.template, self.waits, self.stop = template, [], threading.Event()
        self.thread = threading.Thread(target=self.run)

    def __enter__(self) -> Deliveries:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def run(self):
        from django.db import connection
        from django.utils import timezone

        from cases.delivery.deliver import case_deliver
        from cases.delivery.submit import build_case_body, case_submit

        try:
            number = 0
            while not self.stop.is_set():  # one every ~0.3 s: several per pass
                number += 1
                body = build_case_body(
                    template=self.template,
                    data={"name": f"Bench delivery {number}", "desc": "d", "emailId": "b@example.com"},
                )
                case = case_submit(template=self.template, body=body, enqueue=False)
                submitted = timezone.now()
                result = case_deliver(case_id=case.pk)
                while result.case.is_pending and result.retry_in is not None:
                    time.sleep(result.retry_in)
                    result = case_deliver(case_id=case.pk)
                sent = result.case.attempts.order_by("number").first().started_at
                self.waits.append((sent - submitted).total_seconds())
                self.stop.wait(0.3)
        finally:
            connection.close()


@dataclass
class Size:
    """What one stream size measured."""

    size: int
    first: tuple[int, float, int, bool] = (0, 0.0, 0, True)  # calls, wall, cases seen, complete
    calls: int = 0  # the pass alone, as counted at the simulator
    least: int = 0
    wall: float = 0.0
    peak: int = 0
    paused: bool = False
    changed: int = 0
    seen: int = 0
    busy_calls: int = 0  # the pass during deliveries, and the slots the deliveries took
    delivery_calls: int = 0
    busy_wall: float = 0.0
    baseline: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)


def measure(size: int, url: str, secret: str, window: float) -> Size:
    from cases.models import CaseTemplate, Stream, StreamSync
    from cases.sync import runs

    row = Size(size)
    control(url, "reset")
    control(url, "rate_limit", limit=LIMIT, window=window)
    stream_id = f"st-bench-sync-{size}"
    stream = Stream(
        name=f"Bench sync {size}", host=url, stream_id=stream_id, account_id=f"acct-{size}",
        client_id="cs-bench-sync", rate_limit=LIMIT,
    )  # fmt: skip
    stream.set_client_secret(secret)
    stream.save()
    template = CaseTemplate.objects.create(stream=stream, template_id=f"ctm-bench-{size}", name="Bench")
    control(url, "templates", stream_id=stream_id, template_id=template.template_id, name="Bench")
    unresolved = size // 10
    control(
        url, "agent", action="seed_cases", stream_id=stream_id, count=size, unresolved=unresolved, days=30
    )

    state = runs.sync_state(stream)
    started = time.monotonic()
    result = runs.run_pass(stream, state, lease=None)
    first_wall = time.monotonic() - started
    state.refresh_from_db()
    row.first = (state.last_calls, first_wall, state.last_seen, bool(result and result.complete))

    def churn() -> int:
        done = control(
            url,
            "agent",
            action="churn",
            stream_id=stream_id,
            changed=math.ceil(size * 0.025),
            resolved=math.ceil(size * 0.015),
        )
        StreamSync.objects.filter(pk=state.pk).update(next_pass_at=None)
        state.refresh_from_db()
        return len(done["resolved"])

    # 1. The pass alone: calls and wall time.
    resolved = churn()
    before = stream_stats(url, stream_id)
    new = before["cases"] - size  # created at Kore since the first pass (none: no agent runs)
    row.least = (
        max(1, math.ceil(before["unresolved"] / PAGE))
        + max(1, math.ceil(new / PAGE))
        + max(1, math.ceil(resolved / PAGE))
    )
    started = time.monotonic()
    result = runs.run_pass(stream, state, lease=None)
    row.wall = time.monotonic() - started
    row.calls = stream_stats(url, stream_id)["calls"] - before["calls"]
    row.paused = result is None or result.paused or not result.complete
    state.refresh_from_db()
    row.changed, row.seen = state.last_changed, state.last_seen

    # 2. Another such pass for its memory: tracing slows every allocation, so not the timed one.
    churn()
    tracemalloc.start()
    runs.run_pass(stream, state, lease=None)
    row.peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    # 3. The pass during deliveries: each delivery's wait for its slot, then and without a pass.
    with Deliveries(template) as quiet:
        time.sleep(8)
    row.baseline = quiet.waits
    churn()
    calls_before = stream_stats(url, stream_id)["calls"]
    with Deliveries(template) as busy:
        started = time.monotonic()
        runs.run_pass(stream, state, lease=None)
        row.busy_wall = time.monotonic() - started
    state.refresh_from_db()
    row.waits, row.busy_calls = busy.waits, state.last_calls
    row.delivery_calls = stream_stats(url, stream_id)["calls"] - calls_before - state.last_calls
    return row


def verdict(ok: bool, what: str) -> bool:
    print(f"{'PASS' if ok else 'FAIL'}: {what}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="5000,20000")
    parser.add_argument("--window", type=float, default=6.0, help="seconds of Kore's 60-call window")
    parser.add_argument("--portal-db", help="a SQLite database of bench/list.py --db, e.g. 1M cases")
    parser.add_argument("--memory-margin", type=float, default=1.25, help="largest peak / smallest")
    parser.add_argument("--page-margin", type=float, default=0.25, help="list page 1: after / before - 1")
    parser.add_argument("--page-samples", type=int, default=9, help="list page 1 reads, each time")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="portal-bench-sync-"))
    setup(folder, args.portal_db, args.window)

    from django.contrib.auth import get_user_model
    from django.test import Client

    from cases.models import Case
    from cases.people import roles
    from tests.servers import free_port, wait_for_port

    port = free_port()
    secret = "bench-sync-secret-0123456789abcdefgh"
    server = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "kore_simulator",
            "--port",
            str(port),
            "--app",
            f"cs-bench-sync:{secret}",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_port(port)
    admin, _ = get_user_model().objects.get_or_create(username="bench-sync")
    roles.set_role(admin, roles.ADMINISTRATOR)
    client = Client()
    client.force_login(admin)
    cases_before = Case.objects.count()
    page_before = list_page_ms(client, args.page_samples) if args.portal_db else None
    # Kore's limit lets ``limit`` calls through a window: one each window / limit at best. The
    # portal's pacing cuts the window into slots of window / (limit - 1) (one call of headroom).
    floor_per_call, slot = args.window / LIMIT, args.window / (LIMIT - 1)
    print(
        f"rate limit: {LIMIT} calls per {args.window:g} s: floor {floor_per_call * 1000:.0f} ms a call, "
        f"pacing slots of {slot * 1000:.0f} ms"
    )
    print(f"portal: {cases_before:,} cases")
    rows = []
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            rows.append(measure(size, url, secret, args.window))
    finally:
        server.terminate()
        server.wait(timeout=10)

    print()
    print("| stream | first pass | pass: calls / least | wall / floor | peak memory | changed · seen |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        calls, wall, seen, complete = row.first
        first = f"{calls} calls, {wall:.0f} s, {seen:,} cases{'' if complete else ' (incomplete)'}"
        floor = row.least * floor_per_call
        print(
            f"| {row.size:,} cases | {first} "
            f"| {row.calls} / {row.least} = {row.calls / row.least:.2f}x "
            f"| {row.wall:.1f} s / {floor:.1f} s = {row.wall / floor:.2f}x "
            f"| {row.peak / 1e6:.1f} MB | {row.changed} · {row.seen}{' (paused)' if row.paused else ''} |"
        )
    print()
    print("| stream | delivery wait: no pass / during (max) | extra | pass during deliveries |")
    print("|---|---|---|---|")
    for row in rows:
        quiet, busy = max(row.baseline, default=0), max(row.waits, default=0)
        print(
            f"| {row.size:,} cases | {quiet * 1000:.0f} ms / {busy * 1000:.0f} ms "
            f"| {(busy - quiet) / slot:+.2f} slots | {row.busy_calls} calls of the pass + "
            f"{row.delivery_calls} slots taken by {len(row.waits)} deliveries, {row.busy_wall:.1f} s "
            f"(floor of both {(row.busy_calls + row.delivery_calls) * floor_per_call:.1f} s) |"
        )
    print()
    for row in rows:
        name = f"{row.size:,} cases"
        verdict(not row.paused, f"{name}: the pass completed without pausing")
        verdict(row.calls <= GOAL_RATIO * row.least, f"{name}: calls at most {GOAL_RATIO}x the least")
        verdict(
            row.wall <= GOAL_RATIO * row.least * floor_per_call,
            f"{name}: wall time within {GOAL_RATIO}x the floor",
        )
        extra = (max(row.waits, default=0) - max(row.baseline, default=0)) / slot
        verdict(bool(row.waits) and extra <= 1, f"{name}: deliveries delayed by at most one slot")
    if len(rows) > 1:
        smallest, largest = min(rows, key=lambda r: r.size), max(rows, key=lambda r: r.size)
        verdict(
            largest.peak <= args.memory_margin * smallest.peak,
            f"memory flat: {largest.peak / 1e6:.1f} MB at {largest.size:,} cases, at most "
            f"{args.memory_margin:g}x the {smallest.peak / 1e6:.1f} MB at {smallest.size:,}",
        )
    else:
        print("memory flat: not judged (it takes two sizes)")
    if page_before is not None:
        after, count = list_page_ms(client, args.page_samples), Case.objects.count()
        verdict(
            after <= page_before * (1 + args.page_margin) + NOISE_MS,
            f"list page 1 unchanged: {page_before:.1f} ms before ({cases_before:,} cases), "
            f"{after:.1f} ms after ({count:,} cases), medians of {args.page_samples}; "
            f"margin {args.page_margin:.0%} + {NOISE_MS:g} ms",
        )
    else:
        print("list page 1 at 1M: not judged (pass --portal-db, see the docstring)")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
