"""Browsing at scale: server-side time and SQL queries of the list, search, dashboard and export.

    .venv/bin/python bench/list.py --sizes 10000,1000000 [--runs 7] [--db FOLDER]

Builds its own database in a temporary folder (or uses DATABASE_URL, which must be an empty
database), seeds it with ``seed_cases`` up to each size in turn, and times each page with
Django's test client in-process (median of --runs, after a warm-up). The CSV export of the
whole store runs in a subprocess so its peak memory (max RSS) is its own.

``--db NAME`` keeps one database per size and reuses it on the next run, migrating it first:
seeding a million cases takes minutes, so trying a change against the same data is quick. On
SQLite NAME is a folder (``NAME/cases-<size>.sqlite3``); with a PostgreSQL DATABASE_URL it is a
prefix, and the databases ``NAME_<size>`` are created on that server when missing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_env(folder: Path) -> None:
    os.environ.update(
        {
            "PORTAL_VAR_DIR": str(folder),
            "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{folder / 'bench.sqlite3'}",
            "PORTAL_SECRET_KEYS": os.environ.get("PORTAL_SECRET_KEYS")
            or "q2bXbM0xkP4bF1uY9vZr0d3lq0m6o3r8c1i5m7o9x2c=",
            "LOG_LEVEL": "WARNING",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casesite.settings")
    import django

    django.setup()


def ensure_postgres_database(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url``, created when missing."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    with psycopg.connect(server_url, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


def export_child() -> None:
    """Subprocess: stream the whole CSV export, report rows/s and peak memory."""
    setup_env(Path(os.environ["PORTAL_VAR_DIR"]))
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username="bench"))
    started = time.perf_counter()
    response = client.get("/cases/export.csv")
    rows = sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1
    elapsed = time.perf_counter() - started
    print(json.dumps({"rows": rows, "seconds": elapsed, "peak_mb": own_peak_mb()}))


def own_peak_mb() -> float:
    """This process's peak resident memory in MB.

    Not ``ru_maxrss``: on Linux a process started by fork (or vfork) and exec inherits in it the
    peak of the parent it was forked from, so the child would report the benchmark's own size
    (which grows with the pages it has read) instead of the export's. VmHWM belongs to the
    process's own address space, which exec replaces.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument(
        "--db",
        metavar="NAME",
        help="keep and reuse one database per size (SQLite: a folder; PostgreSQL: a prefix)",
    )
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    server_url = os.environ.get("DATABASE_URL")

    if server_url and args.db:
        folder = Path(tempfile.mkdtemp(prefix="bench-list-"))
        kept = {size: ensure_postgres_database(server_url, f"{args.db}_{size}") for size in sizes}
    elif args.db:
        folder = Path(args.db)
        kept = {size: f"sqlite:///{folder / f'cases-{size}.sqlite3'}" for size in sizes}
    else:
        folder = Path(tempfile.mkdtemp(prefix="bench-list-"))
        kept = {}
    folder.mkdir(parents=True, exist_ok=True)
    if kept:
        os.environ["DATABASE_URL"] = kept[sizes[0]]
    setup_env(folder)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from cases import browse
    from cases.models import Case, CaseTemplate, Stream
    from cases.people import roles

    def prepare_database() -> None:
        call_command("migrate", verbosity=0)
        bench, _ = get_user_model().objects.get_or_create(username="bench")
        roles.set_role(bench, roles.ADMINISTRATOR)
        if not kept:
            Case.objects.all().delete()
        if not CaseTemplate.objects.exists():
            make_templates()
        # An agent who is a member of two of the three streams: the membership filter at work.
        agent, _ = get_user_model().objects.get_or_create(username="bench-agent")
        roles.set_role(agent, roles.AGENT)
        agent.member_streams.set(Stream.objects.order_by("pk")[:2])

    def make_templates() -> None:
        for n in range(3):
            stream = Stream(
                name=f"Bench stream {n}", host="https://platform.kore.ai", client_id=f"cs-bench-{n}"
            )
            stream.stream_id = f"st-00000000-bench-4000-8000-00000000000{n}"
            stream.set_client_secret("not-a-real-secret")
            stream.save()
            for k in range(2):
                CaseTemplate.objects.create(
                    stream=stream, template_id=f"ctm-bench-{n}-{k}", name=f"Bench template {n}.{k}"
                )

    def mark_made_at_kore_and_unassigned() -> None:
        """seed_cases makes every case at the portal and assigns every delivered one: make one
        delivered case in 10 made at Kore (no template, body or submitter) and one in 20
        unassigned, as the sync will find them. Picked by id, so a kept database is marked
        once and cases seeded into it later are marked alike."""
        from django.db.models.functions import Mod

        delivered = Case.objects.filter(state=Case.State.DELIVERED)
        marked = (
            delivered.alias(m=Mod("id", 10))
            .filter(m=3, origin=Case.Origin.PORTAL)
            .update(origin=Case.Origin.KORE, template=None, submitted_by=None, request_body={})
        )
        marked += (
            delivered.alias(m=Mod("id", 20)).exclude(assignee_name="").filter(m=7).update(assignee_name="")
        )
        if marked and connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        elif marked and connection.vendor == "postgresql" and connection.get_autocommit():
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")

    prepare_database()
    client, agent_client = Client(), Client()
    results: dict[str, dict[int, tuple[float, int]]] = {}
    exports: dict[int, dict] = {}
    for size in sizes:
        if kept and kept[size] != os.environ["DATABASE_URL"]:
            import dj_database_url

            connection.close()  # the next query opens this size's own database
            connection.settings_dict["NAME"] = dj_database_url.parse(kept[size])["NAME"]
            os.environ["DATABASE_URL"] = kept[size]  # for the export's subprocess
            prepare_database()
        client.force_login(get_user_model().objects.get(username="bench"))
        agent_client.force_login(get_user_model().objects.get(username="bench-agent"))
        have = Case.objects.count()
        if kept and have > size:
            sys.exit(f"{kept[size]} holds {have:,} cases, more than {size:,}; remove it or pick another --db")
        if size > have:
            print(f"seeding {size - have:,} cases…", flush=True)
            started = time.perf_counter()
            with open(os.devnull, "w") as quiet:
                call_command("seed_cases", count=size - have, batch=5000, seed=size, stdout=quiet)
            print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)
        mark_made_at_kore_and_unassigned()
        sample = Case.objects.filter(state="delivered").order_by("-id").values("ref_id", "stream_id")[100]
        template_id = CaseTemplate.objects.order_by("id").values_list("id", flat=True).first()
        # The cursor of page 1,000 (rows 49,951–50,000 by newest first), or of the last page.
        position = min(50 * 999, max(size - 50, 0))
        row = Case.objects.order_by("-created_at", "-id").values("created_at", "id")[position]
        cursor = browse.Cursor(sort="-created", value=row["created_at"], id=row["id"]).encode()
        pages = {
            "list page 1": "/cases/",
            "list page 1,000 (cursor)": f"/cases/?cursor={cursor}",
            "filter stream": f"/cases/?stream={sample['stream_id']}",
            "filter template": f"/cases/?template={template_id}",
            "filter status": "/cases/?status=Open",
            "filter priority": "/cases/?priority=High",
            "filter state": "/cases/?state=failed",
            "filter source": "/cases/?source=email",
            "filter submitted_by": "/cases/?submitted_by=bench",
            "filter assignee": "/cases/?assignee=Chen+Wei",
            "filter created range": "/cases/?created_after=2026-01-01&created_before=2026-03-31",
            "filter due range": "/cases/?due_after=2026-02-01&due_before=2026-02-28",
            "filter overdue": "/cases/?overdue=1",
            # The one-click views (My cases is "filter submitted_by", Overdue "filter overdue",
            # All "list page 1").
            "view unresolved": "/cases/?unresolved=1",
            "view unassigned": "/cases/?unassigned=1",
            "view closed": "/cases/?closed=1",
            "filter origin kore": "/cases/?origin=kore",
            "filter origin portal": "/cases/?origin=portal",
            "sort due": "/cases/?sort=due",
            "sort priority": "/cases/?sort=-priority",
            "sort status": "/cases/?sort=status",
            "refId search (jump)": f"/cases/?q={sample['ref_id']}",
            "word search": "/cases/?q=printer+jammed",
            "word search (1 word)": "/cases/?q=invoice",
            "email search": "/cases/?q=ada.adams5%40example.com",
            "dashboard (cold)": "/?nocache",
            "dashboard (cached)": "/",
            # The same pages for an agent who sees two of the three streams.
            "agent: list page 1": "/cases/",
            "agent: word search": "/cases/?q=printer+jammed",
            "agent: filter status": "/cases/?status=Open",
            "agent: filter priority": "/cases/?priority=High",
            "agent: filter overdue": "/cases/?overdue=1",
            "agent: view unresolved": "/cases/?unresolved=1",
            "agent: view unassigned": "/cases/?unassigned=1",
            "agent: view closed": "/cases/?closed=1",
            "agent: filter origin kore": "/cases/?origin=kore",
            "agent: dashboard (cold)": "/?nocache",
        }
        for label, url in pages.items():
            browser = agent_client if label.startswith("agent:") else client
            if label.endswith("dashboard (cold)"):
                from django.core.cache import caches

                cache = caches["dashboard"]
                cache.clear()
            browser.get(url)  # warm-up
            times = []
            queries = 0
            for _ in range(args.runs):
                if label.endswith("dashboard (cold)"):
                    cache.clear()
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    response = browser.get(url)
                    times.append(time.perf_counter() - started)
                assert response.status_code in (200, 302), (label, response.status_code)
                queries = len(captured.captured_queries)
            results.setdefault(label, {})[size] = (statistics.median(times) * 1000, queries)
            print(
                f"  {size:>9,}  {label:<28} {results[label][size][0]:8.1f} ms  {queries} queries", flush=True
            )
        if not args.no_export:
            child = subprocess.run(
                [sys.executable, __file__, "--export-child"],
                capture_output=True,
                text=True,
                env=os.environ.copy(),
                check=True,
            )
            exports[size] = json.loads(child.stdout.strip().splitlines()[-1])

    vendor = connection.vendor
    print()
    print(f"Database: {vendor}; median of {args.runs} runs; server-side time in ms (SQL queries)")
    header = f"| {'page':<28} |" + "".join(f" {size:>16,} |" for size in sizes)
    if len(sizes) > 1:
        header += " ratio |"
    print(header)
    print("|" + "-" * 30 + "|" + "------------------:|" * len(sizes) + ("------:|" if len(sizes) > 1 else ""))
    for label, by_size in results.items():
        cells = "".join(f" {by_size[s][0]:9.1f} ms ({by_size[s][1]}) |" for s in sizes)
        ratio = f" {by_size[sizes[-1]][0] / by_size[sizes[0]][0]:5.2f} |" if len(sizes) > 1 else ""
        print(f"| {label:<28} |{cells}{ratio}")
    for export in exports.values():
        print(
            f"CSV export of {export['rows']:,} rows: {export['seconds']:.1f} s, "
            f"{export['rows'] / export['seconds']:,.0f} rows/s, peak memory {export['peak_mb']:.0f} MB"
        )
    print(f"(database in {folder})")


if __name__ == "__main__":
    if "--export-child" in sys.argv:
        export_child()
    else:
        main()
