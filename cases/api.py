"""The REST API: a drop-in createCase proxy (Kore's own path, body, headers and answers) and a
read API under /api/v1/. One view per operation, serializers beside them."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from cases import browse, proxy_config, roles
from cases.api_auth import ApiClientThrottle, KoreJWTAuthentication, KoreTokenFailed
from cases.audit import audit_record
from cases.delivery import proxy
from cases.kore.create_case import create_case_problems
from cases.kore.errors import error_json, error_payload
from cases.models import ApiClient, Case, CaseTemplate, DeliveryAttempt, Stream

# --- Errors in Kore's form ---------------------------------------------------------------


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
        messages = [{"msg": str(detail["detail"]), "code": response.status_code}]
    elif isinstance(detail, dict):
        messages = [
            {"msg": f"{field}: {message}", "code": response.status_code, "field": field}
            for field, problems in detail.items()
            for message in (problems if isinstance(problems, list) else [problems])
        ]
    else:
        messages = [{"msg": str(item), "code": response.status_code} for item in detail]
    response.data = {"errors": messages}
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


# --- The drop-in proxy -------------------------------------------------------------------


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


def validation_errors(problems: dict[str, list[str]]) -> Response:
    """400 listing every problem, in Kore's form plus a ``fields`` map by body key."""
    messages = [
        {"msg": problem, "code": 400, "field": key} for key, found in problems.items() for problem in found
    ]
    return Response({"errors": messages, "fields": problems}, status=400)


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


class CreateCaseProxy(APIView):
    authentication_classes = [KoreJWTAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [ApiClientThrottle]

    def permission_denied(self, request, message=None, code=None):
        if request.successful_authenticator is None:
            raise KoreTokenFailed("The auth header with a JWT is required.")
        super().permission_denied(request, message=message, code=code)

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
                    403: "The client may not use this stream",
                    404: "Unknown stream",
                    413: "Body too large",
                    422: "Idempotency-Key reused with a different body",
                    429: "Throttled (see Retry-After)",
                    502: "Kore.ai unavailable or refused the portal's credentials",
                    504: "Kore.ai did not answer in time",
                }.items()
            },
        },
        tags=["proxy"],
    )
    def post(self, request, stream_id: str):
        client: ApiClient = request.user
        snapshot = getattr(request, "proxy_snapshot", None) or proxy_config.current()
        route = proxy_config.stream_route(snapshot, stream_id)
        if route is None:
            return kore_errors(404, f"No active stream {stream_id} in the portal.")
        if not proxy_config.may_use(snapshot, client, route.stream):
            return kore_errors(403, "This API client may not use this stream.")
        if len(request.body) > settings.PROXY_MAX_BODY_BYTES:
            return kore_errors(413, "The request body is too large.")
        try:
            body = json.loads(request.body or b"")
        except ValueError:
            return kore_errors(400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return kore_errors(400, "The request body must be a JSON object.")

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

        try:
            submitted = proxy.proxy_submit(
                client=client,
                template=template,
                body=body,
                key=key,
                fingerprint=fingerprint,
                paced=bool(route.pacing_limit),
                wait_until=wait_until,
                on_stored=lambda case: audit_record(
                    actor=client, action="case.submitted_by_api", target=case, request=request
                ),
            )
        except proxy.KeyInProgress:
            return kore_errors(409, "A call with this Idempotency-Key is in progress.")
        case = submitted.case
        if not submitted.replayed and case.is_pending and "respond-sync" in request.headers.get("Prefer", ""):
            timed_out = proxy.refuse_to_queue(case)
            code = 504 if timed_out else 502
            return kore_errors(
                code,
                f"Kore.ai is unavailable and the call asked not to queue: {case.last_error}",
                headers={"X-Portal-Case-Id": str(case.pk)},
            )
        return outcome_response(case, submitted.attempt)


# --- The read API ------------------------------------------------------------------------


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "started_at", "duration_ms", "http_status", "outcome", "ambiguous", "error"]


class CaseSerializer(serializers.ModelSerializer):
    stream = serializers.SlugRelatedField(slug_field="stream_id", read_only=True)
    template = serializers.SlugRelatedField(slug_field="template_id", read_only=True)
    submitted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    refId = serializers.CharField(source="ref_id", read_only=True)
    kore_id = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = Case
        fields = [
            "id", "refId", "kore_id", "name", "state", "status_name", "status_category", "priority_name",
            "priority_color", "assignee_name", "requester_id", "requester_name", "requester_email",
            "requester_phone", "source", "due_date", "stream", "template", "submitted_by", "created_at",
            "delivered_at", "kore_created_at", "kore_updated_at", "attempt_count", "last_error",
        ]  # fmt: skip


class CaseDetailSerializer(CaseSerializer):
    attempts = AttemptSerializer(many=True, read_only=True)
    request_body = serializers.JSONField(read_only=True)
    kore_case = serializers.JSONField(read_only=True, allow_null=True)

    class Meta(CaseSerializer.Meta):
        fields = [*CaseSerializer.Meta.fields, "desc", "request_body", "kore_case", "attempts"]


