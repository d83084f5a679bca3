"""Single sign-on in a real browser: the portal, the test OpenID provider (tests/oidc_provider.py,
with its own sign-in page) on another origin, and back; signing out at both; and the
break-glass form under OIDC_ONLY."""

from __future__ import annotations

import copy
import re

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
    """The provider with a sign-in page, knowing the live server's callback and sign-in page, and
    the portal's pages allowing the sign-out form to continue at the provider (what settings.py
    does when OIDC_ISSUER is set)."""
    idp.login_form = True
    idp.redirect_uris.append(f"{live_server.url}/accounts/sso/callback/")
    idp.post_logout_redirect_uris.append(f"{live_server.url}/accounts/login/")
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"].append(idp.issuer)
    settings.CONTENT_SECURITY_POLICY = policy
    return idp


def test_signing_in_and_out_with_the_identity_provider(page, browser_idp, settings):
    emea = StreamFactory(name="Support EMEA")
    settings.OIDC_ROLE_MAP = f'{{"support-emea": {{"role": "agent", "streams": ["{emea.stream_id}"]}}}}'
    browser_idp.add_account("dana.scully", "idp password 1", **DANA, groups=["support-emea"])

    page.goto("/cases/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    check_accessibility(page)
    screenshot(page, "sso-sign-in-page")
    page.get_by_role("link", name="Sign in with Test IdP").click()

    expect(page.get_by_role("heading", name="Sign in to Test IdP")).to_be_visible()
    page.get_by_label("IdP username").fill("dana.scully")
    page.get_by_label("IdP password").fill("idp password 1")
    page.get_by_role("button", name="Continue").click()

    # Back at the portal, on the page asked for, as a new agent of the mapped stream.
    expect(page.get_by_role("heading", level=1, name=re.compile(r"^Cases"))).to_be_visible()
    expect(page).to_have_url(re.compile(r"/cases/$"))
    expect(page.get_by_role("link", name="dana.scully")).to_be_visible()
    check_accessibility(page)
    screenshot(page, "sso-signed-in")
    dana = get_user_model().objects.get(username="dana.scully")
    assert roles.role_of(dana) == roles.AGENT
    assert list(dana.member_streams.values_list("name", flat=True)) == ["Support EMEA"]

    # Signing out ends the portal session and the provider's, then comes back to sign-in.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.get_by_role("link", name="Sign in with Test IdP")).to_be_visible()
    assert [logout["sub"] for logout in browser_idp.logouts] == [DANA["sub"]]
    page.goto("/cases/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_role("link", name="Sign in with Test IdP").click()
    expect(page.get_by_role("heading", name="Sign in to Test IdP")).to_be_visible()  # asked again


def test_a_tampered_answer_shows_a_clear_page_and_signs_nobody_in(page, browser_idp):
    browser_idp.add_account("dana.scully", "idp password 1", **DANA)
    browser_idp.fault = "tampered"
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Sign in with Test IdP").click()
    page.get_by_label("IdP username").fill("dana.scully")
    page.get_by_label("IdP password").fill("idp password 1")
    page.get_by_role("button", name="Continue").click()

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
