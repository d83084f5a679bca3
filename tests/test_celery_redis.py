"""Delivery through a real Redis broker and real Celery worker processes, including kill -9."""

from __future__ import annotations

import json
import os
import time

import pytest
from django.db import connection
from kombu import Connection

from cases.delivery.tasks import deliver_case
from cases.models import Case
from casesite.celery import app as celery_app
from tests.factories import CaseFactory
from tests.servers import CeleryWorker, RedisServer, database_url

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def published_for_real():
    """Tasks go to the broker instead of running in the test process."""
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = True


@pytest.fixture
def worker_env(redis_server, stream):
    return {
        # The test database (test_<name> on PostgreSQL, a file on SQLite), not the real one.
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": redis_server.url,
        "CACHE_URL": redis_server.url.replace("/0", "/1"),
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "PORTAL_SECRET_KEYS": os.environ["PORTAL_SECRET_KEYS"],
        "KORE_READ_TIMEOUT": "5",
        "KORE_RETRY_BASE_SECONDS": "0.2",
        "KORE_RETRY_MAX_SECONDS": "1",
    }


@pytest.fixture
def workers():
    started: list[CeleryWorker] = []

    def start(env, **kwargs) -> CeleryWorker:
        worker = CeleryWorker(env, **kwargs)
        started.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


def publish(redis_url: str, case_ids) -> None:
    with Connection(redis_url) as conn:
        for case_id in case_ids:
            deliver_case.apply_async(args=[case_id], connection=conn)


