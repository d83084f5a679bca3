"""Prepare the demo: an admin user, an agent and a viewer of the demo stream, a stream on the
built-in simulator and two templates.

Safe to run again: existing data is kept; only the demo stream's host follows the port.
"""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from cases.kore.simulator import register_app_in_file, register_template_in_file
from cases.models import CaseTemplate, Stream
from cases.people import roles

DEMO_STREAM_ID = "st-0d3e8a52-demo-4b1f-9c7e-5a1b2c3d4e5f"
DEMO_PEOPLE = [("agent", roles.AGENT), ("viewer", roles.VIEWER)]
DEMO_TEMPLATES = [
    ("ctm-1a2b3c4d-demo-4e5f-8a9b-it0000support", "IT support request", "rtm", 72),
    ("ctm-5e6f7a8b-demo-4c9d-8e0f-billing00001", "Billing question", "email", 24),
]


class Command(BaseCommand):
    help = "Create the demo users, a stream on the built-in Kore.ai simulator and two templates."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="Port the portal serves on.")
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, **options):
        password, password_note = self._admin_password()
        with transaction.atomic():
            self._admin_user(password)
            stream = self._demo_stream(f"http://{options['host']}:{options['port']}/simulator")
            for template_id, name, source, due_hours in DEMO_TEMPLATES:
                CaseTemplate.objects.get_or_create(
                    stream=stream,
                    template_id=template_id,
                    defaults={"name": name, "default_source": source, "default_due_hours": due_hours},
                )
                # At "Kore" the template has the same name: it answers caseTmp with it.
                register_template_in_file(
                    settings.KORE_SIMULATOR_APPS_FILE,
                    stream_id=DEMO_STREAM_ID,
                    template_id=template_id,
                    name=name,
                )
            for username, role in DEMO_PEOPLE:
                self._member(username, role, stream, password)
        self.stdout.write(self.style.SUCCESS("Demo ready."))
        self.stdout.write(f"  Sign in as:  admin / {password}  ({password_note})")
        self.stdout.write("  or as agent or viewer (same password): they see only the demo stream.")

    def _admin_password(self) -> tuple[str, str]:
        if os.environ.get("DEMO_PASSWORD"):
            return os.environ["DEMO_PASSWORD"], "from DEMO_PASSWORD"
        # Kept beside the demo database (var/, ignored by git) so re-runs print the same one.
        path = settings.VAR_DIR / "demo-password"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(12))
            path.chmod(0o600)
        return path.read_text().strip(), f"generated, kept in {path}"

    def _admin_user(self, password: str) -> None:
        user, created = get_user_model().objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"}
        )
        if created or not user.check_password(password):
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save()

    def _member(self, username: str, role: str, stream: Stream, password: str) -> None:
        user, created = get_user_model().objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        if created or not user.check_password(password):
            user.set_password(password)
            user.save()
        roles.set_role(user, role)
        stream.members.add(user)

    def _demo_stream(self, host: str) -> Stream:
        stream = Stream.objects.filter(stream_id=DEMO_STREAM_ID).first()
        if stream is None:
            client_id = f"cs-{secrets.token_hex(8)}"
            secret = secrets.token_urlsafe(32)
            stream = Stream(
                name="Demo (built-in simulator)",
                host=host,
                stream_id=DEMO_STREAM_ID,
                account_id="6639f7bd58c97ffac03b0001",
                client_id=client_id,
                bot_language="en",
                app_language="en",
            )
            stream.set_client_secret(secret)
            stream.save()
        elif stream.host != host:
            stream.host = host
            stream.save(update_fields=["host", "updated_at"])
        # The simulator learns the app the way Kore would: as a JWT app on this stream.
        register_app_in_file(
            settings.KORE_SIMULATOR_APPS_FILE,
            client_id=stream.client_id,
            secret=stream.client_secret,
            stream_ids=[DEMO_STREAM_ID],
        )
        return stream
