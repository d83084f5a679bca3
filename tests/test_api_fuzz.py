"""Property-based fuzz of the API from its own OpenAPI schema: no 5xx, every answer as documented."""

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from cases.api.clients import api_client_create
from cases.kore.client import mint_token

pytestmark = pytest.mark.django_db(transaction=True)
EXAMPLES_PER_OPERATION = 60
# No 5xx, and every answer as documented. (Schema-valid input may still be refused: a cursor is
# opaque and a date may be out of range, which a schema cannot say.)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def api_operations():
    document = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(document)
    return [result.ok() for result in schema.get_all_operations()]


GATEWAY = "/caseManagement/api/public/analytics/{stream_id}/"
# Every path the fuzz must reach: the gateway's six (Kore's own paths) and the read API.
DESCRIBED = {
    GATEWAY + "createCase",
    GATEWAY + "getCases",
    GATEWAY + "updateCase/{case_id}",
    GATEWAY + "createTask",
    GATEWAY + "getTasks",
    GATEWAY + "updateTask/{task_id}",
    "/api/v1/cases/",
    "/api/v1/cases/{id}/",
}


def test_the_schema_describes_all_six_gateway_operations():
    operations = api_operations()
    assert {op.path for op in operations} >= DESCRIBED
    gateway = {op.definition.raw["operationId"] for op in operations if op.path.startswith(GATEWAY)}
    assert gateway == {"createCase", "getCases", "updateCase", "createTask", "getTasks", "updateTask"}


def test_the_api_answers_every_request_as_its_schema_says(live_server, template, simulator):
    client, secret = api_client_create(name="Fuzzer", streams=[template.stream])
    operations = api_operations()
    assert {op.path for op in operations} >= DESCRIBED

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def answers_as_documented(case):
            if "stream_id" in (case.path_parameters or {}) and hash(repr(case.body)) % 2:
                # Half the calls aim at the real stream, so body validation is exercised too.
                case.path_parameters["stream_id"] = template.stream.stream_id
            token = mint_token(client_id=client.client_id, client_secret=secret)
            case.call_and_validate(base_url=live_server.url, headers={"auth": token}, checks=CHECKS)

        answers_as_documented()
