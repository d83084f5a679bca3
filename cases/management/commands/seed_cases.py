"""Fill the local store with realistic synthetic cases, for demos and benchmarks. No call to Kore.

    python manage.py seed_cases --count 1000000 [--stream "IT"] [--days 365] [--batch 5000]

Seeded cases look delivered (mostly) with refIds ``CS9`` + 9 digits and Kore ids ``ci-seed-…``,
a range Kore's own ``CS`` + 8 digits never reaches, so they never collide with real cases.
"""

from __future__ import annotations

import random
import re
import time
from datetime import UTC, timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from cases.models import Case, CaseTemplate, Stream

SEED_REF_PREFIX = "CS9"
SEED_REF_DIGITS = 9
SEEDED_REF_RE = re.compile(r"CS9\d{9}")

STATUSES = [  # (name, category), weights by age below
    ("Open", "open"),
    ("In Progress", "in_progress"),
    ("Waiting on Customer", "in_progress"),
    ("Resolved", "resolved"),
    ("Closed", "closed"),
]
PRIORITIES = [
    ("Low", "#2563EB", 5),
    ("Medium", "#16A34A", 10),
    ("High", "#DC2626", 20),
    ("Urgent", "#7C3AED", 30),
]
PRIORITY_WEIGHTS = [30, 45, 20, 5]
AGENTS = [
    "Asha Rao",
    "Ben Okafor",
    "Chen Wei",
    "Dana Smith",
    "Elif Kaya",
    "Felipe Souza",
    "Grace Mensah",
    "Hiro Tanaka",
    "Ines Garcia",
    "Jonas Berg",
]
FIRST = [
    "Ada",
    "Ali",
    "Amara",
    "Ben",
    "Carla",
    "Dev",
    "Emma",
    "Farah",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Yusuf",
    "Zoe",
]
LAST = [
    "Adams",
    "Bianchi",
    "Costa",
    "Diallo",
    "Evans",
    "Fischer",
    "Gomez",
    "Hughes",
    "Ito",
    "Jensen",
    "Khan",
    "Lopez",
    "Martin",
    "Novak",
    "Osei",
    "Patel",
    "Quispe",
    "Rossi",
    "Silva",
    "Tran",
    "Ueda",
    "Vargas",
    "Weber",
    "Yilmaz",
    "Zhou",
]
SUBJECTS = [
    "Printer on floor {n} is jammed",
    "Cannot log in to the VPN",
    "Laptop battery drains overnight",
    "Invoice {n} shows the wrong amount",
    "Refund for order {n} not received",
    "Password reset email never arrives",
    "Monitor flickers after docking",
    "Access request for the finance share",
    "Outlook keeps asking for credentials",
    "Wi-Fi drops in meeting room {n}",
    "Duplicate charge on card ending {n}",
    "Shipping address change for order {n}",
    "New starter needs a laptop and badge",
    "Software licence renewal for design team",
    "Phone line crackles on extension {n}",
    "Expense report rejected without reason",
    "Broken chair in office {n}",
    "Delivery arrived damaged",
    "Subscription cancelled by mistake",
    "Cannot upload files larger than {n} MB",
]
DETAILS = [
    "It started this morning and affects the whole team.",
    "Restarting did not help.",
    "The customer called twice already and is waiting for an answer.",
    "Screenshot attached in the original email.",
    "Happens only on the second floor.",
    "Urgent: the quarter closes on Friday.",
    "The error message says access denied.",
    "Worked fine until the last update.",
    "Please call back before noon.",
    "A colleague reported the same problem last week.",
]
SOURCES = ["rtm", "email", "web", "phone", "chat"]
SOURCE_WEIGHTS = [40, 30, 15, 10, 5]


def status_for(age_days: float, rng: random.Random) -> tuple[str, str]:
    """Recent cases are mostly open, older ones mostly resolved or closed."""
    if age_days < 3:
        weights = [60, 25, 10, 4, 1]
    elif age_days < 14:
        weights = [25, 25, 15, 25, 10]
    elif age_days < 60:
        weights = [4, 4, 2, 40, 50]
    else:
        weights = [1, 1, 0.5, 27.5, 70]
    return rng.choices(STATUSES, weights)[0]


