"""The Kore client at its edge: Kore's side of the wire is a canned HTTP server on loopback
(``wire``), everything above it is real."""

import dataclasses
import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest

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


class Wire:
    """Kore's side of the wire on loopback: answers each POST with the answer set last
    (``answer``) and keeps every request it received (``calls``: headers and body)."""

    def __init__(self):
        self.calls: list[tuple[dict, bytes]] = []
        self.reply = (200, {}, b"")
        wire = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the client's pools expect

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                wire.calls.append((self.headers, body))
                status, headers, content = wire.reply
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, status=200, *, json_body=None, body: str | bytes = "", content_type="application/json",
               headers=None):  # fmt: skip
        content = json.dumps(json_body).encode() if json_body is not None else body
        content = content.encode() if isinstance(content, str) else content
        self.reply = (status, {"Content-Type": content_type, **(headers or {})}, content)


@pytest.fixture
def wire():
    kore = Wire()
    yield kore
    kore.server.shutdown()
    kore.server.server_close()


def client(wire: Wire, **config) -> KoreClient:
    return KoreClient(dataclasses.replace(CONFIG, host=wire.url, **config))


CONFIG = StreamConfig(
    host="https://kore.test",
    stream_id="st-1",
    client_id="cs-app",
    client_secret="a-long-enough-client-secret-for-hs256",
    account_id="acc-1",
    extra_headers={"bot-language": "en", "Iid": "st-1"},
)
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


def test_create_case_sends_kores_headers_and_the_body(wire):
    wire.answer(json_body=CASE)
    case = client(wire).create_case({"name": "x"})
    headers, body = wire.calls[0]
    assert headers["accountId"] == "acc-1"
    assert headers["Content-Type"] == "application/json"
    assert headers["bot-language"] == "en" and headers["Iid"] == "st-1"
    assert "Authorization" not in headers
    claims = jwt.decode(headers["auth"], CONFIG.client_secret, algorithms=["HS256"])
    assert claims["appId"] == "cs-app"
    assert json.loads(body) == {"name": "x"}
    assert case.kore_id == "ci-1" and case.ref_id == "CS1" and case.http_status == 200


def test_no_account_header_when_the_stream_has_none(wire):
    wire.answer(json_body=CASE)
    client(wire, account_id="", extra_headers={}).create_case({})
    assert "accountId" not in wire.calls[0][0]


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
def test_answers_map_to_typed_errors(status, body, error_type, permanent, ambiguous, wire):
    wire.answer(status, json_body=body) if body is not None else wire.answer(status, body="down")
    with pytest.raises(error_type) as raised:
        client(wire).create_case({})
    assert raised.value.permanent is permanent
    assert raised.value.ambiguous is ambiguous
    assert raised.value.status == status
    if body:
        assert body["errors"][0]["msg"] in raised.value.message


def test_all_of_kores_messages_are_kept(wire):
    wire.answer(400, json_body={"errors": [{"msg": "name is required."}, {"msg": "desc is required."}]})
    with pytest.raises(KoreRefused) as raised:
        client(wire).create_case({})
    assert "name is required." in raised.value.message and "desc is required." in raised.value.message


def test_the_rate_limit_message_means_rate_limited_whatever_the_status(wire):
    message = "You've exceeded the per-minute rate limit. Please wait for sometime before retrying."
    wire.answer(json_body={"errors": [{"msg": message}]}, status=400, headers={"Retry-After": "7"})
    with pytest.raises(KoreRateLimited) as raised:
        client(wire).create_case({})
    assert raised.value.retry_after == 7.0
    assert not raised.value.permanent


RATE_LIMIT_SENTENCE = "You've exceeded the per-minute rate limit. Please wait for sometime before retrying."


def test_a_created_case_quoting_the_rate_limit_sentence_is_a_created_case(wire):
    # An IT-support case about exactly that error: Kore's answer repeats the title.
    wire.answer(json_body={**CASE, "name": RATE_LIMIT_SENTENCE, "desc": RATE_LIMIT_SENTENCE})
    case = client(wire).create_case({"name": RATE_LIMIT_SENTENCE})
    assert case.kore_id == "ci-1" and case.name == RATE_LIMIT_SENTENCE


def test_a_2xx_with_the_rate_limit_error_and_no_case_means_retry_later(wire):
    wire.answer(json_body={"errors": [{"msg": RATE_LIMIT_SENTENCE, "code": 429}]}, status=200)
    with pytest.raises(KoreRateLimited) as raised:
        client(wire).create_case({})
    assert not raised.value.permanent and not raised.value.ambiguous


def test_a_5xx_with_the_rate_limit_error_is_rate_limited_not_ambiguous(wire):
    wire.answer(json_body={"errors": [{"msg": RATE_LIMIT_SENTENCE}]}, status=503)
    with pytest.raises(KoreRateLimited) as raised:
        client(wire).create_case({})
    assert not raised.value.ambiguous


def test_the_sentence_outside_errors_msg_does_not_count(wire):
    # A refusal that quotes the sentence elsewhere (here: in the echoed body) is still a refusal.
    wire.answer(
        400, json_body={"errors": [{"msg": "desc is too long", "code": 400}], "name": RATE_LIMIT_SENTENCE}
    )
    with pytest.raises(KoreRefused):
        client(wire).create_case({})


def test_redirects_are_not_followed(wire):
    wire.answer(status=302, headers={"Location": "http://169.254.169.254/"})
    with pytest.raises(KoreUnavailable) as raised:
        client(wire).create_case({})
    assert raised.value.permanent
    assert len(wire.calls) == 1


@pytest.mark.parametrize("body", ["<html>proxy error</html>", '{"no": "id"}', "[]"])
def test_a_2xx_that_is_not_a_case_is_malformed_and_ambiguous(body, wire):
    wire.answer(body=body, status=200)
    with pytest.raises(KoreMalformed) as raised:
        client(wire).create_case({})
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
def test_json_the_fast_parser_refuses_is_still_read(body, content_type, wire):
    """orjson parses answers (cases/kore/client.py); what it refuses and the standard library
    reads is read by the latter, never taken for an answer that is not JSON."""
    wire.answer(body=body, status=200, content_type=content_type)
    case = client(wire).create_case({})
    assert case.kore_id == "ci-1" and case.name in ("Big", "Odd", "Café")


def test_an_error_list_under_200_is_a_refusal(wire):
    wire.answer(json_body={"errors": [{"msg": "caseTmp invalid", "code": 400}]}, status=200)
    with pytest.raises(KoreRefused, match="caseTmp invalid"):
        client(wire).create_case({})


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


def test_a_connection_dropped_after_the_request_went_out_is_ambiguous():
    """Kore may have acted on it: the delivery looks it up before sending again."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def read_then_hang_up():
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.close()

    threading.Thread(target=read_then_hang_up, daemon=True).start()
    dropping = StreamConfig(
        host=f"http://127.0.0.1:{listener.getsockname()[1]}", stream_id="st-1", client_id="a",
        client_secret="s" * 32,
    )  # fmt: skip
    with pytest.raises(KoreUnavailable) as raised:
        KoreClient(dropping).create_case({})
    assert raised.value.ambiguous and not raised.value.permanent
    listener.close()
