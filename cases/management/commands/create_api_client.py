"""Create an API client and print its id and secret, once: ``create_api_client NAME --stream st-…``.
It may call all six Kore endpoints through the gateway, or only getCases and getTasks (and the
read API) with ``--read-only``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cases.api.clients import api_client_create
from cases.models import ApiClient, Stream
from cases.models.streams import KORE_ENDPOINTS, READ_ENDPOINTS


class Command(BaseCommand):
    help = "Create an API client for the gateway and the read API; prints its secret once."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument(
            "--stream", action="append", default=[], metavar="STREAM_ID", help="A stream it may use."
        )
        parser.add_argument(
            "--read-only", action="store_true", help="Only getCases and getTasks (and the read API)."
        )
        parser.add_argument(
            "--weight", type=int, default=1, help="Its share of the rate limit against other clients."
        )

    def handle(self, *args, name: str, stream: list[str], read_only: bool, weight: int, **options):
        if ApiClient.objects.filter(name=name).exists():
            raise CommandError(f"An API client named {name!r} exists already.")
        streams = list(Stream.objects.filter(stream_id__in=stream))
        missing = set(stream) - {s.stream_id for s in streams}
        if missing:
            raise CommandError(f"No stream with id {', '.join(sorted(missing))}.")
        if weight < 1:
            raise CommandError("The weight is 1 or more.")
        endpoints = READ_ENDPOINTS if read_only else KORE_ENDPOINTS
        client, secret = api_client_create(name=name, streams=streams, endpoints=endpoints, weight=weight)
        self.stdout.write(f"client id: {client.client_id}")
        self.stdout.write(f"may call:  {', '.join(client.endpoints)}")
        self.stdout.write(f"secret:    {secret}")
        self.stdout.write("Keep the secret now: it is stored encrypted and never shown again.")
