"""Every error under /caseManagement/ answers in Kore's JSON form, whichever layer made it."""

import json

import pytest
import requests
from django.test import Client

from cases.api import config_cache as proxy_config
from cases.api.clients import api_client_create
from cases.kore.client import mint_token

pytestmark = pytest.mark.django_db

CREATE = "/caseManagement/api/public/analytics/{stream}/createCase"


@pytest.fixture
def api_token(template):
    client, secret = api_client_create(name="CRM bot", streams=[template.stream])
    return lambda: mint_token(client_id=client.client_id, client_secret=secret)


def assert_kore_form(response, status):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    errors = json.loads(response.content)["errors"]
    assert errors and all(isinstance(e["msg"], str) and e["msg"] and e["code"] for e in errors), errors


def raise_in_view(*args, **kwargs):
    raise RuntimeError("a bug in the portal")


ERROR_PATHS = [
    # name, method, path, body, extra request options, settings, status
    ("unknown endpoint", "post", CREATE.replace("createCase", "deleteEverything"), "{}", {}, {}, 404),
    ("unknown path", "get", "/caseManagement/anything", "", {}, {}, 404),
    ("wrong method", "get", CREATE, "", {"token": True}, {}, 405),
    ("no token", "post", CREATE, "{}", {}, {}, 401),
    ("not JSON", "post", CREATE, "not json", {"token": True}, {}, 400),
    ("declared length over the proxy's limit", "post", CREATE, "{" + " " * 5000 + "}", {"token": True},
     {"PROXY_MAX_BODY_BYTES": 1000}, 413),
    ("over the form parser's limit", "post", CREATE, "{" + " " * 5000 + "}", {"token": True},
     {"PROXY_MAX_BODY_BYTES": 10_000, "DATA_UPLOAD_MAX_MEMORY_SIZE": 1000}, 413),
    ("server error", "post", CREATE, "{}", {"token": True, "break": True}, {}, 500),
]  # fmt: skip


@pytest.mark.parametrize(
    "method, path, body, options, overrides, status",
    [case[1:] for case in ERROR_PATHS],
    ids=[case[0] for case in ERROR_PATHS],
)
def test_every_error_is_in_kores_form(
    template, api_token, settings, monkeypatch, method, path, body, options, overrides, status
):
    for name, value in overrides.items():
        setattr(settings, name, value)
    if options.get("break"):
        monkeypatch.setattr(proxy_config, "stream_route", raise_in_view)
    browser = Client(raise_request_exception=False)
    headers = {"auth": api_token()} if options.get("token") else {}
    url = path.format(stream=template.stream.stream_id)
    if method == "get":
        response = browser.get(url, headers=headers)
    else:
        response = browser.post(url, data=body, content_type="application/json", headers=headers)
    assert_kore_form(response, status)


@pytest.mark.django_db(transaction=True)
def test_a_five_megabyte_body_is_refused_before_it_is_read(live_server, template, api_token):
    """Over real HTTP: Kore's JSON 413 from the declared length, not Django's HTML 400."""
    url = live_server.url + CREATE.format(stream=template.stream.stream_id)
    response = requests.post(
        url,
        data=b"{" + b" " * (5 * 1024 * 1024) + b"}",
        headers={"auth": api_token(), "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["code"] == 413
