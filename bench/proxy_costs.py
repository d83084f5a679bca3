"""Where a gateway call's time goes: each path called in this process through Django's test
client (no HTTP server in between) against the standalone simulator, timing the work before the
call to Kore, the call itself, the answer, and the work after the answer (a write's record, a
read's update of the local record), with the SQL statements of each part.

    .venv/bin/python bench/proxy_costs.py                   # 500 calls a path
    .venv/bin/python bench/proxy_costs.py --paths updateCase,createCase

bench/proxy.py measures what the portal adds through gunicorn; this says which part of it is
which. Each column is the median over the calls, in ms:

- "Kore": the portal's own call to the simulator (its client and the simulator's work), about
  what a direct call costs too;
- "answer": from Kore's answer to the response handed back (the way out through the middleware);
- "SQL": the statements of the part before Kore and of the part after (a transaction's BEGIN
  is one, its COMMIT is not) and their time in the database itself. The rest of a part is
  Python: the ORM building and reading its queries, the framework, the portal's own code;
- "refused": the floor every path pays, an authenticated call refused at its body (not a JSON
  object) after the token, the shared-cache checks and the stream.

The same data as bench/proxy.py: an unpaced stream, one case (task) changed at each write; a
page of 50 on the reads, one of its cases (the task) changed at Kore before each read, so that
each read brings a change.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager

from portal import BASE, KORE_APP, KORE_SECRET, make_stream, portal, token_maker
from proxy import CASE_BODY, PATHS, STREAM_ID, Changes, requests_post, task_body

PARTS = ("before Kore", "Kore", "answer", "after")


class Timeline:
    """Marks of one call: each SQL statement (start, end), the call to Kore, the answer handed
    to the server and the work after it; then its parts, each with its statements."""

    def __init__(self):
        self.marks: list[tuple[float, str]] = []

    def mark(self, what: str) -> None:
        self.marks.append((time.perf_counter(), what))

    def execute(self, execute, sql, params, many, context):
        self.mark("sql")
        try:
            return execute(sql, params, many, context)
        finally:
            self.mark("sql-end")

    def parts(self, started: float, ended: float) -> dict[str, tuple[float, int, float]]:
        """{part: (ms, statements, ms in the database)}."""
        bounds = {"kore": None, "kore-end": None, "after": None, "after-end": None}
        for at, what in self.marks:
            if what in bounds and bounds[what] is None:
                bounds[what] = at
        kore, kore_end = bounds["kore"] or ended, bounds["kore-end"] or ended
        after, after_end = bounds["after"] or ended, bounds["after-end"] or ended
        spans = {
            "before Kore": (started, kore),
            "Kore": (kore, kore_end),
            "answer": (kore_end, after),
            "after": (after, after_end),
        }
        result = {}
        for part, (start, end) in spans.items():
            statements, in_db, opened = 0, 0.0, None
            for at, what in self.marks:
                if what == "sql" and start <= at < end:
                    statements, opened = statements + 1, at
                elif what == "sql-end" and opened is not None:
                    in_db, opened = in_db + (at - opened), None
            result[part] = ((end - start) * 1000, statements, in_db * 1000)
        return result


@contextmanager
def watched(timeline: Timeline):
    """The timeline's marks from the database, the Kore client and the answer's after-work."""
    from django.db import connection

    from cases.api import kore_paths
    from cases.kore.client import KoreClient

    def around(owner, name: str, start: str, end: str):
        original = getattr(owner, name)

        def marked(*args, **kwargs):
            timeline.mark(start)
            try:
                return original(*args, **kwargs)
            finally:
                timeline.mark(end)

        setattr(owner, name, marked)
        return original

    posts = around(KoreClient, "_post_raw", "kore", "kore-end")
    close = around(kore_paths.AnswerFirst, "close", "after", "after-end")
    connection.execute_wrappers.append(timeline.execute)
    try:
        yield
    finally:
        connection.execute_wrappers.remove(timeline.execute)
        KoreClient._post_raw, kore_paths.AnswerFirst.close = posts, close


class Scene:
    """One delivered case with 50 tasks and 49 more cases made at Kore, an API client of the
    stream, and each path's next call (before a read, a change at Kore for it to bring)."""

    def __init__(self, sim_url: str):
        from cases.api.clients import api_client_create
        from cases.delivery.deliver import case_deliver
        from cases.models import Case
        from cases.sync.case_tasks import TaskApplier
        from tests.conftest import learn_catalog

        stream = make_stream(sim_url, stream_id=STREAM_ID, rate_limit=0)
        learn_catalog(stream)
        client, secret = api_client_create(name="Bench", streams=[stream])
        self.token = token_maker(client.client_id, secret)
        body = {**CASE_BODY, "name": "Bench 0"}
        case = Case.objects.create(
            stream=stream, template=stream.templates.get(), request_body=body, name=body["name"]
        )
        case_deliver(case_id=case.pk)
        case.refresh_from_db()
        self.case = case
        self.direct = sim_url + BASE.format(stream=STREAM_ID)
        self.kore_token = token_maker(KORE_APP, KORE_SECRET)
        self.others = [self._at_kore("createCase", CASE_BODY)["_id"] for _ in range(49)]
        tasks = [self._at_kore("createTask", task_body(case)) for _ in range(50)]
        TaskApplier(stream, seen_at=case.delivered_at).apply(tasks)
        self.task_id, self.other_task_ids = tasks[0]["_id"], [task["_id"] for task in tasks[1:]]
        self.changes = Changes(STREAM_ID)
        self.step = 0

    def _at_kore(self, suffix: str, body: dict) -> dict:
        return requests_post(self.direct + suffix, self.kore_token, body)

    def call(self, path: str) -> tuple[str, dict]:
        self.step += 1
        step, changes, case = self.step, self.changes, self.case
        if path == "getCases":
            changed = self.others[step % len(self.others)]
            self._at_kore(f"updateCase/{changed}", changes.body(step, "Made at Kore"))
        elif path == "getTasks":
            changed = self.other_task_ids[step % len(self.other_task_ids)]
            self._at_kore(f"updateTask/{changed}", changes.body(step, "Kore task"))
        return {
            "refused": (f"updateCase/{case.kore_id}", []),
            "getCases": ("getCases", {"page": 1, "limit": 50}),
            "getTasks": ("getTasks", {"skip": 0, "limit": 50}),
            "updateCase": (f"updateCase/{case.kore_id}", changes.body(step, "Bench 0")),
            "updateTask": (f"updateTask/{self.task_id}", changes.body(step, "Bench task")),
            "createTask": ("createTask", task_body(case)),
            "createCase": ("createCase", CASE_BODY),
        }[path]


