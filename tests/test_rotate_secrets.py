"""Key rotation: put a new key first, run rotate_secrets, then the old key can go."""

import base64
import os

import pytest
from django.core.management import call_command

from cases import crypto
from cases.models import Stream
from tests.factories import TEST_CLIENT_SECRET, StreamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(monkeypatch):
    """Set PORTAL_SECRET_KEYS as a restarted process would read it (the keys are cached)."""

    def use(value: str) -> None:
        monkeypatch.setenv("PORTAL_SECRET_KEYS", value)
        crypto.load_keys.cache_clear()

    yield use
    crypto.load_keys.cache_clear()


def test_rotate_secrets_reseals_every_stream_secret_with_the_newest_key(keys, capsys):
    old_key = os.environ["PORTAL_SECRET_KEYS"]
    stream = StreamFactory()
    new_key = base64.urlsafe_b64encode(os.urandom(32)).decode()

    keys(f"{new_key},{old_key}")
    call_command("rotate_secrets")
    assert "1 secret(s) re-encrypted" in capsys.readouterr().out

    keys(new_key)  # the old key is retired
    assert Stream.objects.get(pk=stream.pk).client_secret == TEST_CLIENT_SECRET
    call_command("rotate_secrets")
    assert "0 secret(s) re-encrypted" in capsys.readouterr().out


def test_rotation_covers_api_client_secrets_too(keys, capsys):
    from cases.api.clients import api_client_create
    from cases.models import ApiClient

    old_key = os.environ["PORTAL_SECRET_KEYS"]
    client, secret = api_client_create(name="Rotated", streams=[])
    new_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    keys(f"{new_key},{old_key}")
    call_command("rotate_secrets")
    assert "1 secret(s) re-encrypted" in capsys.readouterr().out
    keys(new_key)
    assert ApiClient.objects.get(pk=client.pk).secret == secret


def test_rotation_covers_webhook_signing_secrets_too(keys, capsys):
    from cases.models import WebhookEndpoint
    from cases.notify.endpoints import endpoint_create

    old_key = os.environ["PORTAL_SECRET_KEYS"]
    endpoint, secret = endpoint_create(
        name="Rotated", url="https://hooks.example.com/", events=[], streams=[]
    )
    new_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    keys(f"{new_key},{old_key}")
    call_command("rotate_secrets")
    assert "1 secret(s) re-encrypted" in capsys.readouterr().out
    keys(new_key)
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == secret
