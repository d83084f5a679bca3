"""A deploy that runs only `manage.py migrate` gets a working site: a newcomer signs in, adds a
stream and a template through their forms, submits a case and sees its refId."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import requests

from tests.servers import ROOT, free_port, wait_for_port

PASSWORD = "a-newcomers-password-42"


@pytest.fixture
def fresh_site(tmp_path):
    """A brand-new database with nothing but `migrate` run on it, served by Django's server."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}",
        "PORTAL_VAR_DIR": str(tmp_path),
        # Delivery runs as the request commits, so the case page shows the answer at once.
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        "AXES_ENABLED": "false",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [*manage, "createsuperuser", "--no-input", "--username", "newcomer", "--email", "n@example.com"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [*manage, "runserver", f"127.0.0.1:{port}", "--noreload", "--nothreading"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


class Browser:
    """A requests session that posts forms the way a browser does (CSRF cookie and token)."""

    def __init__(self, base: str):
        self.base, self.session = base, requests.Session()

    def get(self, path: str) -> requests.Response:
        response = self.session.get(self.base + path, timeout=30)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        return response

    def submit(self, path: str, fields: dict) -> requests.Response:
        self.get(path)  # the form page sets the CSRF cookie
        token = self.session.cookies["csrftoken"]
        response = self.session.post(
            self.base + path,
            data={**fields, "csrfmiddlewaretoken": token},
            headers={"Referer": self.base + path},
            timeout=30,
        )
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        assert "Please correct" not in response.text, response.text
        return response


def test_migrate_alone_serves_the_newcomer_flow(fresh_site, simulator):
    simulator.register_app("cs-newcomer", "newcomer-app-secret-0123456789abcdef", ["st-newcomer-1"])
    simulator.register_template("st-newcomer-1", "ctm-newcomer-1", "Printer trouble")
    browser = Browser(fresh_site)
    browser.submit("/accounts/login/", {"username": "newcomer", "password": PASSWORD})
    page = browser.submit(
        "/streams/new/",
        {
            "name": "Support bot",
            "host": simulator.url,
            "stream_id": "st-newcomer-1",
            "account_id": "6639f7bd58c97ffac03b0001",
            "client_id": "cs-newcomer",
            "client_secret": "newcomer-app-secret-0123456789abcdef",
            "rate_limit": "60",
            "is_active": "on",
        },
    )
    assert "Stream “Support bot” saved" in page.text
    stream_pk = re.search(r"/streams/(\d+)/edit/", page.url).group(1)
    page = browser.submit(
        "/templates/new/",
        {
            "stream": stream_pk,
            "template_id": "ctm-newcomer-1",
            "name": "Printer trouble",
            "default_source": "rtm",
            "default_due_hours": "72",
            "is_active": "on",
        },
    )
    assert "Template “Printer trouble” saved" in page.text
    template_pk = re.search(
        r'<option value="(\d+)"[^>]*>Printer trouble', browser.get("/cases/new/").text
    ).group(1)
    page = browser.submit(
        "/cases/new/",
        {"template": template_pk, "name": "Printer jammed", "desc": "Floor 3", "emailId": "dana@example.com"},
    )
    ref_id = simulator.cases[0]["refId"]
    assert simulator.created_count == 1
    assert ref_id in page.text and "Delivered" in page.text
    assert ref_id in browser.get("/cases/").text
