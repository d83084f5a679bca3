"""Single sign-on with OpenID Connect (issue 17), against a real, certified OpenID provider on
loopback (oidc-provider, tests/oidc/): the whole code flow over HTTP, the person's side at the
provider driven with ``requests`` through its own sign-in and sign-out pages; the people it
makes and links from the person's claims (at userinfo, as the provider gives them by default, or
in the ID token), roles from groups, signing out at the provider, and every way it can fail (ID
tokens the provider signed and userinfo answers, altered by a relay in front of its endpoints)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError
from django.test import Client
from django.urls import reverse

from cases.models import AuditEvent, OIDCIdentity, SignedInSession
from cases.people import roles
from cases.sso.config import check_role_map, parse_role_map
from cases.sso.provider import forget_provider_clients
from tests.conftest import CLAIMS_AT_USERINFO, CLAIMS_IN_ID_TOKEN, IDP_CLIENT_ID, IDP_CLIENT_SECRET
from tests.factories import StreamFactory, UserFactory
from tests.oidc.idp import USERINFO_FAULTS, ProviderBrowser, RealProvider, query

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "correct horse battery staple"
ROOT = Path(__file__).resolve().parent.parent

DANA = {
    "sub": "00u-dana-1",
    "email": "dana@example.com",
    "email_verified": True,
    "name": "Dana Scully",
    "given_name": "Dana",
    "family_name": "Scully",
    "preferred_username": "dana",
}


def to_the_provider(client: Client, *, next_url: str | None = None) -> str:
    """The portal's sign-in button: the authorization URL at the provider it sends the browser to."""
    start = client.get(reverse("sso_start"), {"next": next_url} if next_url else {})
    assert start.status_code == 302, start.content
    return start.url


def to_the_provider_and_back(
    idp: RealProvider,
    client: Client,
    *,
    next_url: str | None = None,
    at_provider: ProviderBrowser | None = None,
) -> str:
    """What a browser does: the portal sends it to the provider, where the person signs in on
    the provider's page (as ``idp.sign_in_as`` chose; a new browser there unless given one), and
    the provider sends it back to the portal's callback. Returns that callback URL."""
    return (at_provider or ProviderBrowser(idp)).authorize(to_the_provider(client, next_url=next_url))


def sso_sign_in(idp: RealProvider, client: Client, **kwargs):
    return client.get(to_the_provider_and_back(idp, client, **kwargs))


def signed_in_user(client: Client):
    response = client.get(reverse("account"))
    return response.context["user"] if response.status_code == 200 else None


def id_token_of(client: Client) -> dict:
    """What the ID token of the browser's single sign-on says (its signature was checked)."""
    return jwt.decode(client.session["sso"]["id_token"], options={"verify_signature": False})


def without(claims: dict, *names: str) -> dict:
    return {key: value for key, value in claims.items() if key not in names}


def failures(reason: str | None = None):
    events = AuditEvent.objects.filter(action="sso.failed")
    return events.filter(details__reason=reason) if reason else events


# --- The sign-in page ----------------------------------------------------------------------


def test_the_sign_in_page_offers_the_provider_and_keeps_the_local_form(client, idp):
    content = client.get(reverse("login"), {"next": "/cases/"}).content.decode()
    assert "Sign in with Test IdP" in content
    assert f"{reverse('sso_start')}?next=%2Fcases%2F" in content
    assert 'name="username"' in content and 'name="password"' in content


