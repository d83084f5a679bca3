"""Sign-in lockout, security headers, CSRF on every form, production checks."""

import os
import secrets
import subprocess
import sys

import pytest
from django.urls import reverse

from tests.servers import ROOT

pytestmark = pytest.mark.django_db


def test_repeated_failed_sign_ins_lock_the_account_out(client, member_user):
    for _ in range(5):
        client.post(reverse("login"), {"username": "bob", "password": "wrong"})
    locked = client.post(reverse("login"), {"username": "bob", "password": "correct horse battery staple"})
    assert locked.status_code == 429
    assert b"Sign-in locked" in locked.content
    assert "_auth_user_id" not in client.session


def test_a_successful_sign_in_resets_the_count(client, member_user):
    for _ in range(4):
        client.post(reverse("login"), {"username": "bob", "password": "wrong"})
    client.post(reverse("login"), {"username": "bob", "password": "correct horse battery staple"})
    client.logout()
    for _ in range(4):
        client.post(reverse("login"), {"username": "bob", "password": "wrong"})
    ok = client.post(reverse("login"), {"username": "bob", "password": "correct horse battery staple"})
    assert ok.status_code == 302


def test_pages_carry_a_strict_content_security_policy(member_client):
    response = member_client.get(reverse("case_list"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize(
    "name", ["home", "case_list", "case_new", "stream_new", "template_new", "import_new", "api_docs"]
)
def test_no_page_has_inline_script_or_style(staff_client, name):
    html = staff_client.get(reverse(name)).content.decode()
    assert "<script>" not in html and "style=" not in html
    for tag in html.split("<script")[1:]:
        assert "src=" in tag.split(">", 1)[0], "an inline <script> would be blocked by the CSP"


def test_every_post_form_needs_its_csrf_token(member_user, template):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member_user)
    for url in (reverse("case_new"), reverse("logout"), reverse("import_new")):
        assert strict.post(url, {}).status_code == 403


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "portal.example.com",
        "PORTAL_SECRET_KEYS": os.environ["PORTAL_SECRET_KEYS"],
        "PORTAL_VAR_DIR": str(tmp_path),
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set by the browser tests for their own process
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_real_secret_key(tmp_path):
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "SECRET_KEY": "",
        "ALLOWED_HOSTS": "x",
        "PORTAL_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
