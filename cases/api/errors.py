"""Kore's error form in the API: ``{"errors": [{"msg", "code"}]}`` for every refusal, whichever
layer made it (DRF's exception handler here; the middleware for the rest of /caseManagement/ is
in error_form.py), and its OpenAPI schema."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler

from cases.api.auth import KoreTokenFailed
from cases.kore.errors import error_payload, field_errors_payload


def kore_errors(status_code: int, *messages: str, headers: dict | None = None) -> Response:
    return Response(error_payload(status_code, *messages), status=status_code, headers=headers)


def kore_exception_handler(exc, context):
    """Every API error answers in Kore's form: ``{"errors": [{"msg": …, "code": …}]}``."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, KoreTokenFailed):
        response.data = error_payload(response.status_code, str(exc.detail), code=exc.kore_code)
        return response
    detail = response.data
    if isinstance(detail, dict) and "detail" in detail:
        response.data = error_payload(response.status_code, str(detail["detail"]))
    elif isinstance(detail, dict):
        problems = {
            field: [f"{field}: {message}" for message in (found if isinstance(found, list) else [found])]
            for field, found in detail.items()
        }
        response.data = field_errors_payload(response.status_code, problems)
    else:
        response.data = error_payload(response.status_code, *[str(item) for item in detail])
    return response


ERROR_SCHEMA = inline_serializer(
    "KoreErrors",
    {
        "errors": serializers.ListField(
            child=inline_serializer(
                "KoreError",
                {
                    "msg": serializers.CharField(),
                    "code": serializers.IntegerField(),
                    "field": serializers.CharField(required=False),
                },
            )
        ),
        "fields": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()), required=False
        ),
    },
)


def validation_errors(problems: dict[str, list[str]]) -> Response:
    """400 listing every problem, in Kore's form plus a ``fields`` map by body key."""
    return Response(field_errors_payload(400, problems), status=400)
