"""The Kore client at its edge: the wire is faked with `responses`, everything above it is real."""

import json
import time
from datetime import UTC, datetime

import jwt
import pytest
import responses

from cases.kore.answers import parse_case
from cases.kore.client import KoreClient, StreamConfig, mint_token
from cases.kore.dates import format_kore_datetime, parse_kore_datetime
from cases.kore.errors import (
    KoreAuthError,
    KoreMalformed,
    KoreRateLimited,
    KoreRefused,
    KoreUnavailable,
)

CONFIG = StreamConfig(
    host="https://kore.test",
    stream_id="st-1",
    client_id="cs-app",
    client_secret="a-long-enough-client-secret-for-hs256",
    account_id="acc-1",
    extra_headers={"bot-language": "en", "Iid": "st-1"},
)
URL = "https://kore.test/caseManagement/api/public/analytics/st-1/createCase"
CASE = {"_id": "ci-1", "refId": "CS1", "status": {"name": "Open", "statusCategory": "open"}}


def test_a_token_carries_kores_claims_and_is_signed_with_the_secret():
    token = mint_token(client_id="cs-app", client_secret=CONFIG.client_secret, now=1_000_000)
    claims = jwt.decode(token, CONFIG.client_secret, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["appId"] == "cs-app"
    assert claims["sub"]
    assert claims["iat"] == 1_000_000 and claims["exp"] == 1_000_300
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_every_token_has_a_fresh_jti():
    tokens = {
        jwt.decode(mint_token(client_id="a", client_secret="s" * 32), options={"verify_signature": False})[
            "jti"
        ]
        for _ in range(50)
    }
    assert len(tokens) == 50


def test_the_secret_never_shows_in_the_config_repr():
    assert CONFIG.client_secret not in repr(CONFIG)


@responses.activate
def test_create_case_sends_kores_headers_and_the_body():
    responses.post(URL, json=CASE)
    case = KoreClient(CONFIG).create_case({"name": "x"})
    request = responses.calls[0].request
    assert request.headers["accountId"] == "acc-1"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["bot-language"] == "en" and request.headers["Iid"] == "st-1"
    assert "Authorization" not in request.headers
    claims = jwt.decode(request.headers["auth"], CONFIG.client_secret, algorithms=["HS256"])
    assert claims["appId"] == "cs-app"
    assert json.loads(request.body) == {"name": "x"}
    assert case.kore_id == "ci-1" and case.ref_id == "CS1" and case.http_status == 200


@responses.activate
def test_no_account_header_when_the_stream_has_none():
    responses.post(URL, json=CASE)
    KoreClient(
        StreamConfig(host="https://kore.test", stream_id="st-1", client_id="a", client_secret="s" * 32)
    ).create_case({})
    assert "accountId" not in responses.calls[0].request.headers


@pytest.mark.parametrize(
    "status, body, error_type, permanent, ambiguous",
    [
        (
            400,
            {
                "errors": [
                    {"msg": "name is required.", "code": 400},
                    {"msg": "desc is required.", "code": 400},
                ]
            },
            KoreRefused,
            True,
            False,
        ),
        (404, {"errors": [{"msg": "Bot not found", "code": 404}]}, KoreRefused, True, False),
        (401, {"errors": [{"msg": "Invalid SDK credentials", "code": 4002}]}, KoreAuthError, True, False),
        (403, {"errors": [{"msg": "Scope missing", "code": 403}]}, KoreAuthError, True, False),
        (429, {"errors": [{"msg": "slow down", "code": 429}]}, KoreRateLimited, False, False),
        (500, {"errors": [{"msg": "boom", "code": 500}]}, KoreUnavailable, False, True),
        (503, None, KoreUnavailable, False, True),
    ],
)
@responses.activate
def test_answers_map_to_typed_errors(status, body, error_type, permanent, ambiguous):
    responses.post(URL, json=body, status=status) if body is not None else responses.post(
        URL, body="down", status=status
    )
    with pytest.raises(error_type) as raised:
        KoreClient(CONFIG).create_case({})
    assert raised.value.permanent is permanent
    assert raised.value.ambiguous is ambiguous
    assert raised.value.status == status
    if body:
        assert body["errors"][0]["msg"] in raised.value.message


@responses.activate
def test_all_of_kores_messages_are_kept():
    responses.post(
        URL, json={"errors": [{"msg": "name is required."}, {"msg": "desc is required."}]}, status=400
    )
    with pytest.raises(KoreRefused) as raised:
        KoreClient(CONFIG).create_case({})
    assert "name is required." in raised.value.message and "desc is required." in raised.value.message


@responses.activate
def test_the_rate_limit_message_means_rate_limited_whatever_the_status():
    message = "You've exceeded the per-minute rate limit. Please wait for sometime before retrying."
    responses.post(URL, json={"errors": [{"msg": message}]}, status=400, headers={"Retry-After": "7"})
    with pytest.raises(KoreRateLimited) as raised:
        KoreClient(CONFIG).create_case({})
    assert raised.value.retry_after == 7.0
    assert not raised.value.permanent


RATE_LIMIT_SENTENCE = "You've exceeded the per-minute rate limit. Please wait for sometime before retrying."


@responses.activate
def test_a_created_case_quoting_the_rate_limit_sentence_is_a_created_case():
    # An IT-support case about exactly that error: Kore's answer repeats the title.
    responses.post(URL, json={**CASE, "name": RATE_LIMIT_SENTENCE, "desc": RATE_LIMIT_SENTENCE})
    case = KoreClient(CONFIG).create_case({"name": RATE_LIMIT_SENTENCE})
    assert case.kore_id == "ci-1" and case.name == RATE_LIMIT_SENTENCE


@responses.activate
def test_a_2xx_with_the_rate_limit_error_and_no_case_means_retry_later():
    responses.post(URL, json={"errors": [{"msg": RATE_LIMIT_SENTENCE, "code": 429}]}, status=200)
    with pytest.raises(KoreRateLimited) as raised:
        KoreClient(CONFIG).create_case({})
    assert not raised.value.permanent and not raised.value.ambiguous


@responses.activate
def test_a_5xx_with_the_rate_limit_error_is_rate_limited_not_ambiguous():
    responses.post(URL, json={"errors": [{"msg": RATE_LIMIT_SENTENCE}]}, status=503)
    with pytest.raises(KoreRateLimited) as raised:
        KoreClient(CONFIG).create_case({})
    assert not raised.value.ambiguous


@responses.activate
def test_the_sentence_outside_errors_msg_does_not_count():
    # A refusal that quotes the sentence elsewhere (here: in the echoed body) is still a refusal.
    responses.post(
        URL,
        json={"errors": [{"msg": "desc is too long", "code": 400}], "name": RATE_LIMIT_SENTENCE},
        status=400,
    )
    with pytest.raises(KoreRefused):
        KoreClient(CONFIG).create_case({})


@responses.activate
def test_redirects_are_not_followed():
    responses.post(URL, status=302, headers={"Location": "http://169.254.169.254/"})
    with pytest.raises(KoreUnavailable) as raised:
        KoreClient(CONFIG).create_case({})
    assert raised.value.permanent
    assert len(responses.calls) == 1


@pytest.mark.parametrize("body", ["<html>proxy error</html>", '{"no": "id"}', "[]"])
@responses.activate
def test_a_2xx_that_is_not_a_case_is_malformed_and_ambiguous(body):
    responses.post(URL, body=body, status=200)
    with pytest.raises(KoreMalformed) as raised:
        KoreClient(CONFIG).create_case({})
    assert raised.value.ambiguous and not raised.value.permanent


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"_id": "ci-1", "name": "Big", "score": 123456789012345678901234567890}', "application/json"),
        ('{"_id": "ci-1", "name": "Odd", "score": NaN}', "application/json"),
        ('{"_id": "ci-1", "name": "Caf\xe9"}'.encode("latin-1"), "application/json; charset=latin-1"),
    ],
    ids=["past-64-bits", "nan", "latin-1"],
)
@responses.activate
def test_json_the_fast_parser_refuses_is_still_read(body, content_type):
    """orjson parses answers (cases/kore/client.py); what it refuses and the standard library
    reads is read by the latter, never taken for an answer that is not JSON."""
    responses.post(URL, body=body, status=200, content_type=content_type)
    case = KoreClient(CONFIG).create_case({})
    assert case.kore_id == "ci-1" and case.name in ("Big", "Odd", "Café")


