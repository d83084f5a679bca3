"""LOG_FORMAT=json: one JSON object per line, per request and per delivery attempt, no secrets."""

import io
import json
import logging
import os
import subprocess
import sys

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.delivery.deliver import case_deliver
from cases.models import Case
from casesite.logging import JsonFormatter
from tests.factories import TEST_CLIENT_SECRET
from tests.servers import ROOT


@pytest.fixture
def json_log():
    """Everything logged during the test, formatted as production formats it."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(previous_level)


def lines_of(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db
def test_a_case_flow_logs_json_lines_for_requests_and_attempts_without_secrets(
    json_log, staff_client, staff_user, template, simulator, django_capture_on_commit_callbacks
):
    secret = "brand-new-secret-that-must-not-leak-42"
    stream = template.stream
    staff_client.post(
        reverse("stream_edit", args=[stream.pk]) + "?token=query-value-not-logged",
        {
            "name": stream.name,
            "host": stream.host,
            "stream_id": stream.stream_id,
            "account_id": stream.account_id,
            "client_id": stream.client_id,
            "client_secret": secret,
            "rate_limit": 0,
            "is_active": "on",
        },
    )
    simulator.register_app(stream.client_id, secret, [stream.stream_id])
    simulator.inject("503")
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            reverse("case_new"),
            {
                "template": template.pk,
                "name": "Printer jammed",
                "desc": "Grinding",
                "emailId": "a@example.com",
            },
        )
    case = Case.objects.get()
    # The first attempt met a 503 and waits to retry; run the retry now rather than wait.
    Case.objects.filter(pk=case.pk).update(next_attempt_at=timezone.now())
    case_deliver(case_id=case.pk)
    case.refresh_from_db()
    assert case.state == Case.State.DELIVERED

    text = json_log.getvalue()
    lines = lines_of(json_log)  # every line parses as JSON
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)

    requests = [line for line in lines if line["logger"] == "cases.requests"]
    submit = next(line for line in requests if line["path"] == reverse("case_new"))
    assert submit["method"] == "POST" and submit["status"] == 302
    assert submit["user"] == staff_user.pk and submit["duration_ms"] >= 0
    edit = next(line for line in requests if line["path"] == reverse("stream_edit", args=[stream.pk]))
    assert "token" not in json.dumps(edit)

    attempts = [line for line in lines if line.get("case_id") == case.pk and "outcome" in line]
    assert [(a["outcome"], a["http_status"]) for a in attempts] == [("unavailable", 503), ("delivered", 200)]
    assert attempts[-1]["ref_id"] == case.ref_id and case.ref_id.startswith("CS")
    assert all(isinstance(a["duration_ms"], int) for a in attempts)

    for leaked in (secret, TEST_CLIENT_SECRET, "query-value-not-logged", "correct horse battery staple"):
        assert leaked not in text


def test_log_format_json_makes_every_line_a_json_object():
    code = (
        "import django, logging; django.setup();"
        "logging.getLogger('cases.delivery.outcomes')"
        ".info('case %s delivered', 7, extra={'case_id': 7, 'ref_id': 'CS1'})"
    )
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "casesite.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "case 7 delivered"
    assert line["case_id"] == 7 and line["ref_id"] == "CS1"
    assert line["level"] == "INFO" and line["logger"] == "cases.delivery.outcomes"
