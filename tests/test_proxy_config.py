"""The proxy keeps API clients, streams and templates per process until one changes: a change
made anywhere applies to the very next call, and a warm call reads nothing before its insert."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.api import config_cache as proxy_config
from cases.models import Case
from tests.factories import CaseTemplateFactory, StreamFactory
from tests.test_api_proxy import call

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_client(template):
    from cases.api.clients import api_client_create

    client, secret = api_client_create(name="Kept", streams=[template.stream])
    client.plain_secret = secret
    return client


def test_a_warm_call_reads_nothing_before_the_case_insert(client, api_client, template, simulator):
    assert call(client, api_client, template).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        assert call(client, api_client, template).status_code == 200
    before_insert = []
    for query in captured.captured_queries:
        if query["sql"].startswith('INSERT INTO "cases_case"'):
            break
        before_insert.append(query["sql"])
    # Only the shared cache (a table in tests, Redis in production) is read: token replay
    # memory, throttle counter, configuration generation. No portal table.
    assert any("portal_cache" in sql for sql in before_insert)
    assert not [sql for sql in before_insert if 'FROM "cases_' in sql or 'FROM "auth_' in sql]


def test_deactivating_a_client_applies_to_the_next_call(client, api_client, template, simulator):
    assert call(client, api_client, template).status_code == 200
    api_client.is_active = False
    api_client.save()
    assert call(client, api_client, template).status_code == 401


def test_taking_a_stream_from_a_client_applies_to_the_next_call(client, api_client, template, simulator):
    assert call(client, api_client, template).status_code == 200
    api_client.streams.clear()
    assert call(client, api_client, template).status_code == 403


def test_template_and_stream_changes_apply_to_the_next_call(client, api_client, template, simulator):
    assert call(client, api_client, template).status_code == 200
    newer = CaseTemplateFactory(stream=template.stream)
    assert call(client, api_client, newer).status_code == 200
    newer.is_active = False
    newer.save()
    response = call(client, api_client, newer)
    assert response.status_code == 400 and "No active case template" in response.content.decode()
    template.stream.is_active = False
    template.stream.save()
    assert call(client, api_client, template).status_code == 404
    assert Case.objects.count() == 2


def test_an_unknown_stream_or_client_is_never_kept(client, api_client, template, simulator):
    snapshot = proxy_config.current()
    assert call(client, api_client, template, stream_id="st-unknown").status_code == 404
    assert proxy_config.current() is snapshot
    assert "st-unknown" not in snapshot.routes
    assert proxy_config.active_client(snapshot, "cs-nobody") is None and "cs-nobody" not in snapshot.clients


def test_a_lost_generation_token_empties_the_snapshot(api_client, template):
    from django.core.cache import cache

    snapshot = proxy_config.current()
    proxy_config.stream_route(snapshot, template.stream.stream_id)
    cache.delete(proxy_config.GENERATION_KEY)
    fresh = proxy_config.current()
    assert fresh is not snapshot and fresh.routes == {}
    StreamFactory()  # any change moves the token on
    assert proxy_config.current() is not fresh


# --- One round trip to the shared cache per call (cases/api/call_checks.py) ----------------


@pytest.fixture
def round_trips(monkeypatch):
    """Counts what the portal sends to Redis: each command, or each pipeline, is one trip."""
    from redis.connection import Connection

    sent = []
    send = Connection.send_packed_command

    def counted(self, command, check_health=True):
        sent.append(command)
        return send(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    return sent


def test_a_call_asks_redis_once_for_its_checks(
    client, api_client, template, simulator, redis_cache, round_trips
):
    """The configuration's generation, the token's jti and the throttle's count: one pipeline."""
    assert call(client, api_client, template).status_code == 200
    round_trips.clear()
    assert call(client, api_client, template).status_code == 200
    assert len(round_trips) == 1


def test_checks_on_redis_refuse_a_replay_and_follow_changes(
    client, api_client, template, simulator, redis_cache
):
    from tests.test_api_proxy import token_for

    token = token_for(api_client)
    assert call(client, api_client, template, token=token).status_code == 200
    replay = call(client, api_client, template, token=token)
    assert replay.status_code == 401 and "replay" in replay.json()["errors"][0]["msg"]
    api_client.streams.clear()  # in "another process": this one still holds the stream
    assert call(client, api_client, template).status_code == 403
    api_client.is_active = False
    api_client.save()
    assert call(client, api_client, template).status_code == 401


def test_checks_on_redis_count_calls_for_the_throttle(
    client, api_client, template, simulator, redis_cache, monkeypatch
):
    from cases.api.throttle import ApiClientThrottle

    monkeypatch.setattr(ApiClientThrottle, "rate", "2/min", raising=False)
    assert [call(client, api_client, template).status_code for _ in range(3)] == [200, 200, 429]


@pytest.mark.parametrize("cache_kind", ["database", "redis"])
def test_a_new_secret_is_accepted_at_once_though_the_process_holds_the_old(
    request, client, api_client, template, simulator, cache_kind
):
    """The held snapshot refuses the new secret's token; the configuration as it is now accepts it."""
    from cases.api.clients import api_client_new_secret
    from tests.test_api_proxy import token_for

    if cache_kind == "redis":
        request.getfixturevalue("redis_cache")
    assert call(client, api_client, template).status_code == 200
    held = proxy_config.held()
    api_client.plain_secret = api_client_new_secret(client=api_client)
    assert proxy_config.held() is held  # nothing read the new generation yet
    assert call(client, api_client, template, token=token_for(api_client)).status_code == 200