def wait_until(predicate, *, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(message)


def test_cases_are_delivered_by_a_real_worker_through_redis(
    redis_server, worker_env, workers, template, simulator, published_for_real
):
    cases = CaseFactory.create_batch(5, template=template)
    simulator.inject("503")
    workers(worker_env, name="w1")
    publish(redis_server.url, [case.pk for case in cases])

    wait_until(
        lambda: Case.objects.filter(state=Case.State.DELIVERED).count() == 5,
        timeout=30,
        message=f"not all delivered: {list(Case.objects.values_list('state', flat=True))}",
    )
    assert simulator.created_count == 5


def test_a_worker_killed_mid_delivery_loses_nothing_and_doubles_nothing(
    redis_server, worker_env, workers, template, simulator, published_for_real
):
    case = CaseFactory(template=template)
    simulator.set_latency(2.0)
    first = workers(worker_env, name="doomed", concurrency=1)
    publish(redis_server.url, [case.pk])
    wait_until(
        lambda: Case.objects.get(pk=case.pk).state == Case.State.SENDING, timeout=15, message="never sent"
    )
    time.sleep(0.3)  # the request is on the wire, inside the simulator's latency
    first.kill_hard()
    time.sleep(2.0)  # the simulator finishes creating the case; nobody hears the answer
    assert simulator.created_count == 1
    simulator.set_latency(0)

    restarted_env = {**worker_env, "KORE_SENDING_TIMEOUT_SECONDS": "1", "KORE_SWEEP_INTERVAL_SECONDS": "1"}
    workers(restarted_env, name="restarted", concurrency=1, beat=True)
    wait_until(
        lambda: Case.objects.get(pk=case.pk).state == Case.State.DELIVERED,
        timeout=40,
        message=f"not delivered after restart: {Case.objects.get(pk=case.pk).state}",
    )
    case.refresh_from_db()
    assert simulator.created_count == 1
    assert case.kore_id == simulator.cases[0]["_id"]
    assert case.attempts.filter(outcome="adopted").exists()


def test_pacing_holds_across_two_worker_processes(
    redis_server, worker_env, workers, template, simulator, published_for_real
):
    stream = template.stream
    stream.rate_limit = 20
    stream.save()
    # 20 per 2 s: slots of about 105 ms, so a request may reach Kore up to ~50 ms late and still
    # count in its own window, even on a busy CI machine.
    simulator.set_rate_limit(20, 2.0)
    cases = CaseFactory.create_batch(150, template=template)
    env = {**worker_env, "KORE_RATE_WINDOW_SECONDS": "2", "KORE_PACING_HORIZON_SECONDS": "1"}
    workers(env, name="pace1", concurrency=3)
    workers(env, name="pace2", concurrency=3)
    started = time.monotonic()
    publish(redis_server.url, [case.pk for case in cases])

    wait_until(
        lambda: Case.objects.filter(state=Case.State.DELIVERED).count() == 150,
        timeout=90,
        message=f"backlog not drained: {Case.objects.count_by_state()}",
    )
    elapsed = time.monotonic() - started
    assert simulator.rate_limited_count == 0
    assert simulator.created_count == 150
    # 150 cases at 19 per 2 s cannot take less than about 15.8 s: the pacing really paced.
    assert elapsed > 14


def test_a_worker_with_log_format_json_logs_each_attempt_as_a_json_line(
    redis_server, worker_env, workers, template, simulator, published_for_real
):
    case = CaseFactory(template=template)
    worker = workers({**worker_env, "LOG_FORMAT": "json"}, name="jsonlog", concurrency=1)
    publish(redis_server.url, [case.pk])
    wait_until(
        lambda: Case.objects.get(pk=case.pk).state == Case.State.DELIVERED,
        timeout=30,
        message="not delivered",
    )
    case.refresh_from_db()
    time.sleep(0.5)  # the log line follows the commit
    lines = [json.loads(line) for line in worker.log.read_text().splitlines() if line.startswith("{")]
    attempt = next(line for line in lines if line.get("case_id") == case.pk)
    assert attempt["ref_id"] == case.ref_id and attempt["outcome"] == "delivered"
    assert attempt["http_status"] == 200 and isinstance(attempt["duration_ms"], int)
    assert os.environ["PORTAL_SECRET_KEYS"] not in worker.log.read_text()


def test_a_case_titled_with_kores_rate_limit_sentence_is_delivered_once(
    redis_server, worker_env, workers, template, simulator, published_for_real
):
    """An IT-support case about exactly that error: Kore's 200 repeats the title, and that is
    a created case, not a refusal to retry."""
    sentence = "You've exceeded the per-minute rate limit. Please wait for sometime before retrying."
    case = CaseFactory(template=template, name=sentence, desc=f"The bot keeps saying: {sentence}")
    workers(worker_env, name="sentence", concurrency=1)
    publish(redis_server.url, [case.pk])
    wait_until(
        lambda: Case.objects.get(pk=case.pk).state == Case.State.DELIVERED,
        timeout=30,
        message=f"not delivered: {Case.objects.get(pk=case.pk).state}",
    )
    time.sleep(1.0)  # room for a wrong retry to reach the simulator
    case.refresh_from_db()
    assert simulator.created_count == 1
    assert list(case.attempts.values_list("outcome", flat=True)) == ["delivered"]


def test_a_worker_killed_mid_update_applies_the_change_once_after_a_restart(
    redis_server, worker_env, workers, worked_case, simulator, published_for_real
):
    """The update reaches Kore, the worker dies before hearing the answer; after a restart the
    sweep takes the change back, the case is read back, and the change is found made: confirmed
    without a second updateCase."""
    from cases.actions.changes import Wanted, case_change
    from cases.actions.tasks import deliver_action
    from cases.models import CaseAction, KoreStatus

    resolved = KoreStatus.objects.get(stream=worked_case.stream, name="Resolved")
    body, shown = case_change(worked_case, Wanted(status=resolved))
    action = CaseAction.objects.create(
        case=worked_case, body=body, changes=shown, based_on=worked_case.kore_updated_at
    )
    simulator.set_latency(2.0)
    first = workers(worker_env, name="doomed-update", concurrency=1)
    with Connection(redis_server.url) as conn:
        deliver_action.apply_async(args=[action.pk], connection=conn)
    wait_until(
        lambda: CaseAction.objects.get(pk=action.pk).state == CaseAction.State.SENDING,
        timeout=15,
        message="never sent",
    )
    time.sleep(0.3)  # the request is on the wire, inside the simulator's latency
    first.kill_hard()
    time.sleep(2.0)  # Kore makes the change; nobody hears the answer
    assert simulator.calls["updateCase"] == 1
    assert simulator.store.find(worked_case.kore_id).doc["status"]["name"] == "Resolved"
    simulator.set_latency(0)

    restarted_env = {**worker_env, "KORE_SENDING_TIMEOUT_SECONDS": "1", "KORE_SWEEP_INTERVAL_SECONDS": "1"}
    workers(restarted_env, name="restarted-update", concurrency=1, beat=True)
    wait_until(
        lambda: CaseAction.objects.get(pk=action.pk).state == CaseAction.State.CONFIRMED,
        timeout=40,
        message=f"not confirmed after restart: {CaseAction.objects.get(pk=action.pk).state}",
    )
    action.refresh_from_db()
    worked_case.refresh_from_db()
    assert simulator.calls["updateCase"] == 1  # applied once: read back, never sent again
    assert simulator.calls["getCases"] >= 1
    assert "lost request had made it" in action.last_error
    assert worked_case.status_name == "Resolved"
    assert list(worked_case.changes.values_list("field", "new_value")) == [("status", "Resolved")]
