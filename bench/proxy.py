"""What the gateway costs: each of Kore's six case endpoints called straight at the standalone
simulator and through the portal (gunicorn, gthread workers, DEBUG=0, Redis cache, an unpaced
stream), with the same load and concurrency.

    .venv/bin/python bench/proxy.py --requests 1000 --concurrency 1
    .venv/bin/python bench/proxy.py --paths createCase,getCases --concurrency 4

Prints p50/p95 latency and throughput of both and what the portal adds, per path. Everything
runs on loopback in a temporary folder with its own SQLite database (or DATABASE_URL).
"""

from __future__ import annotations

import argparse
import os
import statistics

from portal import BASE, KORE_APP, KORE_SECRET, make_stream, percentile, portal, run_load, token_maker

PATHS = ("getCases", "getTasks", "updateCase", "updateTask", "createTask", "createCase")
STREAM_ID = "st-00000000-0000-4000-8000-0000000proxy"
CASE_BODY = {
    "caseTmp": "ctm-bench",
    "name": "Bench case",
    "desc": "Proxy overhead run",
    "userInfo": {"_id": "u-bench", "name": "Bench"},
    "emailId": "bench@example.com",
    "dueDate": "2099-09-04T14:15:00.000Z",
    "source": "rtm",
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000, help="per path and run")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--paths", default=",".join(PATHS))
    args = parser.parse_args()
    paths = [path for path in args.paths.split(",") if path]

    with portal(workers=args.workers, threads=args.threads) as (sim_url, web_url):
        from cases.api.clients import api_client_create
        from cases.delivery.deliver import case_deliver
        from cases.kore.simulator.catalog import catalog
        from cases.models import Case, CaseTask
        from cases.sync.case_tasks import TaskApplier
        from tests.conftest import learn_catalog

        stream = make_stream(sim_url, stream_id=STREAM_ID, rate_limit=0)
        # The statuses, priorities, agents and queues a sync pass learns: changes name them by id.
        learn_catalog(stream)
        client, secret = api_client_create(name="Bench", streams=[stream])
        tokens = {
            "direct": token_maker(KORE_APP, KORE_SECRET),
            "via proxy": token_maker(client.client_id, secret),
        }
        bases = {
            label: url + BASE.format(stream=STREAM_ID)
            for label, url in (("direct", sim_url), ("via proxy", web_url))
        }

        # One case and one task per worker: changes of one case go in order, so workers never share one.
        cases, tasks = [], []
        for n in range(args.concurrency):
            body = {**CASE_BODY, "name": f"Bench {n}"}
            case = Case.objects.create(
                stream=stream, template=stream.templates.get(), request_body=body, name=body["name"]
            )
            case_deliver(case_id=case.pk)
            case.refresh_from_db()
            cases.append(case)
        for case in cases:
            task = requests_post(bases["direct"] + "createTask", tokens["direct"], task_body(case))
            TaskApplier(stream, seen_at=case.delivered_at).apply([task])
            tasks.append(CaseTask.objects.get(kore_id=task["_id"]))
        kore = catalog(STREAM_ID)
        priority = {"priority": {"_id": kore.priority("High")["_id"], "name": "High"}}
        status = {
            "status": {key: kore.status("In Progress")[key] for key in ("_id", "name", "statusCategory")}
        }
        requests_for = {
            "getCases": lambda n: ("getCases", {"page": 1, "limit": 1}),
            "getTasks": lambda n: ("getTasks", {"skip": 0, "limit": 1}),
            "updateCase": lambda n: (f"updateCase/{cases[n].kore_id}", priority),
            "updateTask": lambda n: (f"updateTask/{tasks[n].kore_id}", status),
            "createTask": lambda n: ("createTask", task_body(cases[n])),
            "createCase": lambda n: ("createCase", CASE_BODY),
        }
        rows = []
        for path in paths:
            figures = {}
            for label in ("direct", "via proxy"):

                def url_body(worker, label=label, path=path):
                    suffix, body = requests_for[path](worker)
                    return bases[label] + suffix, body

                warm = max(20, args.requests // 20)
                run_load(url_body, tokens[label], count=warm, concurrency=args.concurrency)
                figures[label] = run_load(
                    url_body, tokens[label], count=args.requests, concurrency=args.concurrency
                )
            rows.append((path, figures))

    database = "postgresql" if "postgres" in (os.environ.get("DATABASE_URL") or "") else "sqlite"
    print(f"requests:     {args.requests} per path and run, concurrency {args.concurrency}")
    print(f"portal:       gunicorn gthread, {args.workers}x{args.threads} threads, {database}, Redis cache")
    print(f"{'':22}{'p50 ms':>9}{'p95 ms':>9}{'req/s':>9}{'non-200':>9}")
    for path, figures in rows:
        for label, (latencies, rate, failed) in figures.items():
            p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
            print(f"{path + ' ' + label:22}{p50:9.2f}{p95:9.2f}{rate:9.1f}{failed:9}")
        direct, proxied = figures["direct"][0], figures["via proxy"][0]
        added_p50 = statistics.median(proxied) - statistics.median(direct)
        added_p95 = percentile(proxied, 0.95) - percentile(direct, 0.95)
        print(f"{path + ' added':22}{added_p50:9.2f}{added_p95:9.2f}")


def task_body(case) -> dict:
    return {
        "caseId": case.kore_id,
        "caseRefId": case.ref_id,
        "taskTmp": "ttm-bench",
        "name": "Bench task",
        "desc": "Gateway overhead run",
        "userInfo": {"name": "Bench", "emailId": "bench@example.com"},
        "source": "rtm",
    }


def requests_post(url: str, token, body: dict) -> dict:
    import requests

    answer = requests.post(url, json=body, headers={"auth": token(), "accountId": "bench"}, timeout=30)
    answer.raise_for_status()
    return answer.json()


if __name__ == "__main__":
    main()
