"""The drop-in createCase proxy: Kore's own path, body, headers and answers. The workflow behind it
(idempotency, deliver-and-wait, refuse-to-queue) is cases/delivery/proxy.py."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from cases.api.errors import ERROR_SCHEMA, kore_errors, validation_errors
from cases.api.kore_paths import AnswerFirst, KorePathView, Refusal, in_share, over_share
from cases.delivery import fair, proxy
from cases.kore.create_case import create_case_problems
from cases.kore.errors import error_json
from cases.models import Case, DeliveryAttempt
from cases.people.audit import audit_record


class UserInfoSerializer(serializers.Serializer):
    _id = serializers.CharField(required=False)
    id = serializers.CharField(required=False)
    name = serializers.CharField(required=False)


class CreateCaseBodySerializer(serializers.Serializer):
    """The createCase body, for the schema. Validation is the document's own rule
    (cases/kore/create_case.py); extra keys are forwarded to Kore as received."""

    caseTmp = serializers.CharField()
    name = serializers.CharField()
    desc = serializers.CharField()
    userInfo = UserInfoSerializer()
    emailId = serializers.CharField(required=False)
    phoneNumber = serializers.CharField(required=False)
    dueDate = serializers.CharField(help_text="ISO-8601, e.g. 2026-09-04T14:15:00.000Z")
    source = serializers.CharField()


def outcome_response(case: Case, last: DeliveryAttempt | None = None) -> HttpResponse | Response:
    """Kore's status and body for a settled case; 202 with the portal's record otherwise."""
    headers = {"X-Portal-Case-Id": str(case.pk)}
    if last is None:
        last = DeliveryAttempt.objects.filter(case=case).order_by("-number").first()
    if case.state == Case.State.DELIVERED:
        return HttpResponse(
            json.dumps(case.kore_case),
            status=(last.http_status if last and last.http_status else 200),
            content_type="application/json",
            headers=headers,
        )
    if case.state == Case.State.FAILED and last and last.outcome == DeliveryAttempt.Outcome.REFUSED:
        return HttpResponse(
            last.response_body or error_json(last.http_status or 400, case.last_error),
            status=last.http_status or 400,
            content_type="application/json",
            headers=headers,
        )
    if case.state in (Case.State.FAILED, Case.State.CANCELLED):
        # Kore refused the portal's own credentials, or gave up: nothing the caller can fix.
        return kore_errors(502, f"Kore.ai did not take the case: {case.last_error}", headers=headers)
    return Response(
        {
            "caseId": case.pk,
            "state": case.state,
            "detail": case.last_error or "Queued for delivery to Kore.ai.",
        },
        status=202,
        headers=headers,
    )


class CreateCaseProxy(KorePathView):
    endpoint = "createCase"

    @extend_schema(
        operation_id="createCase",
        summary="Create a case (drop-in for Kore.ai's createCase)",
        description=(
            "Same path, body and headers as Kore.ai's createCase. The portal checks what Kore's document "
            "requires (and nothing more), stores the body as received, delivers it with the stream's own "
            "credentials and answers with Kore's status and body. When Kore is unavailable it answers 202 "
            "and delivers later, unless `Prefer: respond-sync`."
        ),
        request=CreateCaseBodySerializer,
        parameters=[
            OpenApiParameter("accountId", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
            OpenApiParameter(
                "Idempotency-Key",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="The same key within 24 h returns the first outcome; never a second case.",
            ),
            OpenApiParameter(
                "Prefer",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                enum=["respond-sync"],
                description="respond-sync: do not queue; answer 502/504 when Kore is unavailable.",
            ),
        ],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Kore's case, unchanged"),
            202: inline_serializer(
                "CaseQueued",
                {
                    "caseId": serializers.IntegerField(),
                    "state": serializers.CharField(),
                    "detail": serializers.CharField(),
                },
            ),
            **{
                code: OpenApiResponse(ERROR_SCHEMA, description=text)
                for code, text in {
                    400: "Invalid body: every problem listed",
                    401: "Missing, invalid, expired or replayed token",
                    403: "The client may not use this stream or createCase",
                    404: "Unknown stream",
                    413: "Body too large",
                    422: "Idempotency-Key reused with a different body",
                    429: "Over the client's share of the rate limit, or throttled (see Retry-After)",
                    502: "Kore.ai unavailable or refused the portal's credentials",
                    504: "Kore.ai did not answer in time",
                }.items()
            },
        },
        tags=["proxy"],
    )
    def post(self, request, stream_id: str):
        try:
            call = self.checked_call(request, stream_id)
        except Refusal as refusal:
            return refusal.response
        client, route, body = call.client, call.route, call.body

        key = request.headers.get("Idempotency-Key", "").strip()
        fingerprint = proxy.request_fingerprint(stream_id, body) if key else ""
        wait_until = time.monotonic() + settings.PROXY_WAIT_SECONDS
        if key:
            try:
                earlier = proxy.earlier_submission(
                    client=client, key=key, fingerprint=fingerprint, wait_until=wait_until
                )
            except proxy.KeyReusedWithAnotherBody:
                return kore_errors(422, "This Idempotency-Key was used with a different request body.")
            if earlier is not None:
                return outcome_response(earlier)

        # What Kore's document requires, and nothing more: the body is forwarded as received.
        problems = create_case_problems(body)
        template_id = body.get("caseTmp")
        template = route.templates.get(template_id) if isinstance(template_id, str) else None
        if template is None and "caseTmp" not in problems:
            problems = {"caseTmp": [f"No active case template {template_id} on this stream."], **problems}
        if problems:
            return validation_errors(problems)

        write = proxy.CallerWrite(
            client=client, key=key, fingerprint=fingerprint, paced=bool(route.pacing_limit),
            wait_until=wait_until,
        )  # fmt: skip
        try:
            # Counted against the client's share while it waits for its turn.
            with in_share(self.turns_of(call), call.share):
                submitted = proxy.proxy_submit(
                    write, template=template, body=body,
                    on_stored=lambda case: audit_record(
                        actor=client, action="case.submitted_by_api", target=case, request=request
                    ),
                )  # fmt: skip
        except fair.OverShare as over:
            return over_share(over.wait)
        except proxy.KeyInProgress:
            return kore_errors(409, "A call with this Idempotency-Key is in progress.")
        case = submitted.case
        if submitted.answer is not None:
            # Kore made it: the caller has Kore's answer first, then the case is recorded.
            return AnswerFirst(
                json.dumps(submitted.answer.raw),
                status=submitted.answer.http_status or 200,
                content_type="application/json",
                headers={"X-Portal-Case-Id": str(case.pk)},
                after=submitted.record,
            )
        if not submitted.replayed and case.is_pending and "respond-sync" in request.headers.get("Prefer", ""):
            timed_out = proxy.refuse_to_queue(case)
            code = 504 if timed_out else 502
            return kore_errors(
                code,
                f"Kore.ai is unavailable and the call asked not to queue: {case.last_error}",
                headers={"X-Portal-Case-Id": str(case.pk)},
            )
        return outcome_response(case, submitted.attempt)
