"""The audit trail: configuration changes, case actions and exports are recorded, never edited."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from cases.models import AuditEvent, Stream
from tests.factories import CaseFactory, CaseTemplateFactory, StreamFactory

pytestmark = pytest.mark.django_db


def actions(*, users: bool = False):
    """(who, action) in order; the fixtures' own user creations are left out unless asked."""
    events = AuditEvent.objects.order_by("id")
    if not users:
        events = events.exclude(action__startswith="user.")
    return list(events.values_list("actor_name", "action"))


def test_stream_changes_are_recorded_with_who_and_what(staff_client):
    staff_client.post(
        reverse("stream_new"),
        {
            "name": "Support bot",
            "host": "https://platform.kore.ai",
            "stream_id": "st-084d3c5e-376a-559f-9987-a012bb2b0000",
            "account_id": "6639f7bd58c97ffac03b0001",
            "client_id": "cs-1",
            "client_secret": "super-secret-value",
            "rate_limit": 60,
            "is_active": "on",
        },
    )
    stream = Stream.objects.get()
    staff_client.post(reverse("stream_toggle", args=[stream.pk]))
    assert actions() == [("alice", "stream.created"), ("alice", "stream.deactivated")]
    event = AuditEvent.objects.first()
    assert event.target_repr == "Support bot" and event.ip_address == "127.0.0.1"
    assert "super-secret-value" not in str(list(AuditEvent.objects.values()))


def test_case_submission_retry_cancel_and_export_are_recorded(member_client, member_user):
    failed = CaseFactory(submitted_by=member_user, state="failed")
    queued = CaseFactory(submitted_by=member_user)
    member_client.post(reverse("case_retry", args=[failed.pk]))
    member_client.post(reverse("case_cancel", args=[queued.pk]))
    member_client.get(reverse("case_export_csv") + "?state=failed")
    recorded = [action for _who, action in actions()]
    assert recorded == ["case.retried", "case.cancelled", "cases.exported"]
    assert AuditEvent.objects.get(action="cases.exported").details["query"] == "state=failed"


def test_user_management_is_recorded(db):
    user = get_user_model().objects.create_user("carol", password="x" * 12)
    user.first_name = "Carol"
    user.save()
    user.delete()
    assert [action for _who, action in actions(users=True)] == [
        "user.created",
        "user.changed",
        "user.deleted",
    ]


def test_the_trail_is_for_administrators_and_cannot_be_edited(admin_client, member_client):
    StreamFactory()
    AuditEvent.objects.create(action="stream.created", target_repr="x")
    assert member_client.get(reverse("audit_list")).status_code == 403
    page = admin_client.get(reverse("audit_list"))
    assert page.status_code == 200 and b"stream.created" in page.content
    event = AuditEvent.objects.first()
    delete_url = reverse("admin:cases_auditevent_delete", args=[event.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_configuration_changed_in_the_admin_is_recorded_too(admin_client, admin_user):
    template = CaseTemplateFactory()
    url = reverse("admin:cases_casetemplate_change", args=[template.pk])
    response = admin_client.post(
        url,
        {
            "stream": template.stream_id,
            "template_id": template.template_id,
            "name": "Renamed in the admin",
            "default_source": "rtm",
            "default_due_hours": 24,
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="casetemplate.changed")
    assert event.actor == admin_user and event.details == {"via": "admin"}
    admin_client.post(reverse("admin:cases_casetemplate_delete", args=[template.pk]), {"post": "yes"})
    assert AuditEvent.objects.filter(action="casetemplate.deleted", target_id=str(template.pk)).exists()
