"""Outbound host guard: the portal talks to any host an administrator types in, so it must refuse
to be turned against the network it lives in (SSRF).

A host's addresses are resolved and each is checked against explicit lists of networks that are
never a Kore.ai tenant: loopback, private, carrier-grade NAT, link-local (cloud metadata at
169.254.169.254), multicast, reserved, documentation, unspecified, and their IPv6 forms. Explicit
lists, not ``ipaddress.is_private``: Python 3.11.7 predates the CVE-2024-4032 fix of those
properties. ``KORE_ALLOWED_HOSTS`` lists names or addresses allowed anyway (the demo's simulator
on 127.0.0.1). Other callers name their own allow-list setting (``allowed_setting``): single sign-on
reaches the identity provider with ``OIDC_ALLOWED_HOSTS``, so allowing an internal provider never
allows a stream to reach it.

The check runs when a stream is saved and again at every connection, on the very address the
socket then connects to, so a DNS answer that changes between the check and the connection
(rebinding) gains nothing. The Kore client's pools (``guarded_pool_manager``) and single
sign-on's requests adapter (``GuardedHTTPAdapter``) both connect this way. Redirects are never
followed by the client.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import partial
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3 import connection as urllib3_connection
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

FORBIDDEN_NETWORKS = [
    ipaddress.ip_network(network)
    for network in (
        # IPv4
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        # IPv6
        "::/128",  # unspecified
        "::1/128",  # loopback
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments (Teredo, benchmarking, ORCHID…)
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
        # IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses are
        # judged by the IPv4 address they carry (see _embedded_ipv4).
    )
]


class HostRefused(Exception):
    """The host resolves to an address the portal must not connect to."""


KORE_ALLOWED_HOSTS = "KORE_ALLOWED_HOSTS"


def _allowed_names(allowed_setting: str = KORE_ALLOWED_HOSTS) -> set[str]:
    from django.conf import settings

    return {name.strip().lower().strip("[]") for name in getattr(settings, allowed_setting, [])}


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: str) -> str | None:
    """Why an address is refused, or None when it is a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(ip)) is not None:
        candidates.append(embedded)
    for candidate in candidates:
        for network in FORBIDDEN_NETWORKS:
            if candidate.version == network.version and candidate in network:
                return f"{address} is in {network}, a loopback, private, link-local or reserved network"
    return None


def checked_addresses(host: str, port: int, *, allowed_setting: str = KORE_ALLOWED_HOSTS) -> list[tuple]:
    """Resolve ``host`` and return its getaddrinfo entries, refusing if any address is forbidden
    (unless the name or the address is in the allow-list setting named ``allowed_setting``).

    Every address must pass, not just one: a name that mixes a public and a private address is
    how rebinding attacks hide.
    """
    name = host.strip("[]").lower()
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    allowed = _allowed_names(allowed_setting)
    if name in allowed:
        return infos
    for *_rest, sockaddr in infos:
        if sockaddr[0] in allowed:
            continue
        reason = forbidden_reason(sockaddr[0])
        if reason:
            raise HostRefused(
                f"The host {host} resolves to {reason}. Add it to {allowed_setting} if it is truly meant."
            )
    return infos


def check_url(url: str, *, allowed_setting: str = KORE_ALLOWED_HOSTS) -> None:
    """Save-time check of a stream's host URL (or any URL the portal will call): scheme, then
    every resolved address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    allowed = host.lower() in _allowed_names(allowed_setting)
    if parts.scheme != "https" and not (parts.scheme == "http" and allowed):
        raise HostRefused(
            f"The host must use https://. Plain http:// is allowed only for hosts in {allowed_setting}."
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise HostRefused("The host's port is not a number from 1 to 65535.") from None
    try:
        checked_addresses(host, port, allowed_setting=allowed_setting)
    except socket.gaierror:
        raise HostRefused(f"The host name {host} does not resolve.") from None


# --- Connection time ----------------------------------------------------------------------


def _guarded_socket(conn: HTTPConnection) -> socket.socket:
    """What urllib3's _new_conn does, but connecting only to addresses that passed the guard."""
    try:
        infos = checked_addresses(conn._dns_host, conn.port, allowed_setting=conn.allowed_setting)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    error: OSError | None = None
    for *_rest, sockaddr in infos:
        try:
            return urllib3_connection.connection.create_connection(
                (sockaddr[0], conn.port),
                conn.timeout,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out.") from exc
        except OSError as exc:
            error = exc
    raise NewConnectionError(conn, f"Failed to establish a new connection: {error}")


class GuardedHTTPConnection(HTTPConnection):
    def __init__(self, *args, allowed_setting: str = KORE_ALLOWED_HOSTS, **kwargs) -> None:
        self.allowed_setting = allowed_setting
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        return _guarded_socket(self)


class GuardedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args, allowed_setting: str = KORE_ALLOWED_HOSTS, **kwargs) -> None:
        self.allowed_setting = allowed_setting
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        return _guarded_socket(self)


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


def _guarded_pool_classes(allowed_setting: str) -> dict:
    # The pools hand extra keywords on to each connection they make.
    return {
        "http": partial(GuardedHTTPConnectionPool, allowed_setting=allowed_setting),
        "https": partial(GuardedHTTPSConnectionPool, allowed_setting=allowed_setting),
    }


def guarded_pool_manager(*, allowed_setting: str = KORE_ALLOWED_HOSTS, **kwargs) -> PoolManager:
    """A urllib3 pool manager whose every new connection goes through the host guard (the Kore
    client's); ``kwargs`` as PoolManager takes them. It reads no proxy from the environment."""
    manager = PoolManager(**kwargs)
    manager.pool_classes_by_scheme = _guarded_pool_classes(allowed_setting)
    return manager


class GuardedHTTPAdapter(HTTPAdapter):
    """A requests adapter whose every new connection goes through the host guard, allowing
    anyway the hosts in the setting named ``allowed_setting`` (default ``KORE_ALLOWED_HOSTS``).
    Single sign-on's client (Authlib) speaks requests."""

    __attrs__ = [*HTTPAdapter.__attrs__, "allowed_setting"]

    def __init__(self, *args, allowed_setting: str = KORE_ALLOWED_HOSTS, **kwargs) -> None:
        self.allowed_setting = allowed_setting  # before super(), which builds the pool manager
        super().__init__(*args, **kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _guarded_pool_classes(self.allowed_setting)
