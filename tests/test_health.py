"""/healthz and /readyz: what a load balancer sees, without signing in."""

import pytest
from django.db.migrations.recorder import MigrationRecorder
from django.urls import reverse

from tests.servers import RedisServer


def test_healthz_answers_ok_without_signing_in_or_touching_the_database(client):
    # No django_db mark: pytest-django makes any database access here an error.
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_ready_when_database_migrations_and_broker_are(client):
    response = client.get(reverse("readyz"))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "migrations": True,
        "broker": True,
    }


@pytest.mark.django_db
def test_readyz_is_unavailable_when_the_broker_refuses_connections(client, settings, closed_port):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port}/0"
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    # Anyone can read this page: the broker's address stays out of it.
    assert str(closed_port) not in response.content.decode()


@pytest.mark.django_db
def test_readyz_is_unavailable_while_a_migration_is_not_applied(client):
    # Forget the latest cases migration, as if new code were deployed before `migrate` ran.
    latest = MigrationRecorder.Migration.objects.filter(app="cases").order_by("-name").first()
    latest.delete()
    response = client.get(reverse("readyz"))
    assert response.status_code == 503
    migrations = response.json()["checks"]["migrations"]
    assert migrations["ok"] is False
    assert f"cases.{latest.name}" in migrations["detail"]


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_connects_to_a_real_redis_broker(client, settings):
    redis = RedisServer()
    try:
        settings.CELERY_BROKER_URL = redis.url
        response = client.get(reverse("readyz"))
    finally:
        redis.stop()
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["broker"] == {"ok": True, "detail": "ok"}
