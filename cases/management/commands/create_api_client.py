"""Create an API client and print its id and secret, once: ``create_api_client NAME --stream st-…``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cases.api.clients import api_client_create
from cases.models import ApiClient, Stream


class Command(BaseCommand):
    help = "Create an API client for the createCase proxy and the read API; prints its secret once."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--stream", action="append", default=[], metavar="STREAM_ID", help="A stream it may use."
        )

    def handle(self, *args, name: str, stream: list[str], **options):
        if ApiClient.objects.filter(name=name).exists():
            raise CommandError(f"An API client named {name!r} exists already.")
        streams = list(Stream.objects.filter(stream_id__in=stream))
        missing = set(stream) - {s.stream_id for s in streams}
        if missing:
            raise CommandError(f"No stream with id {', '.join(sorted(missing))}.")
        client, secret = api_client_create(name=name, streams=streams)
        self.stdout.write(f"client id: {client.client_id}")
        self.stdout.write(f"secret:    {secret}")
        self.stdout.write("Keep the secret now: it is stored encrypted and never shown again.")
