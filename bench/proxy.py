"""What the createCase proxy costs: the same load sent straight to the standalone simulator and
through the portal (gunicorn, gthread workers), with the same concurrency.

    .venv/bin/python bench/proxy.py --requests 1000 --concurrency 4

Prints p50/p95 latency and throughput of both and the difference. Everything runs on loopback
in a temporary folder with its own SQLite database (or DATABASE_URL).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_load(url: str, body: dict, token, *, count: int, concurrency: int) -> tuple[list[float], float, int]:
    """Send ``count`` POSTs with ``concurrency`` keep-alive sessions; latencies in ms."""
    local = threading.local()
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    first_failure: list[str] = []

    def one(_):
        nonlocal failures
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        started = time.perf_counter()
        response = session.post(
            url,
            data=json.dumps(body),
            headers={"auth": token(), "Content-Type": "application/json"},
            timeout=30,
        )
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)
            if response.status_code != 200:
                failures += 1
                if not first_failure:
                    first_failure.append(f"{response.status_code} {response.text[:300]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))
    if first_failure:
        print(f"first failure from {url}: {first_failure[0]}")
    return latencies, count / (time.perf_counter() - started), failures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    args = parser.parse_args()

    from tests.servers import RedisServer, free_port, wait_for_port

    folder = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    # The production layout: Redis holds the shared cache (token replay memory, throttling, pacing).
    redis = RedisServer()
    env = {
        **os.environ,
        "PORTAL_VAR_DIR": str(folder),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{folder / 'bench.sqlite3'}",
        "PORTAL_SECRET_KEYS": os.environ.get("PORTAL_SECRET_KEYS")
        or "q2bXbM0xkP4bF1uY9vZr0d3lq0m6o3r8c1i5m7o9x2c=",
        "API_THROTTLE_RATE": "1000000/min",
        "CACHE_URL": redis.url,
        "CELERY_BROKER_URL": redis.url.replace("/0", "/1"),
        "LOG_LEVEL": "WARNING",
        # As in production: no debug cursor recording every query, no debug pages.
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "casesite.settings",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=env)

    stream_id, kore_app, kore_secret = (
        "st-00000000-0000-4000-8000-0000000proxy",
        "cs-kore",
        "kore-secret-" + "x" * 24,
    )
    sim_port, web_port = free_port(), free_port()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "kore_simulator",
                "--port",
                str(sim_port),
                "--app",
                f"{kore_app}:{kore_secret}",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "casesite.wsgi",
                "-k",
                "gthread",
                "--workers",
                str(args.workers),
                "--threads",
                str(args.threads),
                "--bind",
                f"127.0.0.1:{web_port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        wait_for_port(sim_port, 30)
        wait_for_port(web_port, 30)
        import django

        django.setup()
        from cases.api.clients import api_client_create
        from cases.kore.client import mint_token
        from cases.models import Case, CaseTemplate, Stream

        stream = Stream(
            name="Bench",
            host=f"http://127.0.0.1:{sim_port}",
            stream_id=stream_id,
            account_id="bench",
            client_id=kore_app,
            rate_limit=0,
        )
        stream.set_client_secret(kore_secret)
        stream.save()
        CaseTemplate.objects.create(stream=stream, template_id="ctm-bench", name="Bench")
        client, client_secret = api_client_create(name="Bench", streams=[stream])
        body = {
            "caseTmp": "ctm-bench",
            "name": "Bench case",
            "desc": "Proxy overhead run",
            "userInfo": {"_id": "u-bench", "name": "Bench"},
            "emailId": "bench@example.com",
            "dueDate": "2099-09-04T14:15:00.000Z",
            "source": "rtm",
        }
        path = f"/caseManagement/api/public/analytics/{stream_id}/createCase"
        direct_url, proxy_url = f"http://127.0.0.1:{sim_port}{path}", f"http://127.0.0.1:{web_port}{path}"

        def kore_token():
            return mint_token(client_id=kore_app, client_secret=kore_secret)

        def portal_token():
            return mint_token(client_id=client.client_id, client_secret=client_secret)

        warm = max(20, args.requests // 20)
        run_load(direct_url, body, kore_token, count=warm, concurrency=args.concurrency)
        run_load(proxy_url, body, portal_token, count=warm, concurrency=args.concurrency)
        direct, direct_rate, direct_failed = run_load(
            direct_url, body, kore_token, count=args.requests, concurrency=args.concurrency
        )
        proxied, proxy_rate, proxy_failed = run_load(
            proxy_url, body, portal_token, count=args.requests, concurrency=args.concurrency
        )
        stored = Case.objects.filter(state="delivered").count()
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)
        redis.stop()

    print(f"requests:     {args.requests} per run, concurrency {args.concurrency}")
    database = env["DATABASE_URL"].split(":")[0]
    print(f"portal:       gunicorn gthread, {args.workers}x{args.threads} threads, {database}, Redis cache")
    print(f"{'':14}{'p50 ms':>9}{'p95 ms':>9}{'req/s':>9}{'non-200':>9}")
    for label, latencies, rate, failed in (
        ("direct", direct, direct_rate, direct_failed),
        ("via proxy", proxied, proxy_rate, proxy_failed),
    ):
        p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
        print(f"{label:14}{p50:9.2f}{p95:9.2f}{rate:9.1f}{failed:9}")
    print(
        f"{'added':14}{statistics.median(proxied) - statistics.median(direct):9.2f}"
        f"{percentile(proxied, 0.95) - percentile(direct, 0.95):9.2f}"
    )
    print(f"cases stored and delivered by the portal: {stored}")


if __name__ == "__main__":
    main()
