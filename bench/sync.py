"""What a sync pass costs: Kore calls against the least the documented filters allow, wall time
against the rate limit's floor, memory, and how much longer a delivery waits while it runs.

    .venv/bin/python bench/sync.py --sizes 5000,20000 [--portal-db FILE] [--window 6]

Per size: the standalone simulator (its own process) holds that many cases in one stream, a
tenth unresolved; a first pass reads them (the first 30 days); then Kore's agent changes 2.5%
of them and resolves 1.5%, and the incremental pass is measured:

- calls, against the least: the unresolved cases, the new ones and the newly resolved ones, 50
  a page (``ceil(n / 50)`` each, at least one call for each question);
- wall time, against the floor of those calls at the sync's share of the rate limit;
- peak memory the pass allocated (tracemalloc), which must not grow with the stream's size;
- deliveries sent one after another during the pass, and each one's wait for its pacing slot
  beside the same deliveries with no pass running: the sync may add at most one slot.

The rate limit is Kore's 60 calls per ``--window`` seconds (60 in production; 6 by default
here, ten times faster, so a run takes minutes); the floor scales with it. ``--portal-db`` runs
against a SQLite database of cases made by ``bench/list.py --db`` (1M cases), copied first, and
times the list's first page before and after the passes.
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
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PAGE = 50


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


def list_page_ms(client) -> float:
    times = []
    for _ in range(7):
        started = time.perf_counter()
        assert client.get("/cases/").status_code == 200
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:])


class Deliveries:
    """Deliveries one after another in another thread; each one's wait for its pacing slot."""

    def __init__(self, template):
        self.template, self.waits, self.stop = template, [], threading.Event()

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


def measure_deliveries(template, seconds: float) -> list[float]:
    deliveries = Deliveries(template)
    thread = threading.Thread(target=deliveries.run)
    thread.start()
    time.sleep(seconds)
    deliveries.stop.set()
    thread.join()
    return deliveries.waits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="5000,20000")
    parser.add_argument("--window", type=float, default=6.0, help="seconds of Kore's 60-call window")
    parser.add_argument("--portal-db", help="a SQLite database of bench/list.py --db, e.g. 1M cases")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="portal-bench-sync-"))
    setup(folder, args.portal_db, args.window)

    from django.contrib.auth import get_user_model
    from django.test import Client

    from cases.delivery import fair
    from cases.models import Case, CaseTemplate, Stream, StreamSync
    from cases.people import roles
    from cases.sync import runs
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
    page_before = list_page_ms(client) if args.portal_db else None
    # The sync's floor: its share of the limit while deliveries wait too (it takes more when
    # nobody else waits, so the wall time below is at most this floor's).
    limit, share = 60, fair.floors()["sync"]
    slot = args.window / (limit - 1)
    print(f"rate limit: {limit} calls per {args.window:g} s (slots of {slot * 1000:.0f} ms)", end="")
    print(f"; sync floor {share:g}")
    print(f"portal: {Case.objects.count():,} cases")
    rows = []
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            control(url, "reset")
            control(url, "rate_limit", limit=limit, window=args.window)
            stream_id = f"st-bench-sync-{size}"
            stream = Stream(
                name=f"Bench sync {size}", host=url, stream_id=stream_id, account_id=f"acct-{size}",
                client_id="cs-bench-sync", rate_limit=limit,
            )  # fmt: skip
            stream.set_client_secret(secret)
            stream.save()
            template = CaseTemplate.objects.create(
                stream=stream, template_id=f"ctm-bench-{size}", name="Bench"
            )
            control(url, "templates", stream_id=stream_id, template_id=template.template_id, name="Bench")
            unresolved = size // 10
            control(
                url,
                "agent",
                action="seed_cases",
                stream_id=stream_id,
                count=size,
                unresolved=unresolved,
                days=30,
            )

            state = runs.sync_state(stream)
            started = time.monotonic()
            runs.run_pass(stream, state, lease=None)
            first_wall = time.monotonic() - started
            state.refresh_from_db()
            first = (state.last_calls, first_wall, state.last_seen)

            changed, resolved = math.ceil(size * 0.025), math.ceil(size * 0.015)
            control(url, "agent", action="churn", stream_id=stream_id, changed=changed, resolved=resolved)
            baseline = measure_deliveries(template, 8)

            tracemalloc.start()
            deliveries = Deliveries(template)
            thread = threading.Thread(target=deliveries.run)
            thread.start()
            StreamSync.objects.filter(pk=state.pk).update(next_pass_at=None)
            state.refresh_from_db()
            started = time.monotonic()
            runs.run_pass(stream, state, lease=None)
            wall = time.monotonic() - started
            deliveries.stop.set()
            thread.join()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            state.refresh_from_db()

            least = math.ceil((unresolved - resolved) / PAGE) + 1 + max(1, math.ceil(resolved / PAGE))
            floor = least / (share * (limit - 1) / args.window)
            extra_slots = (max(deliveries.waits, default=0) - max(baseline, default=0)) / slot
            rows.append(
                (
                    size,
                    first,
                    state.last_calls,
                    least,
                    wall,
                    floor,
                    peak,
                    baseline,
                    deliveries.waits,
                    extra_slots,
                    state,
                )
            )
    finally:
        server.terminate()
        server.wait(timeout=10)

    print()
    print("| stream | first pass | pass: calls / least | wall / floor | peak memory ", end="")
    print("| delivery wait, no pass / during | changed · seen |")
    print("|---|---|---|---|---|---|---|")
    for size, first, calls, least, wall, floor, peak, baseline, waits, extra, state in rows:
        quiet, busy = max(baseline, default=0) * 1000, max(waits, default=0) * 1000
        print(
            f"| {size:,} cases | {first[0]} calls, {first[1]:.0f} s, {first[2]:,} cases "
            f"| {calls} / {least} = {calls / least:.2f}x "
            f"| {wall:.1f} s / {floor:.1f} s = {wall / floor:.2f}x "
            f"| {peak / 1e6:.1f} MB | max {quiet:.0f} ms / {busy:.0f} ms ({extra:+.2f} slots, "
            f"{len(waits)} deliveries) | {state.last_changed} · {state.last_seen} |"
        )
    if page_before is not None:
        after, count = list_page_ms(client), Case.objects.count()
        print(f"\nlist page 1 ({count:,} cases): {page_before:.1f} ms before, {after:.1f} ms after")
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
