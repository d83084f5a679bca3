"""Delivery throughput: a backlog of cases drained by real Celery workers through Redis into the
standalone simulator answering with a fixed latency, rate limit off.

    .venv/bin/python bench/delivery.py --cases 1000 --workers 2 --concurrency 8 --latency 0.1

Prints cases/second and the ratio to the ideal (workers × concurrency / latency). Everything runs
on loopback in a temporary folder: its own SQLite database (or DATABASE_URL), its own Redis.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--pool", default="threads", choices=["threads", "prefork", "gevent"])
    args = parser.parse_args()

    from tests.servers import CeleryWorker, RedisServer, free_port, wait_for_port

    folder = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    redis = RedisServer()
    env = {
        "PORTAL_VAR_DIR": str(folder),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{folder / 'bench.sqlite3'}",
        "CELERY_BROKER_URL": redis.url,
        "CACHE_URL": redis.url.replace("/0", "/1"),
        "PORTAL_SECRET_KEYS": os.environ.get("PORTAL_SECRET_KEYS")
        or "q2bXbM0xkP4bF1uY9vZr0d3lq0m6o3r8c1i5m7o9x2c=",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casesite.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=os.environ)

    client_id, secret = "cs-bench", secrets.token_urlsafe(24)
    stream_id = "st-00000000-0000-4000-8000-0000000bench"
    sim_port = free_port()
    simulator = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "kore_simulator",
            "--port",
            str(sim_port),
            "--latency",
            str(args.latency),
            "--app",
            f"{client_id}:{secret}:{stream_id}",
        ],
        cwd=ROOT,
        env=os.environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(sim_port)

    import django

    django.setup()
    from cases.delivery.submit import build_case_body, case_fields_from_body
    from cases.models import Case, CaseTemplate, Stream
    from casesite.celery import app as celery_app

    stream = Stream(
        name="Bench",
        host=f"http://127.0.0.1:{sim_port}",
        stream_id=stream_id,
        account_id="bench-account",
        client_id=client_id,
        rate_limit=0,
    )
    stream.set_client_secret(secret)
    stream.save()
    template = CaseTemplate.objects.create(stream=stream, template_id="ctm-bench", name="Bench")
    rows = []
    for number in range(args.cases):
        data = {"name": f"Bench case {number}", "desc": "Throughput run", "emailId": f"b{number}@example.com"}
        body = build_case_body(template=template, data=data)
        rows.append(Case(stream=stream, template=template, request_body=body, **case_fields_from_body(body)))
    ids = [case.pk for case in Case.objects.bulk_create(rows, batch_size=500)]

    workers = [
        CeleryWorker({**env, "CELERY_WORKER_POOL": args.pool}, name=f"bench{n}", concurrency=args.concurrency)
        for n in range(args.workers)
    ]
    try:
        for worker in workers:
            worker.wait_ready(60)
        from cases.tasks import deliver_case

        started = time.monotonic()
        with celery_app.connection_for_write() as conn:
            for case_id in ids:
                deliver_case.apply_async(args=[case_id], connection=conn)
        while Case.objects.filter(state=Case.State.DELIVERED).count() < args.cases:
            if time.monotonic() - started > 600:
                raise SystemExit(f"gave up: {Case.objects.count_by_state()}")
            time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        for worker in workers:
            worker.stop()
        simulator.terminate()
        redis.stop()

    rate = args.cases / elapsed
    ideal = args.workers * args.concurrency / args.latency
    print(f"cases:        {args.cases}")
    print(f"workers:      {args.workers} × concurrency {args.concurrency} ({args.pool} pool)")
    print(f"latency:      {args.latency * 1000:.0f} ms at the simulator")
    print(f"elapsed:      {elapsed:.2f} s")
    print(f"throughput:   {rate:.1f} cases/s")
    print(f"ideal:        {ideal:.1f} cases/s")
    print(f"ratio:        {rate / ideal:.2f} of ideal")
    print(f"states:       {Case.objects.count_by_state()}")


if __name__ == "__main__":
    main()
