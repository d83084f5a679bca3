"""Every page: who may see it, and what a person sees and can do there."""

import pytest
from django.urls import reverse

from cases.models import Case, CaseTemplate, Stream
from tests.factories import CaseFactory, CaseTemplateFactory, StreamFactory

pytestmark = pytest.mark.django_db

MEMBER_PAGES = ["home", "case_list", "case_new", "saved_view_list"]
STAFF_PAGES = ["stream_list", "stream_new", "template_list", "template_new"]


@pytest.mark.parametrize("name", MEMBER_PAGES + STAFF_PAGES)
def test_every_page_sends_anonymous_visitors_to_sign_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_detail_and_edit_pages_need_sign_in_too(client):
    case = CaseFactory()
    for url in (case.get_absolute_url(), reverse("stream_edit", args=[case.stream.pk])):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_the_login_page_is_open(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Sign in" in response.content


def test_signing_in_lands_on_the_dashboard(client, member_user):
    response = client.post(
        reverse("login"), {"username": "bob", "password": "correct horse battery staple"}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("home")
    assert b"Dashboard" in response.content


@pytest.mark.parametrize("name", MEMBER_PAGES)
def test_members_see_the_case_pages(member_client, name):
    assert member_client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", STAFF_PAGES)
def test_configuration_is_staff_only(member_client, name):
    assert member_client.get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", STAFF_PAGES)
def test_staff_see_the_configuration_pages(staff_client, name):
    assert staff_client.get(reverse(name)).status_code == 200


def test_staff_add_a_stream_and_its_secret_is_never_shown_again(staff_client):
    response = staff_client.post(
        reverse("stream_new"),
        {
            "name": "Support bot",
            "host": "https://platform.kore.ai",
            "stream_id": "st-084d3c5e-376a-559f-9987-a012bb2b0000",
            "account_id": "6639f7bd58c97ffac03b0001",
            "client_id": "cs-abc",
            "client_secret": "very-secret-value",
            "rate_limit": 60,
            "is_active": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    stream = Stream.objects.get()
    assert stream.client_secret == "very-secret-value"
    for url in (reverse("stream_edit", args=[stream.pk]), reverse("stream_list")):
        assert b"very-secret-value" not in staff_client.get(url).content


def test_staff_deactivate_a_stream(staff_client):
    stream = StreamFactory()
    staff_client.post(reverse("stream_toggle", args=[stream.pk]))
    stream.refresh_from_db()
    assert not stream.is_active


def test_staff_add_a_template(staff_client):
    stream = StreamFactory()
    response = staff_client.post(
        reverse("template_new"),
        {
            "stream": stream.pk,
            "template_id": "ctm-d4e6152-4255-4c5c-ba6c-91dac5cd0000",
            "name": "Sales",
            "default_source": "rtm",
            "default_due_hours": 72,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert CaseTemplate.objects.get().name == "Sales"


def test_template_form_shows_errors_beside_fields(staff_client):
    response = staff_client.post(reverse("template_new"), {"template_id": "nope"})
    assert response.status_code == 200
    assert b"A Kore template id looks like ctm-" in response.content


def test_the_case_form_keeps_input_and_shows_errors(member_client):
    template = CaseTemplateFactory()
    response = member_client.post(
        reverse("case_new"), {"template": template.pk, "name": "Keep me", "desc": "", "emailId": "nope"}
    )
    assert response.status_code == 200
    assert b'value="Keep me"' in response.content
    assert b"Enter a valid email address" in response.content
    assert not Case.objects.exists()


def test_the_case_form_explains_when_no_template_exists(client, member_user, staff_user):
    client.force_login(member_user)
    response = client.get(reverse("case_new"))
    assert b"No case template is open to you yet" in response.content
    client.force_login(staff_user)
    response = client.get(reverse("case_new"))
    assert b"No case template is active yet" in response.content


def test_the_list_shows_cases_newest_first_with_links(member_client):
    older = CaseFactory(name="Older case")
    newer = CaseFactory(name="Newer case")
    content = member_client.get(reverse("case_list")).content.decode()
    assert content.index("Newer case") < content.index("Older case")
    assert newer.get_absolute_url() in content and older.get_absolute_url() in content


def test_the_list_is_paginated(member_client):
    template = CaseTemplateFactory()
    CaseFactory.create_batch(55, template=template)
    first = member_client.get(reverse("case_list"))
    assert "55 cases" in first.content.decode() and len(first.context["cases"]) == 50
    second = member_client.get(reverse("case_list") + "?" + first.context["next_query"])
    assert len(second.context["cases"]) == 5 and "Next page" not in second.content.decode()


def test_the_case_page_shows_the_delivery_state(member_client):
    case = CaseFactory()
    response = member_client.get(case.get_absolute_url())
    assert b"Queued" in response.content
    assert b"hx-trigger" in response.content  # polls while delivery is in progress


def test_a_missing_case_is_a_404(member_client):
    assert member_client.get(reverse("case_detail", args=[999999])).status_code == 404


def test_the_admin_lists_every_model(admin_client):
    from django.apps import apps
    from django.contrib import admin

    CaseFactory()
    for model in apps.get_app_config("cases").get_models():
        assert model in admin.site._registry, f"{model.__name__} is not in the admin"
        name = model._meta.model_name
        assert admin_client.get(reverse(f"admin:cases_{name}_changelist")).status_code == 200
        # API clients are created where their secret can be shown once, not in the admin.
        # The audit trail is append-only: nobody adds to it by hand; sessions come from signing
        # in, and so do single sign-on identities; the database keeps the dashboard's counts, and
        # the sync keeps what it learns from Kore (switched on the Sync page); changes, tasks and
        # bulk changes are asked for on the case pages and the list, delivered by the portal.
        # Notifications' events, mail marks and webhook log are the portal's own records, and
        # endpoints are registered on the Webhooks page (the URL through the host guard, the
        # secret shown once).
        read_only = (
            "CaseAction",
            "CaseTask",
            "BulkAction",
            "ApiClient",
            "AuditEvent",
            "SignedInSession",
            "OIDCIdentity",
            "CaseChange",
            "StreamSync",
            "SyncLease",
            "KoreStatus",
            "KorePriority",
            "KoreAssignee",
            "OpenCaseCount",
            "CreatedCount",
            "OpenDueCount",
            "CaseEvent",
            "CaseMailMark",
            "WebhookEndpoint",
            "WebhookMessage",
            "WebhookAttempt",
        )
        expected = 403 if model.__name__ in read_only else 200
        assert admin_client.get(reverse(f"admin:cases_{name}_add")).status_code == expected


def test_the_submitter_can_cancel_a_queued_case(member_client, member_user):
    case = CaseFactory(submitted_by=member_user)
    member_client.post(reverse("case_cancel", args=[case.pk]))
    case.refresh_from_db()
    assert case.state == Case.State.CANCELLED


def test_someone_else_cannot_retry_or_cancel_a_case(member_client):
    case = CaseFactory(state=Case.State.FAILED)
    assert member_client.post(reverse("case_retry", args=[case.pk])).status_code == 403
    assert member_client.post(reverse("case_cancel", args=[case.pk])).status_code == 403


def test_retry_and_cancel_need_post(member_client, member_user):
    case = CaseFactory(submitted_by=member_user)
    assert member_client.get(reverse("case_cancel", args=[case.pk])).status_code == 405