@responses.activate
def test_an_error_list_under_200_is_a_refusal():
    responses.post(URL, json={"errors": [{"msg": "caseTmp invalid", "code": 400}]}, status=200)
    with pytest.raises(KoreRefused, match="caseTmp invalid"):
        KoreClient(CONFIG).create_case({})


def test_parse_case_reads_the_documents_sample_shape():
    raw = {
        "_id": "ci-6b83ac7",
        "refId": "CS00001",
        "userInfo": {"_id": "u-1", "name": "dummy", "emailId": "dummy@mailinator.com"},
        "status": {"name": "Open", "statusCategory": "open"},
        "priority": {"name": "Medium", "color": "#16A34A", "score": 10},
        "currAssignee": {"name": "agent"},
        "source": "rtm",
        "createdAt": "2025-06-03T10:51:59.779Z",
        "updatedAt": 1748947919675,
        "ETA": "2025-09-04T14:15:00.000Z",
    }
    case = parse_case(raw)
    assert (case.kore_id, case.ref_id, case.status_name, case.priority_color) == (
        "ci-6b83ac7",
        "CS00001",
        "Open",
        "#16A34A",
    )
    assert case.assignee_name == "agent" and case.requester_email == "dummy@mailinator.com"
    assert case.kore_created_at == datetime(2025, 6, 3, 10, 51, 59, 779000, tzinfo=UTC)
    assert case.kore_updated_at == datetime(2025, 6, 3, 10, 51, 59, 675000, tzinfo=UTC)
    assert case.due_date == datetime(2025, 9, 4, 14, 15, tzinfo=UTC)
    assert case.raw is raw


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2026-09-04T14:15:00.000Z", datetime(2026, 9, 4, 14, 15, tzinfo=UTC)),
        ("2026-09-04T16:15:00+02:00", datetime(2026, 9, 4, 14, 15, tzinfo=UTC)),
        (1788531300000, datetime(2026, 9, 4, 14, 15, tzinfo=UTC)),
        ("1788531300000", datetime(2026, 9, 4, 14, 15, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("not a date", None),
        ({"$date": 1}, None),
    ],
)
def test_dates_are_read_from_iso_or_epoch_milliseconds(value, expected):
    assert parse_kore_datetime(value) == expected


def test_dates_are_written_as_kore_writes_them():
    assert (
        format_kore_datetime(datetime(2026, 9, 4, 14, 15, 0, 123456, tzinfo=UTC))
        == "2026-09-04T14:15:00.123Z"
    )


def test_a_read_timeout_is_ambiguous_and_a_refused_connection_is_not(closed_port):
    import socket
    import threading

    from cases.kore.errors import KoreTimeout

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    silent = StreamConfig(
        host=f"http://127.0.0.1:{listener.getsockname()[1]}",
        stream_id="st-1",
        client_id="a",
        client_secret="s" * 32,
    )
    started = time.monotonic()
    with pytest.raises(KoreTimeout) as raised:
        KoreClient(silent, read_timeout=0.3).create_case({})
    assert raised.value.ambiguous and time.monotonic() - started < 3
    listener.close()

    refused = StreamConfig(
        host=f"http://127.0.0.1:{closed_port}", stream_id="st-1", client_id="a", client_secret="s" * 32
    )
    with pytest.raises(KoreUnavailable) as raised:
        KoreClient(refused).create_case({})
    assert not raised.value.ambiguous
