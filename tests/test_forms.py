from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from cases.delivery.submit import build_case_body
from cases.web.case_form import CaseForm
from cases.web.configuration_forms import StreamForm
from tests.factories import CaseTemplateFactory, StreamFactory

pytestmark = pytest.mark.django_db


def case_data(template, **overrides):
    data = {
        "template": template.pk,
        "name": "This is demo case",
        "desc": "Demo case",
        "user_id": "u-fd371c0a-3168-5a02-83dd-f4ba55970000",
        "user_name": "dummy",
        "emailId": "dummy.898@example.com",
        "phoneNumber": "9023981234",
        "dueDate": "2099-09-04T14:15",
        "source": "rtm",
    }
    data.update(overrides)
    return data


def test_a_complete_case_is_valid():
    form = CaseForm(case_data(CaseTemplateFactory()))
    assert form.is_valid(), form.errors


def test_required_fields_are_reported_beside_each_field():
    form = CaseForm({"template": "", "name": "", "desc": ""})
    assert not form.is_valid()
    assert set(form.errors) >= {"template", "name", "desc"}


def test_email_or_phone_is_required_when_there_is_no_user_id():
    form = CaseForm(case_data(CaseTemplateFactory(), user_id="", emailId="", phoneNumber=""))
    assert not form.is_valid()
    assert "emailId" in form.errors and "phoneNumber" in form.errors


def test_a_user_id_alone_identifies_the_requester():
    form = CaseForm(case_data(CaseTemplateFactory(), emailId="", phoneNumber=""))
    assert form.is_valid(), form.errors


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two@@example.com"])
def test_an_invalid_email_is_refused(email):
    form = CaseForm(case_data(CaseTemplateFactory(), emailId=email))
    assert "emailId" in form.errors


@pytest.mark.parametrize("phone", ["12", "call me", "1234567890123456789", "+1 (555) abc"])
def test_an_implausible_phone_is_refused(phone):
    form = CaseForm(case_data(CaseTemplateFactory(), phoneNumber=phone))
    assert "phoneNumber" in form.errors


@pytest.mark.parametrize("phone", ["+44 20 7946 0958", "902-398-1234", "(555) 010.2030"])
def test_plausible_phones_are_accepted(phone):
    form = CaseForm(case_data(CaseTemplateFactory(), phoneNumber=phone))
    assert form.is_valid(), form.errors


def test_a_due_date_in_the_past_asks_to_be_confirmed():
    template = CaseTemplateFactory()
    form = CaseForm(case_data(template, dueDate="2001-01-01T10:00"))
    assert "in the past" in form.errors["dueDate"][0]
    assert form.due_date_is_past  # the page shows the confirmation box
    confirmed = CaseForm(case_data(template, dueDate="2001-01-01T10:00", confirm_past_due="on"))
    assert confirmed.is_valid(), confirmed.errors


def test_an_iso_due_date_with_zone_is_read_as_given():
    form = CaseForm(case_data(CaseTemplateFactory(), dueDate="2099-09-04T14:15:00.000Z"))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["dueDate"] == datetime(2099, 9, 4, 14, 15, tzinfo=UTC)


def test_a_local_due_date_is_read_in_the_users_time_zone():
    with timezone.override("Asia/Kolkata"):
        form = CaseForm(case_data(CaseTemplateFactory(), dueDate="2099-09-04T19:45"))
        assert form.is_valid(), form.errors
    assert form.cleaned_data["dueDate"] == datetime(2099, 9, 4, 14, 15, tzinfo=UTC)


def test_inactive_templates_and_templates_of_inactive_streams_cannot_be_chosen():
    hidden = CaseTemplateFactory(is_active=False)
    on_inactive_stream = CaseTemplateFactory(stream=StreamFactory(is_active=False))
    for template in (hidden, on_inactive_stream):
        assert "template" in CaseForm(case_data(template)).errors


