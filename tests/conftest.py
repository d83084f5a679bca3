"""Shared fixtures: a real Kore.ai simulator over real HTTP on loopback, streams pointed at it,
signed-in browsers of each kind, and Celery running tasks in-process."""

from __future__ import annotations

import os
import socket
import time

# A fixed key for secrets at rest, so tests never touch the developer's own key file.
os.environ.setdefault("PORTAL_SECRET_KEYS", "q2bXbM0xkP4bF1uY9vZr0d3lq0m6o3r8c1i5m7o9x2c=")

import pytest  # noqa: E402
from django.core.cache import caches  # noqa: E402
from django.db.models.signals import post_save  # noqa: E402

from cases.kore.simulator import Simulator  # noqa: E402
from cases.kore.simulator.server import SimulatorServer  # noqa: E402
from cases.models import Stream  # noqa: E402
from cases.people import roles  # noqa: E402
from casesite.celery import app as celery_app  # noqa: E402
from tests.factories import TEST_CLIENT_SECRET, CaseTemplateFactory, StreamFactory, UserFactory  # noqa: E402

# Names tests may resolve, to public addresses that are never connected to: tests using them
# fake the wire on loopback (tests/test_client_unit.py), or only save a form.
TEST_DNS = {"platform.kore.ai": "34.117.59.81", "kore.test": "34.117.59.82"}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "ip6-localhost"}


@pytest.fixture(autouse=True, scope="session")
def no_real_name_resolution():
    """Tests never ask a DNS server: loopback resolves as usual, a few test names resolve to fixed
    addresses, anything else fails as an unknown name would. Tests may add names with fake_dns."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or name in LOOPBACK_NAMES or name.startswith("127.") or _is_ip_literal(name):
            return real(host, port, *args, **kwargs)
        if name in TEST_DNS:
            return real(TEST_DNS[name], port, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, f"{name} is not resolvable in tests")

    socket.getaddrinfo = getaddrinfo
    yield
    socket.getaddrinfo = real


def _is_ip_literal(name: str) -> bool:
    """An address in any spelling getaddrinfo reads without DNS (dotted, decimal, octal, hex)."""
    import ipaddress

    try:
        ipaddress.ip_address(name.strip("[]").split("%", 1)[0])
        return True
    except ValueError:
        pass
    try:
        socket.inet_aton(name)
    except OSError:
        return False
    return True


@pytest.fixture
def fake_dns():
    """Make a test name resolve to given addresses: fake_dns("evil.test", "10.0.0.1")."""
    added = []

    def add(name: str, address: str) -> None:
        TEST_DNS[name] = address
        added.append(name)

    yield add
    for name in added:
        TEST_DNS.pop(name, None)


@pytest.fixture(autouse=True, scope="session")
def celery_runs_tasks_in_process():
    """Tasks run inside the test when enqueued (on commit); the Redis tests start real workers."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """Dashboard figures (by user id) and what a process learned of streams (by stream id) are
    cached per process, and ids repeat across tests."""
    caches["dashboard"].clear()
    caches["learned"].clear()


@pytest.fixture(autouse=True)
def no_kore_agent_in_the_dev_site(settings):
    """The dev site's simulator works its cases in the background only in the test that asks."""
    settings.KORE_SIMULATOR_AGENT_SECONDS = 0


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Tests make many people; a deliberately slow hash would cost a quarter second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.KORE_RETRY_BASE_SECONDS = 0.05
    settings.KORE_RETRY_MAX_SECONDS = 0.2
    settings.KORE_READ_TIMEOUT = 2.0
    settings.KORE_CONNECT_TIMEOUT = 1.0


@pytest.fixture
def simulator():
    """A fresh simulator served over real HTTP on 127.0.0.1, knowing the test JWT app."""
    sim = Simulator(control=True)
    with SimulatorServer(sim) as server:
        sim.url = server.url
        yield sim


@pytest.fixture
def stream(db, simulator):
    """An active stream whose host is the simulator, with credentials it accepts."""
    stream = StreamFactory(host=simulator.url)
    simulator.register_app(stream.client_id, TEST_CLIENT_SECRET, [stream.stream_id])
    return stream


@pytest.fixture
def template(stream, simulator):
    """A template of the stream, known at the simulator by the same name (Kore answers caseTmp
    with the template's name)."""
    template = CaseTemplateFactory(stream=stream)
    simulator.register_template(stream.stream_id, template.template_id, template.name)
    return template


@pytest.fixture
def staff_user(db):
    """alice: an administrator (and Django staff, so the admin site opens too)."""
    user = UserFactory(username="alice", is_staff=True)
    roles.set_role(user, roles.ADMINISTRATOR)
    return user


@pytest.fixture
def member_user(db):
    """bob: an agent and a member of every stream, including those a test makes later; the
    role matrix (tests/test_roles.py) covers people who see only some streams."""
    user = UserFactory(username="bob")
    roles.set_role(user, roles.AGENT)
    user.member_streams.set(Stream.objects.all())

    def join_new_stream(sender, instance, created, **kwargs):
        if created:
            instance.members.add(user)

    post_save.connect(join_new_stream, sender=Stream, weak=False, dispatch_uid="member-joins-streams")
    yield user
    post_save.disconnect(sender=Stream, dispatch_uid="member-joins-streams")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def member_client(client, member_user):
    client.force_login(member_user)
    return client


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


IDP_CLIENT_ID = "case-portal"
IDP_CLIENT_SECRET = "idp-client-secret-0123456789abcdef"
# Where the test provider gives the person's claims (the idp fixture's parameter).
CLAIMS_AT_USERINFO = "claims at userinfo"
CLAIMS_IN_ID_TOKEN = "claims in the ID token"