def test_local_sign_in_still_works_beside_single_sign_on(client, idp, member_user):
    response = client.post(reverse("login"), {"username": member_user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert signed_in_user(client) == member_user


def test_without_an_issuer_the_sign_in_page_is_as_before(client, settings):
    settings.OIDC_ISSUER = ""
    content = client.get(reverse("login")).content.decode()
    assert "Sign in with" not in content and 'name="password"' in content
    assert client.get(reverse("sso_start")).status_code == 404
    assert client.get(reverse("sso_callback")).status_code == 404


# --- Just-in-time people, matched by issuer and subject -----------------------------------


@pytest.mark.parametrize("idp", [CLAIMS_AT_USERINFO, CLAIMS_IN_ID_TOKEN], indirect=True)
def test_the_first_sign_in_creates_the_person_from_the_providers_claims(client, idp, token_relay):
    idp.sign_in_as(**DANA)
    response = sso_sign_in(idp, client)

    assert response.status_code == 302 and response.url == "/"
    dana = User.objects.get(username="dana")
    assert signed_in_user(client) == dana
    assert (dana.email, dana.first_name, dana.last_name) == ("dana@example.com", "Dana", "Scully")
    assert not dana.has_usable_password()
    assert roles.role_of(dana) == roles.VIEWER and not dana.member_streams.exists()
    assert OIDCIdentity.objects.get(user=dana).issuer == idp.issuer
    assert SignedInSession.objects.filter(user=dana).count() == 1
    actions = set(AuditEvent.objects.filter(target_id=str(dana.pk)).values_list("action", flat=True))
    assert {"sso.user_created", "sso.signed_in"} <= actions
    # The code was exchanged with a PKCE verifier (the provider requires one), and no token ever
    # reached the audit trail.
    assert token_relay.requests[0]["code_verifier"]
    assert "eyJ" not in str(list(AuditEvent.objects.values()))
    # Userinfo was asked only when the ID token lacked the person's claims.
    in_id_token = "email" in id_token_of(client)
    assert token_relay.userinfo_calls == (0 if in_id_token else 1)


def test_later_sign_ins_update_name_and_email_but_keep_the_username(client, idp):
    idp.sign_in_as(**DANA)
    sso_sign_in(idp, client)
    idp.sign_in_as(
        **{**DANA, "email": "dana.scully@example.com", "given_name": "Dana K.", "preferred_username": "dks"}
    )
    browser = Client()
    sso_sign_in(idp, browser)

    dana = User.objects.get()
    assert signed_in_user(browser) == dana
    assert (dana.username, dana.email, dana.first_name) == ("dana", "dana.scully@example.com", "Dana K.")
    assert AuditEvent.objects.filter(action="user.changed", target_id=str(dana.pk)).exists()


@pytest.mark.parametrize("verified", [False, None], ids=["not-verified", "not-said"])
def test_later_sign_ins_keep_the_email_the_provider_does_not_say_is_verified(client, idp, verified):
    idp.sign_in_as(**DANA)
    sso_sign_in(idp, client)
    changed = {**DANA, "email": "someone@example.net", "given_name": "Dana K.", "email_verified": verified}
    idp.sign_in_as(**{key: value for key, value in changed.items() if value is not None})
    sso_sign_in(idp, Client())

    dana = User.objects.get()
    assert (dana.email, dana.first_name) == ("dana@example.com", "Dana K.")


def test_people_are_matched_by_issuer_and_subject_not_by_name_or_email(client, idp):
    idp.sign_in_as(**DANA)
    sso_sign_in(idp, client)
    # Another person at the same provider, with Dana's username and an unverified e-mail: never Dana.
    idp.sign_in_as(sub="00u-other", preferred_username="dana", email="other@example.com")
    other = Client()
    sso_sign_in(idp, other)
    assert signed_in_user(other).username == "dana-2"
    assert User.objects.count() == 2


def test_the_same_subject_at_another_issuer_is_another_person(client, idp, settings):
    idp.sign_in_as(**{**DANA, "email_verified": False, "email": ""})
    sso_sign_in(idp, client)
    second = RealProvider(
        client_id=IDP_CLIENT_ID,
        client_secret=IDP_CLIENT_SECRET,
        redirect_uris=["http://testserver/accounts/sso/callback/"],
    )
    with second:
        settings.OIDC_ISSUER = second.issuer
        second.sign_in_as(**{**DANA, "email_verified": False, "email": ""})
        browser = Client()
        sso_sign_in(second, browser)
        assert signed_in_user(browser) != signed_in_user(client)
    assert sorted(OIDCIdentity.objects.values_list("subject", flat=True)) == [DANA["sub"]] * 2


def test_a_local_username_is_never_a_reason_to_link(client, idp):
    UserFactory(username="dana", email="someone@example.com")
    idp.sign_in_as(**DANA)
    sso_sign_in(idp, client)
    assert signed_in_user(client).username == "dana-2"


# --- Linking an existing local account ------------------------------------------------------


def test_a_verified_email_of_exactly_one_active_account_links_that_account(client, idp):
    local = UserFactory(username="dscully", email="Dana@Example.com", role=roles.AGENT)
    idp.sign_in_as(**DANA)
    sso_sign_in(idp, client)

    assert signed_in_user(client) == local
    assert User.objects.count() == 1
    assert OIDCIdentity.objects.get().user == local
    assert roles.role_of(local) == roles.AGENT  # without a role map, access stays as it was
    link = AuditEvent.objects.get(action="sso.account_linked")
    assert link.target_id == str(local.pk) and link.details["subject"] == DANA["sub"]
    # The link holds: the next sign-in needs no e-mail at all.
    idp.sign_in_as(sub=DANA["sub"])
    browser = Client()
    sso_sign_in(idp, browser)
    assert signed_in_user(browser) == local


@pytest.mark.parametrize(
    ("accounts", "verified", "words"),
    [
        ([{"is_active": True}], False, "does not say that address is verified"),
        ([{"is_active": True}, {"is_active": True}], True, "Several portal accounts"),
        ([{"is_active": False}], True, "is deactivated"),
    ],
    ids=["unverified", "two-accounts", "deactivated"],
)
def test_an_email_that_cannot_be_linked_safely_is_refused(client, idp, accounts, verified, words):
    for n, account in enumerate(accounts):
        UserFactory(username=f"local{n}", email="dana@example.com", **account)
    idp.sign_in_as(**{**DANA, "email_verified": verified})
    response = sso_sign_in(idp, client)

    assert response.status_code == 403
    assert words in response.content.decode()
    assert "Nobody was signed in" in response.content.decode()
    assert signed_in_user(client) is None
    assert User.objects.count() == len(accounts) and not OIDCIdentity.objects.exists()
    assert failures("account_refused").count() == 1


@pytest.mark.parametrize("at", ["this issuer", "another issuer"])
def test_an_account_linked_to_another_identity_is_not_linked_again(client, idp, at):
    local = UserFactory(username="dscully", email="dana@example.com")
    issuer = idp.issuer if at == "this issuer" else "https://old-idp.example.com"
    OIDCIdentity.objects.create(user=local, issuer=issuer, subject="00u-older")
    idp.sign_in_as(**DANA)
    response = sso_sign_in(idp, client)
    assert response.status_code == 403 and "already linked" in response.content.decode()
    assert User.objects.count() == 1 and failures("account_refused").count() == 1


@pytest.mark.parametrize("other", ["deactivated", "made by single sign-on"])
def test_only_active_local_accounts_count_when_linking(client, idp, other):
    """The e-mail's one active local account is linked, whatever deactivated accounts or
    accounts of other single sign-on identities share the e-mail."""
    if other == "deactivated":
        UserFactory(username="dana-old", email="dana@example.com", is_active=False)
    else:
        elsewhere = UserFactory(username="dana-elsewhere", email="dana@example.com")
        OIDCIdentity.objects.create(user=elsewhere, issuer=idp.issuer, subject="00u-someone-else")
    local = UserFactory(username="dscully", email="dana@example.com")
    idp.sign_in_as(**DANA)
    response = sso_sign_in(idp, client)

    assert response.status_code == 302, response.content
    assert signed_in_user(client) == local
    assert OIDCIdentity.objects.get(subject=DANA["sub"]).user == local
    assert AuditEvent.objects.get(action="sso.account_linked").target_id == str(local.pk)


def test_a_deactivated_person_cannot_sign_in_with_the_provider(client, idp):
    idp.sign_in_as(**DANA)
    sso_sign_in(idp, client)
    User.objects.filter(username="dana").update(is_active=False)
    browser = Client()
    response = sso_sign_in(idp, browser)
    assert response.status_code == 403 and "deactivated" in response.content.decode()
    assert signed_in_user(browser) is None


# --- Roles and streams from groups ----------------------------------------------------------


@pytest.fixture
def three_streams(db):
    return StreamFactory(name="EMEA"), StreamFactory(name="Billing"), StreamFactory(name="Labs")


@pytest.fixture
def role_map(settings, three_streams):
    emea, billing, _labs = three_streams
    settings.OIDC_ROLE_MAP = (
        '{"case-admins": {"role": "administrator"},'
        f' "support-emea": {{"role": "agent", "streams": ["{emea.stream_id}"]}},'
        f' "billing-readers": {{"role": "viewer", "streams": ["{billing.stream_id}"]}}}}'
    )


def role_now(user) -> str | None:
    """The role as the database has it now (a user object keeps the permissions it read)."""
    return roles.role_of(User.objects.get(pk=user.pk))


def stream_names(user) -> list[str]:
    return sorted(user.member_streams.values_list("name", flat=True))


def test_the_role_map_gives_the_highest_role_and_every_mapped_stream(client, idp, role_map):
    idp.sign_in_as(**DANA, groups=["billing-readers", "support-emea", "coffee-club"])
    sso_sign_in(idp, client)
    dana = User.objects.get(username="dana")
    assert role_now(dana) == roles.AGENT
    assert stream_names(dana) == ["Billing", "EMEA"]
    assert client.get(reverse("case_new")).status_code == 200


def test_the_role_map_applies_at_each_sign_in_and_replaces_only_what_it_controls(
    client, idp, role_map, three_streams
):
    _emea, _billing, labs = three_streams
    idp.sign_in_as(**DANA, groups=["support-emea"])
    sso_sign_in(idp, client)
    dana = User.objects.get(username="dana")
    dana.member_streams.add(labs)  # an administrator's own choice: Labs is not in the map

    idp.sign_in_as(**DANA, groups=["billing-readers"])
    sso_sign_in(idp, Client())
    assert role_now(dana) == roles.VIEWER
    assert stream_names(dana) == ["Billing", "Labs"]
    change = AuditEvent.objects.filter(action="user.access_changed", target_id=str(dana.pk)).first()
    assert change.details["source"] == "single sign-on" and change.details["role"] == "viewer"

    idp.sign_in_as(**DANA, groups=["case-admins"])
    sso_sign_in(idp, Client())
    assert role_now(dana) == roles.ADMINISTRATOR

    # Out of every mapped group: a viewer of nothing the map hands out.
    idp.sign_in_as(**DANA)
    sso_sign_in(idp, Client())
    assert role_now(dana) == roles.VIEWER and stream_names(dana) == ["Labs"]


def test_streams_the_role_map_gives_that_match_no_stream_are_recorded_at_sign_in(
    client, idp, settings, three_streams, caplog
):
    emea = three_streams[0]
    settings.OIDC_ROLE_MAP = json.dumps(
        {
            "support-emea": {"role": "agent", "streams": [emea.stream_id, "st-no-such-stream"]},
            "billing-readers": {"streams": ["st-not-hers-either"]},
        }
    )
    idp.sign_in_as(**DANA, groups=["support-emea"])
    with caplog.at_level(logging.WARNING, logger="cases.sso"):
        sso_sign_in(idp, client)

    dana = User.objects.get(username="dana")
    assert role_now(dana) == roles.AGENT and stream_names(dana) == ["EMEA"]
    signed_in = AuditEvent.objects.get(action="sso.signed_in")
    assert signed_in.details["unknown_streams"] == ["st-no-such-stream"]
    assert "st-no-such-stream" in caplog.text
    assert IDP_CLIENT_SECRET not in caplog.text and "eyJ" not in caplog.text


def test_superusers_are_never_demoted_by_the_role_map(client, idp, role_map, three_streams):
    root = UserFactory(username="root", email="dana@example.com", is_superuser=True, is_staff=True)
    roles.set_role(root, roles.ADMINISTRATOR)
    root.member_streams.add(three_streams[2])
    idp.sign_in_as(**DANA, groups=["billing-readers"])
    sso_sign_in(idp, client)

    root.refresh_from_db()
    assert signed_in_user(client) == root
    assert root.is_superuser and root.is_staff
    assert role_now(root) == roles.ADMINISTRATOR and stream_names(root) == ["Labs"]


def test_without_a_role_map_a_new_person_is_a_viewer_of_no_stream_and_later_left_alone(client, idp):
    StreamFactory(name="EMEA")
    idp.sign_in_as(**DANA, groups=["case-admins"])
    sso_sign_in(idp, client)
    dana = User.objects.get(username="dana")
    assert role_now(dana) == roles.VIEWER and stream_names(dana) == []

    roles.set_role(dana, roles.AGENT)  # an administrator sets them up, as today
    sso_sign_in(idp, Client())
    assert role_now(dana) == roles.AGENT


def test_a_role_map_that_is_not_right_stops_the_portal_at_startup():
    assert parse_role_map("") == {}
    grant = parse_role_map('{"g": {"role": "agent", "streams": ["st-1"]}}')["g"]
    assert (grant.role, grant.streams) == ("agent", ("st-1",))
    for text, words in [
        ("{not json", "not JSON"),
        ('["g"]', "JSON object"),
        ('{"g": {"role": "owner"}}', "one of administrator, agent, viewer"),
        ('{"g": {"streams": "st-1"}}', "list of Kore stream ids"),
        ('{"g": {"rights": "all"}}', '"role", "streams" or both'),
    ]:
        with pytest.raises(ImproperlyConfigured, match=words):
            parse_role_map(text)


def test_the_startup_check_names_a_bad_role_map(settings):
    settings.OIDC_ROLE_MAP = '{"g": {"role": "owner"}}'
    (error,) = check_role_map()
    assert error.id == "cases.sso.E001" and "one of administrator, agent, viewer" in error.msg


# --- The person's claims: at userinfo, or in the ID token ------------------------------------


def test_claims_at_userinfo_make_the_person_with_the_role_their_groups_map_to(
    client, idp, token_relay, role_map
):
    idp.sign_in_as(**DANA, groups=["support-emea"])
    response = sso_sign_in(idp, client)

    assert response.status_code == 302 and response.url == "/"
    assert set(id_token_of(client)).isdisjoint({"email", "name", "preferred_username", "groups"})
    assert token_relay.userinfo_calls == 1
    dana = User.objects.get(username="dana")
    assert signed_in_user(client) == dana
    assert (dana.email, dana.first_name, dana.last_name) == ("dana@example.com", "Dana", "Scully")
    assert role_now(dana) == roles.AGENT and stream_names(dana) == ["EMEA"]


@pytest.mark.parametrize("idp", [CLAIMS_IN_ID_TOKEN], indirect=True)
def test_userinfo_is_not_asked_when_the_id_token_says_everything(client, idp, token_relay, role_map):
    token_relay.userinfo_fault = "no_answer"  # asked, it would fail the sign-in
    idp.sign_in_as(**DANA, groups=["support-emea"])
    response = sso_sign_in(idp, client)

    assert response.status_code == 302 and token_relay.userinfo_calls == 0
    dana = User.objects.get(username="dana")
    assert dana.email == "dana@example.com" and role_now(dana) == roles.AGENT


@pytest.mark.parametrize("idp", [CLAIMS_IN_ID_TOKEN], indirect=True)
def test_userinfo_fills_in_only_what_the_id_token_lacks(client, idp, token_relay):
    idp.sign_in_as(**without(DANA, "preferred_username"))
    # Userinfo's answer, changed on its way: the ID token (signed, checked) wins where both speak.
    token_relay.userinfo_changes = {
        "preferred_username": "dscully",
        "email": "eve@example.net",
        "given_name": "Eve",
        "iss": "https://someone-else.example",
    }
    sso_sign_in(idp, client)

    assert token_relay.userinfo_calls == 1
    dana = signed_in_user(client)
    assert (dana.username, dana.email, dana.first_name) == ("dscully", "dana@example.com", "Dana")
    assert OIDCIdentity.objects.get(user=dana).issuer == idp.issuer


@pytest.mark.parametrize("idp", [CLAIMS_IN_ID_TOKEN], indirect=True)
def test_userinfo_never_vouches_for_the_id_tokens_email(client, idp, token_relay):
    UserFactory(username="dscully", email="dana@example.com")
    idp.sign_in_as(**without(DANA, "email_verified", "preferred_username"))
    token_relay.userinfo_changes = {"email_verified": True}
    response = sso_sign_in(idp, client)

    assert token_relay.userinfo_calls == 1
    assert response.status_code == 403
    assert "does not say that address is verified" in response.content.decode()
    assert signed_in_user(client) is None and not OIDCIdentity.objects.exists()


# --- OIDC_ONLY and the break-glass form ------------------------------------------------------


@pytest.fixture
def oidc_only(settings, idp):
    settings.OIDC_ONLY = True
    return idp


def test_with_oidc_only_the_sign_in_page_checks_no_password(client, oidc_only, member_user):
    content = client.get(reverse("login")).content.decode()
    assert "Sign in with Test IdP" in content and 'name="password"' not in content
    response = client.post(
        reverse("login"), {"username": member_user.username, "password": PASSWORD}, follow=True
    )
    assert "turned off" in response.content.decode()
    assert signed_in_user(client) is None


def test_with_oidc_only_superusers_sign_in_at_the_break_glass_url_and_each_use_is_audited(
    client, oidc_only, member_user
):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    url = reverse("login_local")
    assert "Break-glass sign-in" in client.get(url).content.decode()

    # An agent with the right password, and a wrong password: the same refusal, both recorded.
    for username, password in [(member_user.username, PASSWORD), ("root", "not it")]:
        response = client.post(url, {"username": username, "password": password})
        assert response.status_code == 200 and "superuser account" in response.content.decode()
        assert signed_in_user(client) is None
    refused = AuditEvent.objects.filter(action="sign_in.break_glass_refused")
    assert sorted(e.details["username"] for e in refused) == ["bob", "root"]

    response = client.post(url, {"username": "root", "password": PASSWORD})
    assert response.status_code == 302
    assert signed_in_user(client) == root
    assert AuditEvent.objects.get(action="sign_in.break_glass").actor == root


def test_the_break_glass_url_is_the_normal_page_without_oidc_only(client, idp):
    response = client.get(reverse("login_local"), {"next": "/cases/"})
    assert response.status_code == 302 and response.url == reverse("login") + "?next=%2Fcases%2F"


def test_with_oidc_only_the_admin_sign_in_is_the_break_glass_form(client, oidc_only, settings):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response.url.startswith(reverse("login_local"))
    settings.OIDC_ONLY = False
    assert client.get("/admin/login/").status_code == 200  # the admin's own form, as before


# --- Signing out ---------------------------------------------------------------------------


def test_signing_out_ends_the_portal_session_and_the_providers(client, idp):
    idp.sign_in_as(**DANA)
    at_provider = ProviderBrowser(idp)
    sso_sign_in(idp, client, at_provider=at_provider)
    # Signed in at the provider too: another sign-in there goes straight back to the portal.
    assert at_provider.visit(to_the_provider(Client())).is_redirect
    response = client.post(reverse("logout"))

    assert response.status_code == 302 and response.url.startswith(f"{idp.issuer}/session/end?")
    sent = query(response.url)
    assert sent["post_logout_redirect_uri"] == "http://testserver/accounts/login/"
    assert sent["client_id"] == IDP_CLIENT_ID and sent["id_token_hint"].startswith("eyJ")
    assert signed_in_user(client) is None
    assert not SignedInSession.objects.exists()

    # The provider checks the hint, asks to confirm, ends its session and sends the person back.
    back = at_provider.sign_out(response.url)
    assert back.is_redirect, back.text
    assert back.headers["Location"].startswith("http://testserver/accounts/login/")
    at_sign_in = at_provider.visit(to_the_provider(Client()))
    assert not at_sign_in.is_redirect and "Sign in to Test IdP" in at_sign_in.text
    event = AuditEvent.objects.get(action="sso.signed_out")
    assert event.actor.username == "dana" and event.details["at_provider"] is True


def test_a_provider_without_end_session_signs_out_of_the_portal_only(client, idp, settings):
    without = RealProvider(
        client_id=IDP_CLIENT_ID,
        client_secret=IDP_CLIENT_SECRET,
        redirect_uris=["http://testserver/accounts/sso/callback/"],
        end_session=False,
    )
    with without:
        settings.OIDC_ISSUER = without.issuer
        forget_provider_clients()
        without.sign_in_as(**DANA)
        sso_sign_in(without, client)
        assert signed_in_user(client).username == "dana"
        response = client.post(reverse("logout"))
    assert response.status_code == 302 and response.url == reverse("login")
    assert signed_in_user(client) is None


def test_a_local_sign_out_never_goes_to_the_provider(member_client, idp):
    response = member_client.post(reverse("logout"))
    assert response.status_code == 302 and response.url == reverse("login")
    assert not AuditEvent.objects.filter(action="sso.signed_out").exists()


def test_signing_out_everywhere_ends_every_single_sign_on_session(client, idp):
    idp.sign_in_as(**DANA)
    laptop, phone = Client(), Client()
    sso_sign_in(idp, laptop)
    sso_sign_in(idp, phone)
    dana = User.objects.get(username="dana")
    assert SignedInSession.objects.filter(user=dana).count() == 2

    laptop.post(reverse("account_sign_out_everywhere"))
    assert signed_in_user(laptop) is None and signed_in_user(phone) is None
    assert not SignedInSession.objects.filter(user=dana).exists()
    assert AuditEvent.objects.filter(action="user.signed_out_everywhere", actor=dana).exists()


def test_two_first_sign_ins_at_once_make_one_person(client, idp, monkeypatch):
    """Two tabs finish their first sign-in together: the one that writes second finds the
    person the first made (here: it read no identity just before the other's was stored)."""
    from cases.sso import provisioning

    idp.sign_in_as(**DANA)
    assert sso_sign_in(idp, Client()).status_code == 302  # the other tab, a moment ahead
    read = provisioning._identity
    missed = []

    def not_yet_there(issuer, subject):
        if not missed:
            missed.append(subject)
            return None
        return read(issuer, subject)

    monkeypatch.setattr(provisioning, "_identity", not_yet_there)
    response = sso_sign_in(idp, client)
    assert missed and response.status_code == 302 and response.url == "/"
    assert signed_in_user(client) == User.objects.get() and OIDCIdentity.objects.count() == 1


def test_people_who_sign_in_with_the_provider_have_no_portal_password_to_change(client, idp):
    idp.sign_in_as(**DANA)
    sso_sign_in(idp, client)
    page = client.get(reverse("account")).content.decode()
    assert "change your password at your identity provider" in page
    assert reverse("password_change") not in page
    response = client.get(reverse("password_change"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("account")
    assert "identity provider" in response.content.decode()


def test_people_with_a_portal_password_still_change_it(member_client):
    assert reverse("password_change") in member_client.get(reverse("account")).content.decode()
    assert member_client.get(reverse("password_change")).status_code == 200


# --- Failures: a clear page, nobody signed in, an audit record -------------------------------


def assert_failed_cleanly(client: Client, response, *, status: int, reason: str, words: str) -> None:
    assert response.status_code == status, response.content
    content = response.content.decode()
    assert "Sign-in with Test IdP failed" in content and words in content
    assert signed_in_user(client) is None
    assert not User.objects.filter(username="dana").exists()
    assert failures(reason).count() == 1


@pytest.mark.parametrize(
    ("fault", "why"),
    [
        ("signature_flipped", "BadSignatureError"),  # tampered: a byte of the signature
        ("payload_changed", "BadSignatureError"),  # tampered: another sub under its signature
        ("other_key", "BadSignatureError"),
        ("wrong_audience", "Invalid claim: 'aud'"),
        ("wrong_issuer", "Invalid claim: 'iss'"),
        ("expired", "ExpiredTokenError"),
        ("wrong_nonce", "Invalid claim: 'nonce'"),
        ("unsigned", "Algorithm of 'none' is not allowed"),
    ],
)
def test_an_id_token_that_fails_a_check_signs_nobody_in(client, idp, token_relay, fault, why):
    """The provider's own ID token, altered on its way: a changed byte, or re-signed with the
    provider's own key but with another audience, issuer or nonce, or expired."""
    idp.sign_in_as(**DANA)
    token_relay.fault = fault
    response = sso_sign_in(idp, client)
    assert_failed_cleanly(client, response, status=400, reason="token_refused", words="did not pass")
    assert why in failures().get().details["detail"]


def test_a_token_answer_without_an_id_token_signs_nobody_in(client, idp, token_relay):
    idp.sign_in_as(**DANA)
    token_relay.fault = "no_id_token"
    response = sso_sign_in(idp, client)
    assert_failed_cleanly(client, response, status=400, reason="token_refused", words="did not pass")


def test_a_code_the_provider_will_not_exchange_signs_nobody_in(client, idp, token_relay):
    idp.sign_in_as(**DANA)
    token_relay.fault = "code_used_twice"  # the provider refuses a code it already exchanged
    response = sso_sign_in(idp, client)
    assert_failed_cleanly(client, response, status=400, reason="token_refused", words="did not pass")
    assert "invalid_grant" in failures().get().details["detail"]


def test_a_provider_that_fails_at_the_token_endpoint_is_unavailable(client, idp, token_relay):
    idp.sign_in_as(**DANA)
    token_relay.fault = "server_error"
    response = sso_sign_in(idp, client)
    assert_failed_cleanly(
        client, response, status=502, reason="provider_unavailable", words="could not be reached"
    )


@pytest.mark.parametrize("sub", ["00u-someone-else", None], ids=["another-sub", "no-sub"])
def test_a_userinfo_answer_about_someone_else_signs_nobody_in(client, idp, token_relay, sub):
    idp.sign_in_as(**DANA)
    token_relay.userinfo_changes = {"sub": sub}
    response = sso_sign_in(idp, client)
    assert_failed_cleanly(client, response, status=400, reason="token_refused", words="did not pass")
    assert "userinfo: its sub is not the ID token's" in failures().get().details["detail"]
    assert not OIDCIdentity.objects.exists()


@pytest.mark.parametrize("fault", sorted(USERINFO_FAULTS))
def test_a_userinfo_endpoint_that_fails_signs_nobody_in(client, idp, token_relay, fault):
    """The ID token says only ``sub``: without userinfo, the portal does not know who this is."""
    idp.sign_in_as(**DANA)
    token_relay.userinfo_fault = fault
    response = sso_sign_in(idp, client)
    assert_failed_cleanly(
        client, response, status=502, reason="provider_unavailable", words="could not be reached"
    )
    assert failures().get().details["detail"].startswith("userinfo: ")
    assert not OIDCIdentity.objects.exists()


def test_a_provider_that_is_down_gets_a_clear_page(client, idp):
    idp.stop()
    response = client.get(reverse("sso_start"))
    assert_failed_cleanly(
        client, response, status=502, reason="provider_unavailable", words="could not be reached"
    )


def test_a_provider_that_goes_down_after_the_redirect_gets_a_clear_page(client, idp):
    idp.sign_in_as(**DANA)
    callback = to_the_provider_and_back(idp, client)
    idp.stop()
    response = client.get(callback)
    assert_failed_cleanly(
        client, response, status=502, reason="provider_unavailable", words="could not be reached"
    )


def test_a_replayed_state_is_refused(client, idp):
    idp.sign_in_as(**DANA)
    callback = to_the_provider_and_back(idp, client)
    # Someone else's browser with the same answer: no sign-in waits there for this state.
    attacker = Client()
    response = attacker.get(callback)
    assert response.status_code == 400 and "already used" in response.content.decode()
    assert signed_in_user(attacker) is None

    assert client.get(callback).status_code == 302  # the person's own browser, once
    client.logout()
    response = client.get(callback)  # and never twice
    assert response.status_code == 400 and "already used" in response.content.decode()
    assert signed_in_user(client) is None
    assert failures("state_refused").count() == 2


def test_a_callback_without_state_is_refused(client, idp):
    response = client.get(reverse("sso_callback"), {"code": "anything"})
    assert_failed_cleanly(client, response, status=400, reason="state_refused", words="Start again")


def test_a_person_who_cancels_at_the_provider_sees_why(client, idp):
    idp.sign_in_as(**DANA)
    response = client.get(ProviderBrowser(idp).cancel(to_the_provider(client)))
    assert_failed_cleanly(
        client, response, status=403, reason="provider_refused", words="did not sign you in"
    )
    assert "access_denied" in failures().get().details["detail"]


def test_a_discovery_document_naming_another_issuer_is_refused(client, idp, settings):
    settings.OIDC_ISSUER = idp.issuer + "/"  # the same discovery URL, but not the issuer it names
    response = client.get(reverse("sso_start"))
    assert_failed_cleanly(
        client, response, status=502, reason="provider_unavailable", words="could not be reached"
    )
    assert "names the issuer" in failures().get().details["detail"]


def test_a_provider_on_loopback_needs_its_own_allow_list(client, idp, settings):
    settings.OIDC_ALLOWED_HOSTS = []
    settings.KORE_ALLOWED_HOSTS = ["127.0.0.1", "localhost"]  # Kore's list is not the provider's
    response = client.get(reverse("sso_start"))
    assert_failed_cleanly(
        client, response, status=502, reason="provider_unavailable", words="could not be reached"
    )
    assert "OIDC_ALLOWED_HOSTS" in failures().get().details["detail"]

    settings.OIDC_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.KORE_ALLOWED_HOSTS = []
    idp.sign_in_as(**DANA)
    assert sso_sign_in(idp, client).status_code == 302
    assert signed_in_user(client).username == "dana"


def test_a_fault_of_the_portal_while_making_the_person_ends_on_the_failure_page(client, idp, monkeypatch):
    """Say the person's account cannot be stored even at the second try (another
    IntegrityError): the clear page, an audit record, nobody signed in; never a bare 500."""
    from cases.sso import provisioning

    def cannot_store(**kwargs):
        raise IntegrityError("UNIQUE constraint failed: auth_user.username")

    monkeypatch.setattr(provisioning, "_signed_in", cannot_store)
    idp.sign_in_as(**DANA)
    response = sso_sign_in(idp, client)
    assert_failed_cleanly(client, response, status=500, reason="internal_error", words="went wrong")
    assert failures().get().details["detail"].startswith("IntegrityError")


def test_a_fault_after_the_portal_signed_the_person_in_signs_them_out_again(client, idp, monkeypatch):
    from cases.sso import views

    record = views.audit_record

    def audit_trail_down_for_sign_ins(**kwargs):
        if kwargs["action"] == "sso.signed_in":
            raise RuntimeError("the audit trail is down")
        return record(**kwargs)

    monkeypatch.setattr(views, "audit_record", audit_trail_down_for_sign_ins)
    idp.sign_in_as(**DANA)
    response = sso_sign_in(idp, client)
    assert response.status_code == 500 and "went wrong" in response.content.decode()
    assert signed_in_user(client) is None and not SignedInSession.objects.exists()
    assert failures("internal_error").get().details["detail"].startswith("RuntimeError")


def test_the_person_lands_where_they_were_going_and_never_elsewhere(client, idp):
    idp.sign_in_as(**DANA)
    assert sso_sign_in(idp, client, next_url="/cases/?status=Open").url == "/cases/?status=Open"
    assert sso_sign_in(idp, Client(), next_url="https://evil.example/").url == "/"


# --- Settings -------------------------------------------------------------------------------


def run_settings(env: dict[str, str], code: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "casesite.settings", **env}
    environment.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_settings_need_the_client_credentials_and_let_sign_out_continue_at_the_provider():
    issuer = "https://idp.example.com/realms/staff"
    result = run_settings({"OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": "portal"}, "print(1)")
    assert result.returncode != 0 and "OIDC_CLIENT_SECRET" in result.stderr

    result = run_settings({"OIDC_ONLY": "true"}, "print(1)")
    assert result.returncode != 0 and "OIDC_ONLY needs OIDC_ISSUER" in result.stderr

    result = run_settings(
        {"OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": "portal", "OIDC_CLIENT_SECRET": "s3cret"},
        "from django.conf import settings; "
        "print(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']['form-action'])",
    )
    assert result.returncode == 0, result.stderr
    assert "'https://idp.example.com'" in result.stdout
