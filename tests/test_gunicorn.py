"""The production layout for real: gunicorn (gthread) serving the site in production mode,
whitenoise serving the collected static files, health endpoints, JSON logs."""

import json
import os
import re
import subprocess
import sys
import time

import pytest
import requests
from django.db import connection

from tests.servers import ROOT, database_url, free_port, wait_for_port


@pytest.fixture
def production_env(tmp_path, transactional_db):
    port = free_port()
    return {
        **os.environ,
        "DJANGO_ENV": "production",
        "SECRET_KEY": "x" * 20 + "-a-test-only-secret-key-that-is-long-enough",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url(connection.settings_dict),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "LOG_FORMAT": "json",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "4",
    }


@pytest.fixture
def gunicorn(production_env, tmp_path):
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=production_env,
        check=True,
        timeout=120,
    )
    log = tmp_path / "gunicorn.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "casesite.wsgi"],
        cwd=ROOT,
        env=production_env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(int(production_env["PORT"]), timeout=30)
        yield f"http://127.0.0.1:{production_env['PORT']}", log
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_gunicorn_serves_the_site_static_files_and_health_checks_in_production_mode(gunicorn):
    base, log = gunicorn

    assert requests.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text

    # As the reverse proxy passes it on: the request came in over HTTPS.
    login = requests.get(f"{base}/accounts/login/", timeout=10, headers={"X-Forwarded-Proto": "https"})
    assert login.status_code == 200 and "Sign in" in login.text
    assert login.headers["Strict-Transport-Security"].startswith("max-age=")
    stylesheet = re.search(r'href="(/static/css/portal\.[0-9a-f]+\.css)"', login.text).group(1)
    css = requests.get(f"{base}{stylesheet}", timeout=10, headers={"Accept-Encoding": "gzip"})
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    assert "immutable" in css.headers["Cache-Control"]  # whitenoise, for a hashed file name
    assert requests.get(f"{base}/cases/", timeout=10, allow_redirects=False).status_code == 302

    time.sleep(0.5)  # let the workers flush their log lines
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert any("gthread" in line["message"] for line in lines)
    requests_logged = {(line["path"], line["status"]) for line in lines if line["logger"] == "cases.requests"}
    assert {
        ("/healthz", 200),
        ("/readyz", 200),
        ("/accounts/login/", 200),
        ("/cases/", 302),
    } <= requests_logged