def measured(scene: Scene, path: str, count: int, timeline: Timeline) -> list:
    """``count`` calls of the path after 50 to warm up: [(total ms, parts)]."""
    from django.test import Client

    web, base, rows = Client(), BASE.format(stream=STREAM_ID), []
    for n in range(count + 50):
        suffix, payload = scene.call(path)
        body, token = json.dumps(payload), scene.token()
        timeline.marks.clear()
        started = time.perf_counter()
        answer = web.post(
            base + suffix, data=body, content_type="application/json", HTTP_AUTH=token,
            HTTP_ACCOUNTID="bench", HTTP_HOST="127.0.0.1",
        )  # fmt: skip
        answer.close()  # the after-work runs here, as the server runs it once the answer is sent
        ended = time.perf_counter()
        if answer.status_code != (400 if path == "refused" else 200):
            raise SystemExit(f"{path}: {answer.status_code} {answer.content[:300]!r}")
        if n >= 50:
            rows.append(((ended - started) * 1000, timeline.parts(started, ended)))
    return rows


def row(path: str, rows: list) -> str:
    median = statistics.median
    parts = defaultdict(list)
    for _, split in rows:
        for part, value in split.items():
            parts[part].append(value)
    cells = "".join(f"{median(v[0] for v in parts[part]):>14.2f}" for part in PARTS)
    sql = ", ".join(
        f"{median(v[1] for v in parts[part]):.0f} {median(v[2] for v in parts[part]):.2f}"
        for part in ("before Kore", "after")
    )
    return f"{path:12}{median(total for total, _ in rows):>8.2f}{cells}   {sql}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500, help="measured calls per path")
    parser.add_argument("--paths", default=",".join(("refused", *PATHS)))
    args = parser.parse_args()

    # gunicorn is started with the rest but not called: the calls go through Django in here.
    with portal(workers=1, threads=1) as (sim_url, _web_url):
        logging.getLogger("django.request").setLevel(logging.ERROR)  # each "refused" call's 400
        scene, timeline = Scene(sim_url), Timeline()
        print(f"calls:        {args.requests} per path, in this process, SQLite, Redis cache")
        heading = "".join(f"{part:>14}" for part in PARTS)
        print(f"{'':12}{'total':>8}{heading}   SQL before, after: n ms")
        with watched(timeline):
            for path in args.paths.split(","):
                print(row(path, measured(scene, path, args.requests, timeline)))


if __name__ == "__main__":
    main()