@pytest.fixture
def idp(settings, request):
    """A real, certified OpenID provider on loopback (oidc-provider, tests/oidc/), and the portal
    configured to sign in with it: the test client's callback and sign-in page are registered at
    it, and the live server's too when the test has one (browser tests). Its ID tokens say only
    ``sub`` and the person's claims are at userinfo, unless the test parametrizes the fixture
    (``indirect``) with ``CLAIMS_IN_ID_TOKEN``."""
    from cases.sso.provider import forget_provider_clients
    from tests.oidc.idp import RealProvider

    origins = ["http://testserver"]
    if "live_server" in request.fixturenames:
        origins.append(request.getfixturevalue("live_server").url)
    provider = RealProvider(
        client_id=IDP_CLIENT_ID,
        client_secret=IDP_CLIENT_SECRET,
        redirect_uris=[f"{origin}/accounts/sso/callback/" for origin in origins],
        post_logout_redirect_uris=[f"{origin}/accounts/login/" for origin in origins],
        claims_in_id_token=getattr(request, "param", CLAIMS_AT_USERINFO) == CLAIMS_IN_ID_TOKEN,
    )
    with provider:
        settings.OIDC_ISSUER = provider.issuer
        settings.OIDC_CLIENT_ID = IDP_CLIENT_ID
        settings.OIDC_CLIENT_SECRET = IDP_CLIENT_SECRET
        settings.OIDC_PROVIDER_NAME = "Test IdP"
        settings.OIDC_GROUPS_CLAIM = "groups"
        settings.OIDC_ROLE_MAP = ""
        settings.OIDC_ONLY = False
        settings.OIDC_ALLOWED_HOSTS = ["127.0.0.1"]
        forget_provider_clients()
        yield provider
        forget_provider_clients()


@pytest.fixture
def token_relay(idp):
    """A relay in front of the provider's token and userinfo endpoints (discovery names it
    instead), which alters the next ID token the provider signs when told
    (``token_relay.fault = "expired"``), and userinfo's answers (``userinfo_changes``,
    ``userinfo_fault``)."""
    from cases.sso.provider import forget_provider_clients
    from tests.oidc.idp import TokenRelay

    with TokenRelay(idp) as relay:
        forget_provider_clients()
        yield relay


def learn_catalog(stream) -> None:
    """What the sync learns of a stream from Kore's cases (statuses, priorities, agents and
    queues), here taken at once from the simulator's catalog of that stream."""
    from cases.kore.simulator.catalog import ALL_AGENTS, catalog
    from cases.models import KoreAssignee, KorePriority, KoreStatus

    kore = catalog(stream.stream_id)
    for status in kore.statuses:
        KoreStatus.objects.get_or_create(
            stream=stream,
            kore_id=status["_id"],
            defaults={"name": status["name"], "category": status["statusCategory"]},
        )
    for priority in kore.priorities:
        KorePriority.objects.get_or_create(
            stream=stream,
            kore_id=priority["_id"],
            defaults={"name": priority["name"], "color": priority["color"], "score": priority["score"]},
        )
    for agent in ALL_AGENTS:
        KoreAssignee.objects.get_or_create(
            stream=stream, kind="agent", kore_id=agent.agent_id, defaults={"name": agent.name}
        )
    for queue in kore.queues:
        KoreAssignee.objects.get_or_create(
            stream=stream, kind="queue", kore_id=queue["_id"], defaults={"name": queue["name"]}
        )


@pytest.fixture
def worked_case(template, simulator):
    """A case delivered to the simulator, its stream's statuses, priorities, agents and queues
    learned, as the portal has it after a sync."""
    from cases.delivery.deliver import case_deliver
    from tests.factories import CaseFactory

    case = CaseFactory(template=template)
    case_deliver(case_id=case.pk)
    case.refresh_from_db()
    assert case.state == case.State.DELIVERED
    learn_catalog(template.stream)
    time.sleep(0.005)  # Kore's updatedAt is in milliseconds: a change comes after it
    return case


@pytest.fixture
def task_template(worked_case, simulator):
    """A task template of the worked case's stream, known to the simulator too."""
    from cases.models import TaskTemplate

    template = TaskTemplate.objects.create(
        stream=worked_case.stream, template_id="ttm-0000-follow-up", name="Follow-up call"
    )
    simulator.register_template(worked_case.stream.stream_id, template.template_id, template.name)
    return template


# --- Notifications (cases/notify/) ------------------------------------------------------------


@pytest.fixture
def smtp_inbox(settings):
    """A real SMTP server on loopback, and the portal's e-mail settings pointed at it."""
    from tests.receivers import SmtpInbox

    with SmtpInbox() as inbox:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", inbox.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        yield inbox


@pytest.fixture
def receiver():
    """A webhook receiver on loopback that records every POST (answers 204 unless told)."""
    from tests.receivers import WebhookReceiver

    with WebhookReceiver() as server:
        yield server


class Clock:
    """The notify package's clock, moved by hand: an hour of retries runs in a moment."""

    def __init__(self):
        from django.utils import timezone

        self.at = timezone.now()

    def now(self):
        return self.at

    def advance(self, **delta):
        from datetime import timedelta

        self.at += timedelta(**delta)
        return self.at


@pytest.fixture
def clock(monkeypatch):
    from cases.notify import clock as notify_clock

    fake = Clock()
    monkeypatch.setattr(notify_clock, "now", fake.now)
    return fake


@pytest.fixture
def redis_cache(settings):
    """The default cache on a real redis-server of its own, as in production (django-redis)."""
    from tests.servers import RedisServer

    server = RedisServer()
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": server.url, "KEY_PREFIX": "test"},
    }
    try:
        yield caches["default"]
    finally:
        caches["default"].close()
        server.stop()
