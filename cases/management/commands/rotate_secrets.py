"""Re-encrypt every stored secret with the newest key in PORTAL_SECRET_KEYS (docs/deploy.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from cases import crypto
from cases.models import ApiClient, Stream, WebhookEndpoint


class Command(BaseCommand):
    help = "Re-encrypt the stream, API client and webhook secrets sealed with an older key, with the newest."

    def handle(self, *args, **options):
        rotated = 0
        with transaction.atomic():
            for stream in Stream.objects.select_for_update().order_by("pk"):
                if stream.has_client_secret and crypto.needs_rotation(stream.client_secret_encrypted):
                    stream.set_client_secret(stream.client_secret)
                    stream.save(update_fields=["client_secret_encrypted", "updated_at"])
                    rotated += 1
            for client in ApiClient.objects.select_for_update().order_by("pk"):
                if crypto.needs_rotation(client.secret_encrypted):
                    client.set_secret(client.secret)
                    client.save(update_fields=["secret_encrypted"])
                    rotated += 1
            for endpoint in WebhookEndpoint.objects.select_for_update().order_by("pk"):
                if crypto.needs_rotation(endpoint.secret_encrypted):
                    endpoint.set_secret(endpoint.secret)
                    endpoint.save(update_fields=["secret_encrypted"])
                    rotated += 1
        self.stdout.write(f"{rotated} secret(s) re-encrypted with the newest key.")