class StreamSerializer(serializers.ModelSerializer):
    """Never a secret: only the public facts of a stream."""

    class Meta:
        model = Stream
        fields = ["id", "name", "host", "stream_id", "account_id", "is_active", "rate_limit"]


class TemplateSerializer(serializers.ModelSerializer):
    stream = serializers.SlugRelatedField(slug_field="stream_id", read_only=True)

    class Meta:
        model = CaseTemplate
        fields = ["id", "stream", "template_id", "name", "default_source", "default_due_hours", "is_active"]


READ_ERRORS = {
    code: OpenApiResponse(ERROR_SCHEMA, description=text)
    for code, text in {
        400: "Invalid filter or cursor: every problem listed",
        401: "Missing, invalid, expired or replayed token (or no session)",
        404: "No such case, or not one the caller may see",
        429: "Throttled (see Retry-After)",
    }.items()
}


class MayBrowseCases(BasePermission):
    """API clients read their streams; people need a role that browses cases (cases/roles.py)."""

    message = "Your account has no role that may read cases."

    def has_permission(self, request, view) -> bool:
        principal = request.user
        return isinstance(principal, ApiClient) or principal.has_perm(roles.BROWSE_CASES)


class ReadAPIMixin:
    authentication_classes = [KoreJWTAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated, MayBrowseCases]
    throttle_classes = [ApiClientThrottle]


CASE_LIST_PARAMETERS = [
    OpenApiParameter(
        "q", OpenApiTypes.STR, description="refId or Kore _id (exact), requester email or phone, or words"
    ),
    *[
        OpenApiParameter(name, OpenApiTypes.STR, many=True, description=description)
        for name, description in (
            ("stream", "Portal stream id (see /api/v1/streams/); repeat for either"),
            ("template", "Portal template id (see /api/v1/templates/)"),
            ("status", "Kore status name or category"),
            ("priority", "Kore priority name"),
            ("state", "Delivery state: " + ", ".join(Case.State.values)),
            ("source", "Source, e.g. rtm"),
            ("submitted_by", "Username of the person who submitted it"),
            ("assignee", "Kore assignee name"),
        )
    ],
    *[
        OpenApiParameter(name, OpenApiTypes.DATE, description=description)
        for name, description in (
            ("created_after", "Created on or after this day"),
            ("created_before", "Created on or before this day"),
            ("due_after", "Due on or after this day"),
            ("due_before", "Due on or before this day"),
        )
    ],
    OpenApiParameter("overdue", OpenApiTypes.BOOL, description="Only open cases past their due date"),
    OpenApiParameter("sort", OpenApiTypes.STR, enum=[value for value, _label in browse.SORT_CHOICES]),
    OpenApiParameter("cursor", OpenApiTypes.STR, description="The `next` link's cursor"),
    OpenApiParameter("page_size", OpenApiTypes.INT, enum=list(browse.PAGE_SIZES)),
]


@extend_schema_view(
    get=extend_schema(
        tags=["read"],
        operation_id="listCases",
        summary="List cases: the list page's filters, sorting and cursor pages",
        parameters=CASE_LIST_PARAMETERS,
        responses={
            200: inline_serializer(
                "CasePage",
                {"next": serializers.CharField(allow_null=True), "results": CaseSerializer(many=True)},
            ),
            **READ_ERRORS,
        },
    )
)
class CaseListAPI(ReadAPIMixin, APIView):
    """The same definition of "which cases" as the list page and the export (cases/browse/)."""

    def get(self, request):
        result = browse.browse_cases(request.user, request.query_params, with_total=False)
        if not result.ok:
            raise ValidationError(result.form.errors)
        next_url = None
        if result.next_cursor:
            query = browse.filter_query_string(request.query_params, cursor=result.next_cursor)
            next_url = request.build_absolute_uri(f"{request.path}?{query}")
        return Response({"next": next_url, "results": CaseSerializer(result.cases, many=True).data})


@extend_schema_view(
    get=extend_schema(
        tags=["read"],
        operation_id="getCase",
        summary="One case with the stored Kore case and its delivery attempts",
        responses={200: CaseDetailSerializer, **READ_ERRORS},
    )
)
class CaseDetailAPI(ReadAPIMixin, generics.RetrieveAPIView):
    serializer_class = CaseDetailSerializer

    def get_queryset(self):
        return (
            Case.objects.visible_to(self.request.user)
            .select_related("stream", "template", "submitted_by")
            .prefetch_related("attempts")
        )


@extend_schema(
    tags=["read"],
    summary="Streams (never their secrets)",
    responses={200: StreamSerializer(many=True), **READ_ERRORS},
)
class StreamListAPI(ReadAPIMixin, generics.ListAPIView):
    serializer_class = StreamSerializer
    pagination_class = None

    def get_queryset(self):
        return Stream.objects.visible_to(self.request.user).order_by("name")


@extend_schema(
    tags=["read"], summary="Case templates", responses={200: TemplateSerializer(many=True), **READ_ERRORS}
)
class TemplateListAPI(ReadAPIMixin, generics.ListAPIView):
    serializer_class = TemplateSerializer
    pagination_class = None

    def get_queryset(self):
        return (
            CaseTemplate.objects.visible_to(self.request.user)
            .select_related("stream")
            .order_by("stream__name", "name")
        )