class Command(BaseCommand):
    help = "Create N realistic synthetic cases in the local store (no calls to Kore), in batches."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, required=True, help="How many cases to create.")
        parser.add_argument(
            "--stream",
            action="append",
            default=[],
            help="Name of a stream to seed (repeatable). Default: every stream; one is created if none.",
        )
        parser.add_argument(
            "--days", type=int, default=365, help="Spread creation dates over this many days."
        )
        parser.add_argument("--batch", type=int, default=5000, help="Rows per insert batch.")
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for repeatable data.")

    def handle(self, *args, count: int, stream: list[str], days: int, batch: int, seed, **options):
        if count < 1 or batch < 1 or days < 1:
            raise CommandError("--count, --batch and --days must be positive.")
        rng = random.Random(seed)
        templates = self._templates(stream)
        users = list(get_user_model().objects.order_by("id").values_list("id", flat=True)[:50]) or [None]
        next_number = self._next_number()
        if next_number + count > 10**SEED_REF_DIGITS:
            raise CommandError("The seeded refId range is exhausted.")

        now = timezone.now()
        # Creation times spread over the period, oldest first, so ids grow with time as in real use.
        span = days * 86400
        offsets = sorted((rng.random() * span for _ in range(count)), reverse=True)
        started, done = time.monotonic(), 0
        self.stdout.write(f"Seeding {count:,} cases over {len(templates)} template(s)…")
        while done < count:
            size = min(batch, count - done)
            cases = [
                self._case(rng, now, offsets[done + i], next_number + done + i, templates, users)
                for i in range(size)
            ]
            with transaction.atomic():
                Case.objects.bulk_create(cases, batch_size=size)
            done += size
            elapsed = time.monotonic() - started
            self.stdout.write(f"  {done:,} / {count:,}  ({done / elapsed:,.0f} cases/s)")
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # fresh planner statistics for the new volume
        elif connection.vendor == "postgresql" and connection.get_autocommit():
            with connection.cursor() as cursor:
                # Statistics, and the visibility map PostgreSQL's index-only scans need (what
                # autovacuum does to a live table in time; a bulk load has not had it yet).
                cursor.execute("VACUUM ANALYZE")
        self.stdout.write(
            self.style.SUCCESS(f"Seeded {count:,} cases in {time.monotonic() - started:.1f} s.")
        )

    def _templates(self, names: list[str]) -> list[CaseTemplate]:
        streams = Stream.objects.all()
        if names:
            streams = streams.filter(name__in=names)
            missing = set(names) - set(streams.values_list("name", flat=True))
            if missing:
                raise CommandError(f"Unknown stream(s): {', '.join(sorted(missing))}.")
        templates = list(CaseTemplate.objects.filter(stream__in=streams).select_related("stream"))
        if templates:
            return templates
        if names:
            raise CommandError("These streams have no case template; add one first.")
        seeded = Stream(
            name="Seeded demo stream",
            host="https://platform.kore.ai",
            stream_id="st-00000000-seed-4000-8000-000000000000",
            client_id="cs-seeded-demo",
            is_active=False,  # never sends anything: its credentials are not real
        )
        seeded.set_client_secret("not-a-real-secret")
        seeded.save()
        return [
            CaseTemplate.objects.create(
                stream=seeded, template_id=f"ctm-00000000-seed-4000-8000-00000000000{n}", name=name
            )
            for n, name in enumerate(["IT support request", "Billing question", "Facilities"], start=1)
        ]

    def _next_number(self) -> int:
        # An index range on ref_id, newest first; the first one of the seeded shape wins.
        recent = (
            Case.objects.filter(ref_id__gte="CS9000000000", ref_id__lte="CS9999999999")
            .order_by("-ref_id")
            .values_list("ref_id", flat=True)[:1000]
        )
        last = next((ref for ref in recent if SEEDED_REF_RE.fullmatch(ref)), None)
        return int(last[3:]) + 1 if last else 1

    def _case(self, rng, now, offset, number, templates, users) -> Case:
        template = rng.choice(templates)
        created = now - timedelta(seconds=offset)
        due = created + timedelta(hours=rng.choice([4, 8, 24, 48, 72, 120, 168]))
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}{number % 997}@example.com".lower()
        phone = f"+44 20 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}" if rng.random() < 0.3 else ""
        name = rng.choice(SUBJECTS).format(n=rng.randint(2, 999))
        desc = " ".join(rng.sample(DETAILS, 2))
        source = rng.choices(SOURCES, SOURCE_WEIGHTS)[0]
        roll = rng.random()
        state = (
            Case.State.DELIVERED
            if roll < 0.97
            else Case.State.FAILED
            if roll < 0.985
            else Case.State.QUEUED
            if roll < 0.995
            else Case.State.RETRYING
        )
        body = {
            "caseTmp": template.template_id,
            "name": name,
            "desc": desc,
            "userInfo": {"name": f"{first} {last}"},
            "emailId": email,
            "dueDate": due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "source": source,
        }
        case = Case(
            stream_id=template.stream_id,
            template_id=template.pk,
            submitted_by_id=rng.choice(users),
            created_at=created,
            updated_at=created,
            request_body=body,
            state=state,
            name=name,
            desc=desc,
            source=source,
            due_date=due,
            requester_name=f"{first} {last}",
            requester_email=email,
            requester_phone=phone,
        )
        if state == Case.State.DELIVERED:
            status_name, category = status_for(offset / 86400, rng)
            priority_name, color, score = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
            ref_id = f"{SEED_REF_PREFIX}{number:0{SEED_REF_DIGITS}d}"
            kore_id = f"ci-seed-{number:012d}"
            assignee = rng.choice(AGENTS)
            case.attempt_count = 1
            case.delivered_at = created + timedelta(seconds=1)
            case.kore_id, case.ref_id = kore_id, ref_id
            case.status_name, case.status_category = status_name, category
            case.priority_name, case.priority_color, case.priority_score = priority_name, color, score
            case.assignee_name = assignee
            case.kore_created_at = case.kore_updated_at = case.delivered_at
            case.kore_case = {
                "_id": kore_id,
                "refId": ref_id,
                "name": name,
                "status": {"name": status_name, "statusCategory": category},
                "priority": {"name": priority_name, "color": color, "score": score},
                "currAssignee": {"name": assignee},
                "source": source,
                "seeded": True,
            }
        elif state == Case.State.FAILED:
            case.attempt_count = rng.randint(1, 3)
            case.last_error = "Kore refused the case: dueDate must be in the future (seeded)."
        elif state == Case.State.RETRYING:
            case.attempt_count = rng.randint(1, 5)
            case.next_attempt_at = now + timedelta(minutes=rng.randint(1, 30))
            case.last_error = "Kore.ai unavailable (HTTP 503) (seeded)."
        return case