def test_the_body_matches_kores_sample_shape():
    template = CaseTemplateFactory(template_id="ctm-d4e6152-4255-4c5c-ba6c-91dac5cd0000")
    form = CaseForm(case_data(template, dueDate="2099-09-04T14:15:00Z"))
    assert form.is_valid(), form.errors
    body = build_case_body(template=template, data=form.cleaned_data)
    assert body == {
        "caseTmp": "ctm-d4e6152-4255-4c5c-ba6c-91dac5cd0000",
        "name": "This is demo case",
        "desc": "Demo case",
        "userInfo": {"_id": "u-fd371c0a-3168-5a02-83dd-f4ba55970000", "name": "dummy"},
        "emailId": "dummy.898@example.com",
        "phoneNumber": "9023981234",
        "dueDate": "2099-09-04T14:15:00.000Z",
        "source": "rtm",
    }


def test_empty_due_date_and_source_take_the_templates_defaults():
    template = CaseTemplateFactory(default_source="email", default_due_hours=24)
    form = CaseForm(case_data(template, dueDate="", source=""))
    assert form.is_valid(), form.errors
    before = timezone.now()
    body = build_case_body(template=template, data=form.cleaned_data)
    assert body["source"] == "email"
    due = datetime.strptime(body["dueDate"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(due - (before + timedelta(hours=24))) < timedelta(seconds=5)


def stream_data(**overrides):
    data = {
        "name": "Support bot",
        "host": "https://platform.kore.ai",
        "stream_id": "st-084d3c5e-376a-559f-9987-a012bb2b0000",
        "account_id": "6639f7bd58c97ffac03b0000",
        "client_id": "cs-1234",
        "client_secret": "the-secret",
        "rate_limit": 60,
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_a_new_stream_needs_a_client_secret():
    form = StreamForm(stream_data(client_secret=""))
    assert "client_secret" in form.errors


def test_a_blank_secret_on_edit_keeps_the_stored_one():
    stream = StreamForm(stream_data()).save()
    form = StreamForm(stream_data(client_secret="", name="Renamed"), instance=stream)
    assert form.is_valid(), form.errors
    form.save()
    stream.refresh_from_db()
    assert stream.name == "Renamed"
    assert stream.client_secret == "the-secret"


def test_the_secret_is_never_rendered_back():
    stream = StreamForm(stream_data()).save()
    html = StreamForm(instance=stream).as_p() + StreamForm(stream_data(name=""), instance=stream).as_p()
    assert "the-secret" not in html


@pytest.mark.parametrize("host", ["http://platform.kore.ai", "ftp://platform.kore.ai", "https://u:p@kore.ai"])
def test_a_host_must_be_a_plain_https_origin(host):
    assert "host" in StreamForm(stream_data(host=host)).errors


def test_plain_http_is_allowed_for_a_listed_host(settings):
    settings.KORE_ALLOWED_HOSTS = ["127.0.0.1"]
    form = StreamForm(stream_data(host="http://127.0.0.1:8000/simulator/"))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["host"] == "http://127.0.0.1:8000/simulator"


def test_stream_ids_must_look_like_kores():
    assert "stream_id" in StreamForm(stream_data(stream_id="bot-123")).errors


def test_a_stream_needs_its_account_id():
    assert "account_id" in StreamForm(stream_data(account_id="")).errors


def test_an_older_stream_without_account_id_must_gain_one_when_saved():
    stream = StreamForm(stream_data()).save()
    type(stream).objects.filter(pk=stream.pk).update(account_id="")
    stream.refresh_from_db()
    assert "account_id" in StreamForm(stream_data(account_id="", client_secret=""), instance=stream).errors


def test_two_active_streams_cannot_share_a_kore_stream_id():
    StreamForm(stream_data()).save()
    form = StreamForm(stream_data(name="Copy"))
    assert "Another active stream already uses this Kore stream id." in str(form.errors)
    assert StreamForm(stream_data(name="Old copy", is_active="")).is_valid()  # an inactive one may
