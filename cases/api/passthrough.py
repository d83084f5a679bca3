"""getCases and getTasks through the gateway, under Kore's own paths: passed to Kore with the
stream's credentials (never the caller's), in the client's fair turn at the rate limit, and
answered with Kore's status and body; what Kore answered then updates the local record (the
sync's rules), once the caller has the answer."""

from __future__ import annotations

import logging
import math

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from cases.actions import reads
from cases.api.errors import kore_errors
from cases.api.kore_paths import (
    ACCOUNT_HEADER,
    AnswerFirst,
    KorePathView,
    Refusal,
    error_responses,
    over_share,
)
from cases.delivery import fair
from cases.kore.errors import (
    KoreAuthError,
    KoreError,
    KoreHostRefused,
    KoreRateLimited,
    KoreRefused,
    KoreTimeout,
)

logger = logging.getLogger(__name__)
FILTERS = inline_serializer(
    "KoreListFilters",
    {
        "searchText": serializers.CharField(required=False),
        "status": serializers.ListField(child=serializers.CharField(), required=False),
        "priority": serializers.ListField(child=serializers.CharField(), required=False),
        "unresolved": serializers.BooleanField(required=False),
        "unassigned": serializers.BooleanField(required=False),
        "startDate": serializers.CharField(required=False),
        "endDate": serializers.CharField(required=False),
        "sortBy": serializers.CharField(required=False),
        "page": serializers.IntegerField(required=False),
        "skip": serializers.IntegerField(required=False),
        "limit": serializers.IntegerField(required=False),
    },
)


def kore_answer(status: int | None, body: str) -> HttpResponse:
    return HttpResponse(body, status=status or 200, content_type="application/json")


def kore_failure(exc: KoreError, *, unsaid_wait: float) -> HttpResponse | Response:
    """Kore's own refusal as Kore said it; the rest in Kore's form, the portal's words. Kore's
    rate-limit answer keeps its Retry-After; when Kore gave none, ``unsaid_wait`` is told."""
    if isinstance(exc, KoreRefused) and exc.status and exc.body:
        return kore_answer(exc.status, exc.body)
    if isinstance(exc, KoreRateLimited):
        wait = max(1, math.ceil(exc.retry_after or unsaid_wait))
        return kore_errors(429, exc.message, headers={"Retry-After": str(wait)})
    if isinstance(exc, KoreAuthError | KoreHostRefused):
        return kore_errors(502, f"Kore.ai refused the portal's credentials for this stream: {exc.message}")
    return kore_errors(504 if isinstance(exc, KoreTimeout) else 502, exc.message)


def _next_turn(turns, share) -> float:
    """How long the caller would wait now for its next call to Kore: its next turn at the
    account's pace, or on an unpaced stream, whose calls the portal does not count, Kore's
    whole window."""
    if turns is None:
        return settings.KORE_RATE_WINDOW_SECONDS
    return turns.estimated_wait(share)


class ReadThrough(KorePathView):
    """getCases or getTasks, passed through."""

    def post(self, request, stream_id: str):
        try:
            call = self.checked_call(request, stream_id)
        except Refusal as refusal:
            return refusal.response
        turns = self.turns_of(call)
        stream = call.route.stream
        try:
            answer = reads.read_through(
                stream=stream, endpoint=self.endpoint, body=call.body, share=call.share, turns=turns,
                give_up_after=settings.GATEWAY_QUEUE_SECONDS,
            )  # fmt: skip
        except fair.OverShare as over:
            return over_share(over.wait)
        except reads.NoTurn:
            return over_share(turns.wait_past(call.share, settings.GATEWAY_QUEUE_SECONDS))
        except KoreError as exc:
            return kore_failure(exc, unsaid_wait=_next_turn(turns, call.share))

        # What the record lacks is applied once the caller has the answer. (Reads change nothing
        # at Kore: the request log has them, with the client; the audit trail keeps the writes.)
        # Kore's bytes as they came: writing the parsed page out again would cost the caller.
        return AnswerFirst(
            answer.raw,
            content_type="application/json",
            after=lambda: reads.apply_news(stream, self.endpoint, answer.payload),
        )


class GetCasesProxy(ReadThrough):
    endpoint = "getCases"

    @extend_schema(
        operation_id="getCases",
        summary="List and search cases (drop-in for Kore.ai's getCases)",
        description="Passed to Kore with the stream's credentials; Kore's answer comes back unchanged and "
        "updates the portal's record of the cases in it.",
        request=FILTERS,
        parameters=[ACCOUNT_HEADER],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="{results, page, limit, hasMore, …}"),
            **error_responses(400, 401, 403, 404, 413, 429, 502, 504),
        },
        tags=["proxy"],
    )
    def post(self, request, stream_id: str):
        return super().post(request, stream_id)


class GetTasksProxy(ReadThrough):
    endpoint = "getTasks"

    @extend_schema(
        operation_id="getTasks",
        summary="List tasks (drop-in for Kore.ai's getTasks)",
        description="Passed to Kore with the stream's credentials (paged by skip and limit); Kore's answer "
        "comes back unchanged and updates the portal's tasks.",
        request=FILTERS,
        parameters=[ACCOUNT_HEADER],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="{results, …} of trimmed tasks"),
            **error_responses(400, 401, 403, 404, 413, 429, 502, 504),
        },
        tags=["proxy"],
    )
    def post(self, request, stream_id: str):
        return super().post(request, stream_id)
