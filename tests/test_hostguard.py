"""The outbound host guard: forbidden networks refused at save time and at connection time.

No test here opens a connection to anything but loopback: names are resolved by the test DNS
stub (tests/conftest.py) and the guard refuses before any socket connects."""

import socket

import pytest

from cases.kore import hostguard
from cases.kore.client import KoreClient, StreamConfig
from cases.kore.errors import KoreHostRefused
from cases.web.configuration_forms import StreamForm

FORBIDDEN = [
    "127.0.0.1",
    "127.8.9.10",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",
    "169.254.169.254",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
    "2001:db8::1",
]


@pytest.fixture(autouse=True)
def nothing_allowed(settings):
    settings.KORE_ALLOWED_HOSTS = []


@pytest.fixture
def no_outside_connections(monkeypatch):
    """Fail the test if anything tries to connect anywhere but loopback."""
    real_connect = socket.socket.connect

    def connect(self, address):
        if not str(address[0]).startswith(("127.", "::1", "localhost")):
            raise AssertionError(f"a connection to {address} was attempted")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.mark.parametrize("address", FORBIDDEN)
def test_every_forbidden_class_is_refused(address):
    assert hostguard.forbidden_reason(address)


@pytest.mark.parametrize("address", ["34.117.59.81", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert hostguard.forbidden_reason(address) is None


@pytest.mark.parametrize(
    "host",
    [
        "https://127.0.0.1",
        "https://[::1]",
        "https://169.254.169.254",
        "https://2130706433",  # 127.0.0.1 in decimal
        "https://0x7f000001",  # in hex
        "https://0177.0.0.1",  # in octal
        "https://017700000001",  # octal, one number
        "https://10.1",  # short form of 10.0.0.1
        "https://[::ffff:a9fe:a9fe]",
    ],
)
def test_the_stream_form_refuses_forbidden_addresses_in_any_spelling(db, host, no_outside_connections):
    form = StreamForm(
        {
            "name": "x",
            "host": host,
            "stream_id": "st-1",
            "client_id": "c",
            "client_secret": "s",
            "rate_limit": 60,
        }
    )
    assert "host" in form.errors  # by Django's URL rules or by the guard
    # And the guard on its own refuses every spelling, whatever the URL rules let through.
    with pytest.raises(hostguard.HostRefused, match="network"):
        hostguard.check_url(host)


def test_a_name_that_resolves_to_a_private_address_is_refused(db, fake_dns, no_outside_connections):
    fake_dns("intranet.evil.test", "10.0.0.5")
    form = StreamForm(
        {
            "name": "x",
            "host": "https://intranet.evil.test",
            "stream_id": "st-1",
            "client_id": "c",
            "client_secret": "s",
            "rate_limit": 60,
        }
    )
    assert "10.0.0.5 is in 10.0.0.0/8" in form.errors["host"][0]


def test_an_allowed_public_name_is_accepted(db):
    form = StreamForm(
        {
            "name": "x",
            "host": "https://platform.kore.ai",
            "stream_id": "st-1",
            "account_id": "6639f7bd58c97ffac03b0001",
            "client_id": "c",
            "client_secret": "s",
            "rate_limit": 60,
        }
    )
    assert form.is_valid(), form.errors


def test_listed_hosts_are_allowed_anyway(settings):
    settings.KORE_ALLOWED_HOSTS = ["127.0.0.1"]
    hostguard.check_url("http://127.0.0.1:8000/simulator")


def test_a_name_that_rebinds_to_metadata_after_saving_is_refused_at_connection(
    fake_dns, no_outside_connections
):
    # At save time the name was public; at connection time it answers with the metadata address.
    fake_dns("rebind.evil.test", "169.254.169.254")
    config = StreamConfig(
        host="https://rebind.evil.test", stream_id="st-1", client_id="c", client_secret="s" * 32
    )
    with pytest.raises(KoreHostRefused) as raised:
        KoreClient(config).create_case({})
    assert raised.value.permanent
    assert "169.254.169.254" in raised.value.message


def test_loopback_is_refused_at_connection_unless_listed(simulator, settings):
    config = StreamConfig(host=simulator.url, stream_id="st-1", client_id="c", client_secret="s" * 32)
    with pytest.raises(KoreHostRefused):
        KoreClient(config).create_case({})
    assert simulator.request_count == 0
    settings.KORE_ALLOWED_HOSTS = ["127.0.0.1"]
    with pytest.raises(Exception) as raised:
        KoreClient(config).create_case({})
    assert not isinstance(raised.value, KoreHostRefused)  # it got through to the simulator
    assert simulator.request_count == 1


def test_another_caller_names_its_own_allow_list(settings):
    settings.KORE_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.OIDC_ALLOWED_HOSTS = []
    hostguard.check_url("http://127.0.0.1:8080/")  # Kore's list allows it for streams
    with pytest.raises(hostguard.HostRefused, match="OIDC_ALLOWED_HOSTS"):
        hostguard.check_url("https://127.0.0.1:8080/", allowed_setting="OIDC_ALLOWED_HOSTS")
    with pytest.raises(hostguard.HostRefused, match="only for hosts in OIDC_ALLOWED_HOSTS"):
        hostguard.check_url("http://127.0.0.1:8080/", allowed_setting="OIDC_ALLOWED_HOSTS")

    settings.KORE_ALLOWED_HOSTS = []
    settings.OIDC_ALLOWED_HOSTS = ["127.0.0.1"]
    hostguard.check_url("http://127.0.0.1:8080/", allowed_setting="OIDC_ALLOWED_HOSTS")
    with pytest.raises(hostguard.HostRefused, match="KORE_ALLOWED_HOSTS"):
        hostguard.check_url("http://127.0.0.1:8080/")


def test_an_adapter_with_its_own_allow_list_checks_each_connection_against_it(settings, simulator):
    import requests

    settings.KORE_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.OIDC_ALLOWED_HOSTS = []
    session = requests.Session()
    session.mount("http://", hostguard.GuardedHTTPAdapter(allowed_setting="OIDC_ALLOWED_HOSTS"))
    with pytest.raises(hostguard.HostRefused, match="OIDC_ALLOWED_HOSTS"):
        session.get(f"{simulator.url}/_simulator/stats", timeout=2)
    settings.OIDC_ALLOWED_HOSTS = ["127.0.0.1"]
    session = requests.Session()
    session.mount("http://", hostguard.GuardedHTTPAdapter(allowed_setting="OIDC_ALLOWED_HOSTS"))
    assert session.get(f"{simulator.url}/_simulator/stats", timeout=2).status_code == 200
