"""A full flow, then a scan of every page, API answer and log line it produced: no secret anywhere."""

import logging

import pytest
from django.urls import reverse

from cases.kore.client import mint_token
from cases.models import ApiClient, Case, Stream
from cases.models.streams import KORE_ENDPOINTS

STREAM_SECRET = "stream-secret-Zq8vW3nR5tY7uI9oP1aS"


@pytest.mark.django_db
def test_no_secret_in_pages_api_answers_or_logs(
    admin_client, simulator, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def keep(response):
        seen.append(response.content.decode(errors="replace") if not response.streaming else "")
        return response

    keep(
        admin_client.post(
            reverse("stream_new"),
            {
                "name": "Scanned",
                "host": simulator.url,
                "stream_id": "st-5ca77ed0-0000-4000-8000-000000000001",
                "account_id": "acct-1",
                "client_id": "cs-scan",
                "client_secret": STREAM_SECRET,
                "rate_limit": 60,
                "is_active": "on",
            },
            follow=True,
        )
    )
    stream = Stream.objects.get()
    simulator.register_app("cs-scan", STREAM_SECRET, [stream.stream_id])
    keep(admin_client.post(reverse("stream_check", args=[stream.pk]), follow=True))
    keep(
        admin_client.post(
            reverse("template_new"),
            {
                "stream": stream.pk,
                "template_id": "ctm-scan",
                "name": "Scan",
                "default_source": "rtm",
                "default_due_hours": 72,
                "is_active": "on",
            },
            follow=True,
        )
    )
    response = admin_client.post(
        "/api-clients/new/",
        # The page offers every endpoint ticked; a browser sends them all.
        {"name": "Scanner", "streams": [stream.pk], "endpoints": list(KORE_ENDPOINTS), "is_active": "on"},
    )
    client = ApiClient.objects.get()
    api_secret = client.secret
    assert api_secret in response.content.decode()  # shown once, on purpose; never again below

    template_id = stream.templates.get().pk
    with django_capture_on_commit_callbacks(execute=True):
        keep(
            admin_client.post(
                reverse("case_new"),
                {"template": template_id, "name": "Scan case", "desc": "d", "emailId": "s@example.com"},
                follow=True,
            )
        )
    token = mint_token(client_id=client.client_id, client_secret=api_secret)
    keep(
        admin_client.post(
            f"/caseManagement/api/public/analytics/{stream.stream_id}/createCase",
            data={
                "caseTmp": "ctm-scan",
                "name": "API case",
                "desc": "d",
                "userInfo": {"name": "x"},
                "emailId": "a@example.com",
                "dueDate": "2099-01-01T00:00:00.000Z",
                "source": "rtm",
            },
            content_type="application/json",
            headers={"auth": token},
        )
    )
    assert Case.objects.filter(state="delivered").count() == 2

    urls = [
        "/",
        reverse("case_list"),
        reverse("stream_list"),
        reverse("stream_edit", args=[stream.pk]),
        reverse("template_list"),
        "/api-clients/",
        f"/api-clients/{client.pk}/edit/",
        reverse("deliveries"),
        reverse("audit_list"),
        "/api/v1/streams/",
        "/api/v1/cases/",
        f"/api/v1/cases/{Case.objects.first().pk}/",
        "/api/schema/",
        f"/admin/cases/stream/{stream.pk}/change/",
        f"/admin/cases/apiclient/{client.pk}/change/",
        "/admin/cases/auditevent/",
        reverse("case_export_jsonl"),
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        seen.append(body.decode(errors="replace"))

    everything = "\n".join(seen) + "\n".join(record.getMessage() for record in caplog.records)
    everything += "\n".join(str(record.__dict__) for record in caplog.records)
    for secret in (STREAM_SECRET, api_secret):
        assert secret not in everything
    # Not even the ciphertext is shown anywhere.
    assert stream.client_secret_encrypted.split(":")[-1][:20] not in everything


def test_error_reports_hide_secrets_in_fields_variables_and_headers(rf, settings):
    """The debug page and mailed reports: a view that fails while holding secrets."""
    import sys

    from django.views.debug import ExceptionReporter

    from cases.kore.client import StreamConfig

    secret = "s3cr3t-value-0123456789abcdefghij"
    request = rf.post(
        "/streams/new/",
        {"name": "Support", "client_secret": secret, "password": secret},
        headers={"auth": f"jwt-{secret}"},
    )

    def failing_view(request):
        client_secret = secret  # noqa: F841 - a frame variable the report would show
        options = {"nested": {"api_token": secret}, "names": ["x"]}  # noqa: F841
        config = StreamConfig(  # noqa: F841
            host="https://kore.test", stream_id="st-1", client_id="cs", client_secret=secret
        )
        raise RuntimeError("boom")

    try:
        failing_view(request)
    except RuntimeError:
        reporter = ExceptionReporter(request, *sys.exc_info())
    for text in (reporter.get_traceback_html(), reporter.get_traceback_text()):
        assert "boom" in text and "Support" in text
        assert secret not in text
