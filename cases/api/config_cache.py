"""What the API proxy needs on every call (the API client, the stream, its active case and task
templates),
read from the database once and kept in the process for as long as the configuration is
unchanged, so a createCase costs no query before the case's own insert. Only what exists is
kept: unknown ids from callers never fill the memory.

"Unchanged" is exact, not a time-to-live: any save or delete of a stream, a template or an API
client, or a change of a client's streams, replaces a generation token in the shared cache once
the change commits (see ``configuration_changed``, connected in apps.py). Each call reads the
token (one cache round trip, instead of three database queries) and drops what its process kept
when the token moved. Should the cache lose the token, a new one is made and everything is
read again. (An API call reads the token in the same round trip as its other checks:
cases/api/call_checks.py.)
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

from django.db import transaction

from cases.api import call_checks
from cases.delivery.pacing import account_limit
from cases.models import ApiClient, CaseTemplate, Stream, TaskTemplate

GENERATION_KEY = "proxy-config-generation"


@dataclass(frozen=True)
class StreamRoute:
    """An active stream, its active case and task templates by Kore template id, and its
    account's pacing limit."""

    stream: Stream
    templates: dict[str, CaseTemplate]
    pacing_limit: int
    task_templates: dict[str, TaskTemplate] = field(default_factory=dict)


@dataclass
class Snapshot:
    generation: str
    clients: dict[str, ApiClient] = field(default_factory=dict)
    client_streams: dict[int, frozenset[int]] = field(default_factory=dict)
    routes: dict[str, StreamRoute] = field(default_factory=dict)


_lock = threading.Lock()
_snapshot = Snapshot(generation="")


def current() -> Snapshot:
    """This process's snapshot, emptied first if the configuration changed since it was filled."""
    return for_generation(call_checks.generation(GENERATION_KEY))


def held() -> Snapshot:
    """This process's snapshot as it is, unchecked: for a caller that reads the generation in a
    round trip of its own (cases/api/auth.py) and then calls ``for_generation``."""
    return _snapshot


def for_generation(generation: str | None) -> Snapshot:
    """This process's snapshot for the configuration's ``generation`` as just read from the
    shared cache (None: lost), emptied first if the generation moved."""
    global _snapshot
    if generation is None:
        call_checks.set_generation(GENERATION_KEY, uuid.uuid4().hex, only_if_missing=True)
        generation = call_checks.generation(GENERATION_KEY) or ""
    with _lock:
        if _snapshot.generation != generation or not generation:
            _snapshot = Snapshot(generation=generation)
        return _snapshot


def active_client(snapshot: Snapshot, client_id: str) -> ApiClient | None:
    """Only clients that exist are kept: ids from unknown tokens must not fill the memory."""
    client = snapshot.clients.get(client_id)
    if client is None:
        client = ApiClient.objects.filter(client_id=client_id, is_active=True).first()
        if client is not None:
            snapshot.client_streams[client.pk] = frozenset(client.streams.values_list("pk", flat=True))
            snapshot.clients[client_id] = client
    return client


def may_use(snapshot: Snapshot, client: ApiClient, stream: Stream) -> bool:
    streams = snapshot.client_streams.get(client.pk)
    if streams is None:  # a client object not read through this snapshot
        return client.streams.filter(pk=stream.pk).exists()
    return stream.pk in streams


def stream_route(snapshot: Snapshot, stream_id: str) -> StreamRoute | None:
    route = snapshot.routes.get(stream_id)
    if route is None:
        stream = Stream.objects.filter(stream_id=stream_id, is_active=True).first()
        if stream is not None:
            templates = CaseTemplate.objects.filter(stream=stream, is_active=True)
            task_templates = TaskTemplate.objects.filter(stream=stream, is_active=True)
            route = StreamRoute(
                stream,
                {t.template_id: _with_stream(t, stream) for t in templates},
                account_limit(stream),
                {t.template_id: t for t in task_templates},
            )
            snapshot.routes[stream_id] = route
    return route


def _with_stream(template: CaseTemplate, stream: Stream) -> CaseTemplate:
    template.stream = stream  # the case insert reads template.stream: no query for it
    return template


def configuration_changed(sender=None, **kwargs) -> None:
    """Signal receiver: every process drops its snapshot. Once now, for this connection's own
    transaction, and again when the change commits, so no process can keep what it read from
    the database in between."""

    def new_generation() -> None:
        call_checks.set_generation(GENERATION_KEY, uuid.uuid4().hex)

    new_generation()
    transaction.on_commit(new_generation)
