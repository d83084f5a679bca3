import pytest

from cases import crypto
from cases.models import Stream
from tests.factories import StreamFactory


def test_a_secret_round_trips_and_is_not_stored_in_clear(db):
    stream = StreamFactory(secret="s3cret-value-for-the-jwt-app")
    raw = Stream.objects.filter(pk=stream.pk).values_list("client_secret_encrypted", flat=True).get()
    assert "s3cret-value" not in raw
    assert raw.startswith("v1:")
    assert Stream.objects.get(pk=stream.pk).client_secret == "s3cret-value-for-the-jwt-app"


def test_each_encryption_uses_a_fresh_nonce():
    first = crypto.encrypt("same", purpose="p")
    second = crypto.encrypt("same", purpose="p")
    assert first != second


def test_a_value_sealed_for_one_column_does_not_open_for_another():
    sealed = crypto.encrypt("value", purpose="stream.client_secret")
    with pytest.raises(crypto.SecretDecryptionError):
        crypto.decrypt(sealed, purpose="apiclient.secret")


def test_a_tampered_value_fails_loudly():
    sealed = crypto.encrypt("value", purpose="p")
    prefix, kid, payload = sealed.split(":", 2)
    tampered = f"{prefix}:{kid}:{payload[:-4]}AAAA"
    with pytest.raises(crypto.SecretDecryptionError):
        crypto.decrypt(tampered, purpose="p")


def test_a_value_from_an_unknown_key_fails_loudly():
    with pytest.raises(crypto.SecretDecryptionError, match="No key"):
        crypto.decrypt("v1:deadbeef:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", purpose="p")
