"""What the gateway benchmarks share: the standalone simulator, the portal under gunicorn and a
Celery worker (the production layout: gthread workers, DEBUG=0, Redis for the cache and the
broker), a stream pointed at the simulator, and keep-alive load with latencies measured per
request."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
KORE_APP, KORE_SECRET = "cs-kore", "kore-secret-" + "x" * 24
BASE = "/caseManagement/api/public/analytics/{stream}/"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@contextmanager
def portal(*, workers: int, threads: int, sim_args: tuple[str, ...] = (), env: dict | None = None):
    """Redis, the simulator and gunicorn on loopback, in a temporary folder with its own SQLite
    database (or DATABASE_URL's PostgreSQL). Yields (simulator URL, portal URL)."""
    from tests.servers import RedisServer, free_port, wait_for_port

    folder = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    redis = RedisServer()
    settings_env = {
        **os.environ,
        "PORTAL_VAR_DIR": str(folder),
        "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{folder / 'bench.sqlite3'}",
        "PORTAL_SECRET_KEYS": os.environ.get("PORTAL_SECRET_KEYS")
        or "q2bXbM0xkP4bF1uY9vZr0d3lq0m6o3r8c1i5m7o9x2c=",
        "API_THROTTLE_RATE": "1000000/min",
        "CACHE_URL": redis.url,
        "CELERY_BROKER_URL": redis.url.replace("/0", "/1"),
        "LOG_LEVEL": "WARNING",
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "casesite.settings",
        **(env or {}),
    }
    os.environ.update(settings_env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True, env=settings_env)
    sim_port, web_port = free_port(), free_port()
    simulator = [sys.executable, "manage.py", "kore_simulator", "--port", str(sim_port)]
    simulator += ["--app", f"{KORE_APP}:{KORE_SECRET}", *sim_args]
    web = [sys.executable, "-m", "gunicorn", "casesite.wsgi", "-k", "gthread", "--workers", str(workers)]
    web += ["--threads", str(threads), "--bind", f"127.0.0.1:{web_port}", "--log-level", "warning"]
    # The worker, as in production: it retries what a call left pending.
    worker = [sys.executable, "-m", "celery", "-A", "casesite", "worker", "--concurrency", "1"]
    worker += ["--without-mingle", "--without-gossip", "--loglevel", "WARNING"]
    processes = [
        subprocess.Popen(
            command, cwd=ROOT, env=settings_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for command in (simulator, web, worker)
    ]
    try:
        wait_for_port(sim_port, 30)
        wait_for_port(web_port, 30)
        import django

        django.setup()
        yield f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{web_port}"
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)
        redis.stop()
        shutil.rmtree(folder, ignore_errors=True)


def control(sim_url: str, action: str, **data) -> dict:
    answer = requests.post(f"{sim_url}/_simulator/{action}", json=data, timeout=30)
    answer.raise_for_status()
    return answer.json()


def make_stream(sim_url: str, *, stream_id: str, rate_limit: int, account_id: str = "bench"):
    from cases.models import CaseTemplate, Stream, TaskTemplate

    stream = Stream(
        name=f"Bench {stream_id}",
        host=sim_url,
        stream_id=stream_id,
        account_id=account_id,
        client_id=KORE_APP,
        rate_limit=rate_limit,
    )
    stream.set_client_secret(KORE_SECRET)
    stream.save()
    CaseTemplate.objects.create(stream=stream, template_id="ctm-bench", name="Bench")
    TaskTemplate.objects.create(stream=stream, template_id="ttm-bench", name="Bench task")
    control(sim_url, "templates", stream_id=stream_id, template_id="ctm-bench", name="Bench")
    control(sim_url, "templates", stream_id=stream_id, template_id="ttm-bench", name="Bench task")
    return stream


def token_maker(client_id: str, secret: str) -> Callable[[], str]:
    from cases.kore.client import mint_token

    return lambda: mint_token(client_id=client_id, client_secret=secret)


def run_load(
    url_body: Callable[[int], tuple[str, dict]],
    token: Callable[[], str],
    *,
    count: int,
    concurrency: int,
    ok: Callable[[requests.Response], bool] = lambda response: response.status_code == 200,
) -> tuple[list[float], float, int]:
    """``count`` POSTs over ``concurrency`` keep-alive sessions; ``url_body(worker)`` says where
    and what each worker sends. Returns latencies (ms), requests a second, and failures."""
    local = threading.local()
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    workers = iter(range(concurrency))
    first_failure: list[str] = []

    def one(_):
        nonlocal failures
        if not hasattr(local, "session"):
            local.session, local.worker = requests.Session(), next(workers)
        url, body = url_body(local.worker)
        started = time.perf_counter()
        # accountId: Kore requires it on reads and updates; the portal sends the stream's own.
        headers = {"auth": token(), "Content-Type": "application/json", "accountId": "bench"}
        response = local.session.post(url, data=json.dumps(body), headers=headers, timeout=60)
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            latencies.append(elapsed)
            if not ok(response):
                failures += 1
                if not first_failure:
                    first_failure.append(f"{url}: {response.status_code} {response.text[:300]}")

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(count)))
    if first_failure:
        print(f"first failed answer, from {first_failure[0]}")
    return latencies, count / (time.perf_counter() - started), failures
