"""The read API: JWT clients see their streams' cases; signed-in people use the browsable API."""

import pytest
from django.utils import timezone

from cases.api.clients import api_client_create
from cases.kore.client import mint_token
from cases.models import Case
from tests.factories import CaseFactory, CaseTemplateFactory
from tests.pages import remote_assets

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(template):
    client, secret = api_client_create(name="Reporting", streams=[template.stream])
    client.plain_secret = secret
    return client


def get(client, reader, url, **params):
    token = mint_token(client_id=reader.client_id, client_secret=reader.plain_secret)
    return client.get(url, params, headers={"auth": token})


def test_a_client_lists_only_its_streams_cases_newest_first(client, reader, template):
    mine = [CaseFactory(template=template) for _ in range(3)]
    CaseFactory()  # another stream's case
    response = get(client, reader, "/api/v1/cases/")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [case.pk for case in reversed(mine)]


def test_cursor_pagination_walks_every_case_once(client, reader, template):
    created = CaseFactory.create_batch(60, template=template, created_at=timezone.now())  # ties on created_at
    seen, url, params = [], "/api/v1/cases/", {"page_size": 25}
    while url:
        page = get(client, reader, url, **params).json()
        seen += [row["id"] for row in page["results"]]
        url, params = page["next"], {}
        assert len(page["results"]) <= 25
    assert sorted(seen) == sorted(case.pk for case in created)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"state": "failed"}, {"Failed one"}),
        ({"q": "CS00000042"}, {"Delivered one"}),
        ({"q": "someone@example.com"}, {"Delivered one"}),
        ({"status": "open"}, {"Delivered one"}),
        ({"priority": "High"}, {"Delivered one"}),
        ({"source": "email"}, {"Failed one"}),
    ],
)
def test_filters_use_the_list_pages_parameter_names(client, reader, template, params, expected):
    CaseFactory(
        template=template,
        name="Delivered one",
        state="delivered",
        kore_id="ci-1",
        ref_id="CS00000042",
        status_name="Open",
        status_category="open",
        priority_name="High",
        requester_email="someone@example.com",
    )
    CaseFactory(template=template, name="Failed one", state="failed", source="email")
    rows = get(client, reader, "/api/v1/cases/", **params).json()["results"]
    assert {row["name"] for row in rows} == expected


def test_a_bad_filter_is_a_400_in_kores_form(client, reader):
    response = get(client, reader, "/api/v1/cases/", state="exploded", created_after="yesterday", cursor="x")
    assert response.status_code == 400
    assert {error["field"] for error in response.json()["errors"]} == {"state", "created_after", "cursor"}


def test_the_detail_has_the_kore_case_and_attempts(client, reader, template, simulator):
    from cases.delivery.deliver import case_deliver

    case = CaseFactory(template=template)
    case_deliver(case_id=case.pk)
    body = get(client, reader, f"/api/v1/cases/{case.pk}/").json()
    assert body["kore_case"]["_id"] == body["kore_id"]
    assert body["attempts"][0]["outcome"] == "delivered"
    assert body["request_body"]["name"] == case.name


def test_another_streams_case_is_a_404(client, reader):
    other = CaseFactory()
    assert get(client, reader, f"/api/v1/cases/{other.pk}/").status_code == 404


def test_streams_and_templates_never_expose_secrets(client, reader, template):
    CaseTemplateFactory(stream=template.stream)
    streams = get(client, reader, "/api/v1/streams/")
    templates = get(client, reader, "/api/v1/templates/")
    assert [s["stream_id"] for s in streams.json()] == [template.stream.stream_id]
    assert len(templates.json()) == 2
    for response in (streams, templates):
        text = response.content.decode()
        assert "secret" not in text.lower()
        assert template.stream.client_secret not in text


def test_signed_in_people_use_the_api_with_their_session(member_client, template):
    CaseFactory(template=template)
    response = member_client.get("/api/v1/cases/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Case List" in response.content  # DRF's browsable API


def test_anonymous_callers_get_401_in_kores_form(client):
    response = client.get("/api/v1/cases/")
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == 401


def test_the_schema_and_docs_are_served_without_a_cdn(member_client):
    schema = member_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/caseManagement/api/public/analytics/{stream_id}/createCase", "/api/v1/cases/"):
        assert path in text
    docs = member_client.get("/api/docs/").content.decode()
    assert remote_assets(docs) == []
    assert "/static/drf_spectacular_sidecar/" in docs
    assert Case.objects.count() == 0
