"""The users pages, each person's account page, signing out everywhere, and oversize requests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from cases.models import AuditEvent, SignedInSession
from cases.people import roles
from tests.factories import StreamFactory, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def signed_in_client(user) -> Client:
    """A separate browser (its own cookies) signed in with the real sign-in form."""
    client = Client()
    response = client.post(reverse("login"), {"username": user.get_username(), "password": PASSWORD})
    assert response.status_code == 302
    return client


def is_signed_in(client: Client) -> bool:
    return client.get(reverse("account")).status_code == 200


def test_an_administrator_adds_a_person_with_a_role_and_streams(staff_client, staff_user):
    support, _billing = StreamFactory(name="Support"), StreamFactory(name="Billing")
    response = staff_client.post(
        reverse("user_new"),
        {
            "username": "ahmed",
            "email": "ahmed@example.com",
            "password1": "ahmed",
            "password2": "ahmed",
            "role": "agent",
            "streams": [support.pk],
        },
    )
    # Django's password validators apply, beside the field.
    assert response.status_code == 200
    assert "too short" in response.content.decode() and "too similar" in response.content.decode()
    assert not get_user_model().objects.filter(username="ahmed").exists()

    response = staff_client.post(
        reverse("user_new"),
        {
            "username": "ahmed",
            "email": "ahmed@example.com",
            "password1": "a long enough passphrase 7",
            "password2": "a long enough passphrase 7",
            "role": "agent",
            "streams": [support.pk],
        },
    )
    assert response.status_code == 302
    ahmed = get_user_model().objects.get(username="ahmed")
    assert roles.role_of(ahmed) == roles.AGENT
    assert list(ahmed.member_streams.values_list("name", flat=True)) == ["Support"]
    event = AuditEvent.objects.get(action="user.access_changed", target_id=str(ahmed.pk))
    assert event.actor == staff_user and event.details == {"role": "agent", "streams": ["Support"]}
    created = AuditEvent.objects.get(action="user.created", target_id=str(ahmed.pk))
    assert created.actor == staff_user  # a signal's record still names who did it
    assert "passphrase" not in str(list(AuditEvent.objects.values()))


def test_an_administrator_changes_a_role_and_it_applies_at_once(staff_client):
    vera = UserFactory(username="vera", role=roles.VIEWER)
    vera_browser = signed_in_client(vera)
    assert vera_browser.get(reverse("case_new")).status_code == 403
    response = staff_client.post(
        reverse("user_edit", args=[vera.pk]),
        {"role": "agent", "is_active": "on", "email": "vera@example.com"},
    )
    assert response.status_code == 302
    assert vera_browser.get(reverse("case_new")).status_code == 200


def test_administrators_cannot_lock_themselves_out(staff_client, staff_user):
    response = staff_client.post(reverse("user_edit", args=[staff_user.pk]), {"role": "viewer"})
    content = response.content.decode()
    assert response.status_code == 200
    assert "You cannot deactivate your own account." in content
    assert "You cannot take away your own administrator role." in content
    assert roles.role_of(get_user_model().objects.get(pk=staff_user.pk)) == roles.ADMINISTRATOR


def test_deactivating_a_person_ends_their_sessions(staff_client):
    bob = UserFactory(username="bob2", role=roles.AGENT)
    browser = signed_in_client(bob)
    assert is_signed_in(browser)
    staff_client.post(reverse("user_edit", args=[bob.pk]), {"role": "agent"})  # is_active unticked
    assert not is_signed_in(browser)
    assert not SignedInSession.objects.filter(user=bob).exists()


def test_signing_out_everywhere_ends_every_session_of_that_person_only(member_user):
    laptop, phone = signed_in_client(member_user), signed_in_client(member_user)
    someone_else = signed_in_client(UserFactory(username="carl", role=roles.VIEWER))
    assert SignedInSession.objects.filter(user=member_user).count() == 2

    response = laptop.post(reverse("account_sign_out_everywhere"))
    assert response.status_code == 302 and response.url == reverse("login")
    assert not is_signed_in(laptop) and not is_signed_in(phone)
    assert is_signed_in(someone_else)
    assert not SignedInSession.objects.filter(user=member_user).exists()
    assert AuditEvent.objects.filter(action="user.signed_out_everywhere", actor=member_user).exists()


def test_an_administrator_signs_someone_out_everywhere(staff_client, member_user):
    browser = signed_in_client(member_user)
    response = staff_client.post(reverse("user_sign_out_everywhere", args=[member_user.pk]))
    assert response.status_code == 302
    assert not is_signed_in(browser)
    assert is_signed_in(staff_client)


def test_signing_out_forgets_the_session_and_changing_the_password_ends_the_others(member_user):
    laptop, phone = signed_in_client(member_user), signed_in_client(member_user)
    phone.post(reverse("logout"))
    assert SignedInSession.objects.filter(user=member_user).count() == 1
    phone = signed_in_client(member_user)
    response = laptop.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "another long passphrase 9",
            "new_password2": "another long passphrase 9",
        },
    )
    assert response.status_code == 302
    assert is_signed_in(laptop) and not is_signed_in(phone)


def test_the_account_page_says_who_one_is_and_never_shows_a_session_key(member_client, member_user):
    StreamFactory(name="Support")
    content = member_client.get(reverse("account")).content.decode()
    assert "Agent" in content and "Support" in content
    for key in Session.objects.values_list("session_key", flat=True):
        assert key not in content


def test_sign_in_records_are_pruned_when_older_than_any_session(member_user, settings):
    old = SignedInSession.objects.create(user=member_user, session_key="x" * 32)
    too_old = old.created_at - timedelta(seconds=settings.SESSION_COOKIE_AGE + 1)
    SignedInSession.objects.filter(pk=old.pk).update(created_at=too_old)
    signed_in_client(member_user)
    assert not SignedInSession.objects.filter(pk=old.pk).exists()


# --- Oversize requests -----------------------------------------------------------------------


def test_an_oversize_page_request_is_refused_with_413_before_it_is_read(member_client, settings):
    settings.MAX_REQUEST_BODY_BYTES = 1000
    response = member_client.post(reverse("case_new"), {"name": "x" * 2000})
    assert response.status_code == 413
    assert "too large" in response.content.decode()


def test_an_oversize_api_request_is_refused_in_kores_error_form(client, settings):
    settings.MAX_REQUEST_BODY_BYTES = 1000
    response = client.post(
        "/caseManagement/api/public/analytics/st-1/createCase",
        data="{" + " " * 2000 + "}",
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == 413


def test_a_nonsense_content_length_is_a_400(client):
    response = client.generic("POST", reverse("login"), b"", CONTENT_LENGTH="lots")
    assert response.status_code == 400


# --- Permissions read once per request ------------------------------------------------------


def test_a_signed_in_persons_permissions_are_read_once_per_request(client, django_assert_num_queries):
    client.force_login(UserFactory(username="vic", role=roles.VIEWER))
    # The session, the person, their permissions (Django's two queries: their own and their
    # groups'), and the saved views in the navigation: the check that refuses the page and the
    # navigation's own checks read the permissions already held.
    with django_assert_num_queries(5):
        response = client.get(reverse("stream_list"))
    assert response.status_code == 403 and "Only administrators" in response.content.decode()


def test_sign_in_records_cannot_be_deleted_in_the_admin(admin_client, member_user):
    signed_in_client(member_user)
    record = SignedInSession.objects.get(user=member_user)
    url = reverse("admin:cases_signedinsession_delete", args=[record.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    assert SignedInSession.objects.filter(pk=record.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_real_server_answers_an_oversize_request_with_413(live_server, settings):
    """Over real HTTP (Django's WSGI server, as `make run` uses): the refusal must be a valid
    WSGI response, e.g. carry no hop-by-hop header, or the server turns it into a 500."""
    import requests

    settings.MAX_REQUEST_BODY_BYTES = 1000
    url = f"{live_server.url}/caseManagement/api/public/analytics/st-1/createCase"
    response = requests.post(url, data="x" * 5000, headers={"Content-Type": "application/json"}, timeout=10)
    assert response.status_code == 413 and response.json()["errors"][0]["code"] == 413
    response = requests.post(f"{live_server.url}/cases/new/", data={"name": "x" * 5000}, timeout=10)
    assert response.status_code == 413
