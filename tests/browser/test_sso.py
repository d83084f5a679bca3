"""Single sign-on in a real browser: the portal, a real, certified OpenID provider (oidc-provider,
tests/oidc/, with its own sign-in and sign-out pages) on another origin, and back; signing out at
both; a tampered ID token; and the break-glass form under OIDC_ONLY. Nothing leaves loopback."""

from __future__ import annotations

import copy
import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from cases.models import AuditEvent
from cases.people import roles
from tests.browser.pages import check_accessibility, screenshot, sign_in
from tests.factories import StreamFactory, UserFactory

DANA = {
    "sub": "00u-dana-1",
    "email": "dana@example.com",
    "email_verified": True,
    "name": "Dana Scully",
    "preferred_username": "dana.scully",
}


@pytest.fixture
def browser_idp(idp, live_server, settings):
    """The provider (it knows the live server's callback and sign-in page: see the idp fixture),
    and the portal's pages allowing the sign-out form to continue at the provider (what
    settings.py does when OIDC_ISSUER is set)."""
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"].append(idp.issuer)
    settings.CONTENT_SECURITY_POLICY = policy
    return idp


@pytest.fixture
def hosts_asked(page):
    """Every host the browser sends a request to."""
    hosts: set[str] = set()
    page.on("request", lambda request: hosts.add(urlsplit(request.url).hostname))
    return hosts


def sign_in_at_the_provider(page, login: str, password: str) -> None:
    expect(page.get_by_role("heading", name="Sign in to Test IdP")).to_be_visible()
    page.get_by_label("IdP username").fill(login)
    page.get_by_label("IdP password").fill(password)
    page.get_by_role("button", name="Continue").click()


def test_signing_in_and_out_with_the_identity_provider(page, browser_idp, settings, hosts_asked):
    emea = StreamFactory(name="Support EMEA")
    settings.OIDC_ROLE_MAP = f'{{"support-emea": {{"role": "agent", "streams": ["{emea.stream_id}"]}}}}'
    browser_idp.add_account("dana.scully", "idp password 1", **DANA, groups=["support-emea"])

    page.goto("/cases/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    check_accessibility(page)
    screenshot(page, "sso-sign-in-page")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    sign_in_at_the_provider(page, "dana.scully", "idp password 1")

    # Back at the portal, on the page asked for, as a new agent of the mapped stream.
    expect(page.get_by_role("heading", level=1, name=re.compile(r"^Cases"))).to_be_visible()
    expect(page).to_have_url(re.compile(r"/cases/$"))
    expect(page.get_by_role("link", name="dana.scully")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "sso-signed-in")
    dana = get_user_model().objects.get(username="dana.scully")
    assert roles.role_of(dana) == roles.AGENT
    assert list(dana.member_streams.values_list("name", flat=True)) == ["Support EMEA"]

    # Signing out ends the portal session, then the provider's (it asks to confirm), then comes
    # back to sign-in.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign out of Test IdP?")).to_be_visible()
    page.get_by_role("button", name="Yes, sign me out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_role("link", name="Sign in with Test IdP")).to_be_visible()
    page.goto("/cases/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_role("link", name="Sign in with Test IdP").click()
    expect(page.get_by_role("heading", name="Sign in to Test IdP")).to_be_visible()  # asked again
    assert hosts_asked <= {"localhost", "127.0.0.1"}, hosts_asked


def test_a_tampered_id_token_shows_a_clear_page_and_signs_nobody_in(page, browser_idp, token_relay):
    browser_idp.add_account("dana.scully", "idp password 1", **DANA)
    token_relay.fault = "signature_flipped"
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    sign_in_at_the_provider(page, "dana.scully", "idp password 1")

    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Sign-in with Test IdP failed")
    expect(alert).to_contain_text("Nobody was signed in")
    check_accessibility(page)
    screenshot(page, "sso-failed")
    page.get_by_role("link", name="Back to sign-in").click()
    expect(page.get_by_role("link", name="Sign in with Test IdP")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_with_oidc_only_the_break_glass_administrator_still_signs_in(page, browser_idp, settings):
    settings.OIDC_ONLY = True
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    page.goto("/accounts/login/")
    check_accessibility(page)
    expect(page.get_by_label("Password")).to_have_count(0)

    page.goto("/accounts/login/local/")
    expect(page.get_by_role("heading", name="Break-glass sign-in")).to_be_visible()
    sign_in_at_break_glass = page.get_by_role("button", name="Sign in")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("correct horse battery staple")
    sign_in_at_break_glass.click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    screenshot(page, "sso-break-glass")
    assert AuditEvent.objects.filter(action="sign_in.break_glass", actor=root).exists()


def test_local_sign_in_still_works_when_single_sign_on_is_offered(page, browser_idp, member_user):
    sign_in(page, member_user)
