"""make run's demo preparation, and a stream pointed at a Kore-compatible server in another process."""

import subprocess
import sys

import pytest
from django.core.management import call_command

from cases.delivery.connection import stream_check
from cases.delivery.submit import build_case_body, case_submit
from cases.kore.simulator import load_apps_file
from cases.models import Case, CaseTemplate, Stream
from tests.servers import ROOT, free_port, wait_for_port

pytestmark = pytest.mark.django_db


def test_the_demo_has_an_admin_a_simulator_stream_and_two_templates(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path
    settings.KORE_SIMULATOR_APPS_FILE = tmp_path / "apps.json"
    monkeypatch.setenv("DEMO_PASSWORD", "demo-password-123")
    call_command("prepare_demo", port=8123)

    stream = Stream.objects.get()
    assert stream.host == "http://127.0.0.1:8123/simulator"
    assert CaseTemplate.objects.filter(stream=stream, is_active=True).count() == 2
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("demo-password-123") and admin.is_staff
    from cases.people import roles

    for username, role in (("agent", roles.AGENT), ("viewer", roles.VIEWER)):
        person = get_user_model().objects.get(username=username)
        assert roles.role_of(person) == role and list(person.member_streams.all()) == [stream]
        assert person.check_password("demo-password-123")
    apps = load_apps_file(settings.KORE_SIMULATOR_APPS_FILE)
    assert apps[0]["client_id"] == stream.client_id and apps[0]["secret"] == stream.client_secret


def test_running_the_demo_again_keeps_data_and_follows_the_port(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path
    settings.KORE_SIMULATOR_APPS_FILE = tmp_path / "apps.json"
    monkeypatch.delenv("DEMO_PASSWORD", raising=False)
    call_command("prepare_demo", port=8000)
    password = (tmp_path / "demo-password").read_text()
    secret = Stream.objects.get().client_secret
    call_command("prepare_demo", port=9001)

    stream = Stream.objects.get()
    assert stream.host == "http://127.0.0.1:9001/simulator"
    assert stream.client_secret == secret
    assert CaseTemplate.objects.count() == 2
    assert (tmp_path / "demo-password").read_text() == password


@pytest.mark.django_db(transaction=True)
def test_a_stream_pointed_at_a_kore_compatible_server_in_another_process_works(
    template, django_capture_on_commit_callbacks
):
    port = free_port()
    secret = "standalone-secret-0123456789abcdefgh"
    server = subprocess.Popen(
        [sys.executable, "manage.py", "kore_simulator", "--port", str(port)]
        + ["--app", f"cs-standalone:{secret}"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=30)
        stream = template.stream
        stream.host, stream.client_id = f"http://127.0.0.1:{port}", "cs-standalone"
        stream.set_client_secret(secret)
        stream.save()
        assert stream_check(stream=stream).ok

        with django_capture_on_commit_callbacks(execute=True):
            data = {"name": "Across processes", "desc": "d", "emailId": "x@example.com"}
            case = case_submit(template=template, body=build_case_body(template=template, data=data))
        case.refresh_from_db()
        assert case.state == Case.State.DELIVERED
        assert case.ref_id == "CS00000001"
    finally:
        server.terminate()
        server.wait(timeout=10)
