"""The whole flow against the simulator over real HTTP: form → stored case → createCase → record."""

import re

import pytest
from django.urls import reverse

from cases.delivery.connection import stream_check
from cases.models import Case, Stream
from tests.factories import StreamFactory

pytestmark = pytest.mark.django_db


def post_case(client, template, django_capture_on_commit_callbacks, **overrides):
    data = {
        "template": template.pk,
        "name": "This is demo case",
        "desc": "Demo case",
        "user_name": "dummy",
        "emailId": "dummy.898@example.com",
        "phoneNumber": "9023981234",
        "dueDate": "2099-09-04T14:15:00Z",
        "source": "rtm",
    }
    data.update(overrides)
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(reverse("case_new"), data, follow=True)


def test_submitting_the_form_creates_the_case_at_kore_and_stores_it(
    member_client, member_user, template, simulator, django_capture_on_commit_callbacks
):
    response = post_case(member_client, template, django_capture_on_commit_callbacks)

    case = Case.objects.get()
    assert simulator.created_count == 1
    assert case.state == Case.State.DELIVERED
    assert case.kore_id.startswith("ci-")
    assert case.ref_id.startswith("CS")
    assert case.status_name == "Open" and case.status_category == "open"
    assert case.priority_name and case.priority_color.startswith("#")
    assert case.assignee_name
    assert case.submitted_by == member_user
    assert case.kore_case["_id"] == case.kore_id
    assert case.request_body["dueDate"] == "2099-09-04T14:15:00.000Z"
    assert case.attempts.get().outcome == "delivered"
    # The person lands on the case's page, which then shows what Kore made of it.
    assert response.redirect_chain[-1][0] == case.get_absolute_url()
    page = member_client.get(case.get_absolute_url()).content.decode()
    assert case.ref_id in page and "Open" in page and case.assignee_name in page


def test_a_case_kore_refuses_is_kept_as_failed_with_kores_message(
    member_client, template, simulator, django_capture_on_commit_callbacks
):
    template.template_id = "ctm-x"
    template.save()
    simulator.inject("400")
    post_case(member_client, template, django_capture_on_commit_callbacks)

    case = Case.objects.get()
    assert case.state == Case.State.FAILED
    assert case.last_error
    assert case.attempts.count() == 1
    assert simulator.created_count == 0


def test_bad_credentials_fail_without_retry_and_say_why(
    member_client, template, simulator, django_capture_on_commit_callbacks
):
    template.stream.set_client_secret("wrong-secret")
    template.stream.save()
    post_case(member_client, template, django_capture_on_commit_callbacks)

    case = Case.objects.get()
    assert case.state == Case.State.FAILED
    assert "Invalid SDK credentials" in case.last_error
    assert case.attempts.get().outcome == "auth_error"


def test_an_unreachable_host_keeps_the_submission_for_retry(
    member_client, template, django_capture_on_commit_callbacks, closed_port
):
    Stream.objects.filter(pk=template.stream.pk).update(host=f"http://127.0.0.1:{closed_port}")
    post_case(member_client, template, django_capture_on_commit_callbacks)

    case = Case.objects.get()
    assert case.state == Case.State.RETRYING
    assert case.next_attempt_at is not None
    assert case.attempts.get().outcome == "unavailable"
    assert case.request_body["name"] == "This is demo case"


def test_test_connection_reports_success_and_kores_own_refusal(stream):
    assert stream_check(stream=stream).ok
    stream.set_client_secret("wrong")
    stream.save()
    result = stream_check(stream=stream)
    assert not result.ok
    assert "Invalid SDK credentials" in result.message


def test_the_test_connection_button_shows_the_result(staff_client, stream):
    response = staff_client.post(reverse("stream_check", args=[stream.pk]), follow=True)
    assert b"Connected" in response.content


def test_test_connection_says_plainly_that_the_account_id_is_missing(stream, simulator):
    Stream.objects.filter(pk=stream.pk).update(account_id="")
    stream.refresh_from_db()
    result = stream_check(stream=stream)
    assert not result.ok and "no account id" in result.message
    assert simulator.request_count == 0  # nothing asked of Kore that it would refuse


def test_the_streams_page_flags_a_stream_without_account_id(staff_client, stream):
    without = StreamFactory(name="Legacy stream")
    Stream.objects.filter(pk=without.pk).update(account_id="")
    page = staff_client.get(reverse("stream_list")).content.decode()
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S)[1:]  # after the header
    flagged = [row for row in rows if "Missing: set it" in row]
    assert len(rows) == 2 and len(flagged) == 1 and "Legacy stream" in flagged[0]
    assert stream.account_id in page


def test_a_past_due_date_on_the_page_is_confirmed_then_sent(
    member_client, template, simulator, django_capture_on_commit_callbacks
):
    response = post_case(
        member_client, template, django_capture_on_commit_callbacks, dueDate="2001-01-01T10:00"
    )
    page = response.content.decode()
    assert "The due date is in the past" in page and "send it anyway" in page
    assert not Case.objects.exists()
    post_case(
        member_client,
        template,
        django_capture_on_commit_callbacks,
        dueDate="2001-01-01T10:00",
        confirm_past_due="on",
    )
    assert Case.objects.get().state == Case.State.DELIVERED
