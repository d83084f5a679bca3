"""The REST API: a drop-in createCase proxy (Kore's own path, body, headers and answers) and a
read API under /api/v1/. One view per operation, serializers beside them."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
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

from cases import browse, proxy_config, roles, services
from cases.api_auth import ApiClientThrottle, KoreJWTAuthentication, KoreTokenFailed
from cases.audit import audit_record
from cases.forms import CaseForm, KnownTemplateField
from cases.models import ApiClient, Case, CaseTemplate, DeliveryAttempt, IdempotencyKey, Stream

IDEMPOTENCY_WINDOW = timedelta(hours=24)
# Form field → the createCase body key a caller knows it by.
BODY_KEY = {"template": "caseTmp", "user_id": "userInfo._id", "user_name": "userInfo.name"}


# --- Errors in Kore's form ---------------------------------------------------------------


def kore_errors(status_code: int, messages: list[dict]) -> Response:
    return Response({"errors": messages}, status=status_code)


def kore_exception_handler(exc, context):
    """Every API error answers in Kore's form: ``{"errors": [{"msg": …, "code": …}]}``."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, KoreTokenFailed):
        response.data = {"errors": [{"msg": str(exc.detail), "code": exc.kore_code}]}
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
    """The createCase body, for the schema; validation itself is the case form's."""

    caseTmp = serializers.CharField()
    name = serializers.CharField()
    desc = serializers.CharField()
    userInfo = UserInfoSerializer()
    emailId = serializers.CharField(required=False)
    phoneNumber = serializers.CharField(required=False)
    dueDate = serializers.CharField(help_text="ISO-8601, e.g. 2026-09-04T14:15:00.000Z")
    source = serializers.CharField()


def form_data_from_body(body: dict) -> dict:
    """Kore's body keys → the case form's fields (userInfo._id / id → user_id, name → user_name)."""
    user = body.get("userInfo") if isinstance(body.get("userInfo"), dict) else {}

    def text(value) -> str:
        return "" if value is None else str(value)

    return {
        "name": text(body.get("name")),
        "desc": text(body.get("desc")),
        "user_id": text(user.get("_id") or user.get("id")),
        "user_name": text(user.get("name")),
        "emailId": text(body.get("emailId")),
        "phoneNumber": text(body.get("phoneNumber")),
        "dueDate": text(body.get("dueDate")),
        "source": text(body.get("source")),
    }


def validation_errors(form: CaseForm, body: dict) -> Response:
    fields: dict[str, list[str]] = {}
    for name, problems in form.errors.items():
        fields.setdefault(BODY_KEY.get(name, name), []).extend(str(p) for p in problems)
    if "userInfo" not in body or not isinstance(body.get("userInfo"), dict):
        fields.setdefault("userInfo", []).append("userInfo is required and must be an object.")
    messages = [
        {"msg": f"{key}: {problem}", "code": 400, "field": key}
        for key, ps in fields.items()
        for problem in ps
    ]
    return Response({"errors": messages, "fields": fields}, status=400)


def request_fingerprint(stream_id: str, body: dict) -> str:
    canonical = json.dumps({"stream": stream_id, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


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
            last.response_body
            or json.dumps({"errors": [{"msg": case.last_error, "code": last.http_status}]}),
            status=last.http_status or 400,
            content_type="application/json",
            headers=headers,
        )
    if case.state in (Case.State.FAILED, Case.State.CANCELLED):
        # Kore refused the portal's own credentials, or gave up: nothing the caller can fix.
        return Response(
            {"errors": [{"msg": f"Kore.ai did not take the case: {case.last_error}", "code": 502}]},
            status=502,
            headers=headers,
        )
    return Response(
        {
            "caseId": case.pk,
            "state": case.state,
            "detail": case.last_error or "Queued for delivery to Kore.ai.",
        },
        status=202,
        headers=headers,
    )


def deliver_and_wait(case: Case, *, deadline: float, claimed: bool = False) -> services.DeliveryResult:
    """Deliver in this request (no queue hop), or wait for whoever is delivering it."""
    result = services.case_deliver(case_id=case.pk, case=case, claimed=claimed)
    while True:
        if not result.case.is_pending:
            return result
        remaining = deadline - time.monotonic()
        if result.claimed:
            # A failed attempt that will be retried: the worker takes it from here.
            services.enqueue_delivery(case.pk, countdown=result.retry_in)
            return result
        if remaining <= 0:
            services.enqueue_delivery(case.pk)
            return result
        # Waiting for a rate-limit slot, or another worker has it in flight.
        time.sleep(min(remaining, result.retry_in if result.retry_in else 0.05))
        result = services.case_deliver(case_id=case.pk)


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
            "Same path, body and headers as Kore.ai's createCase. The portal validates the body, stores "
            "the case, delivers it with the stream's own credentials and answers with Kore's status and "
            "body. When Kore is unavailable it answers 202 and delivers later, unless `Prefer: respond-sync`."
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
            return kore_errors(404, [{"msg": f"No active stream {stream_id} in the portal.", "code": 404}])
        if not proxy_config.may_use(snapshot, client, route.stream):
            return kore_errors(403, [{"msg": "This API client may not use this stream.", "code": 403}])
        stream = route.stream
        if len(request.body) > settings.PROXY_MAX_BODY_BYTES:
            return kore_errors(413, [{"msg": "The request body is too large.", "code": 413}])
        try:
            body = json.loads(request.body or b"")
        except ValueError:
            return kore_errors(400, [{"msg": "The request body is not valid JSON.", "code": 400}])
        if not isinstance(body, dict):
            return kore_errors(400, [{"msg": "The request body must be a JSON object.", "code": 400}])

        key = request.headers.get("Idempotency-Key", "").strip()
        fingerprint = request_fingerprint(stream_id, body) if key else ""
        if key:
            replay = self._replay(client, key, fingerprint)
            if replay is not None:
                return replay

        # The body names its template by Kore id, among the stream's active templates.
        form = CaseForm({**form_data_from_body(body), "template": str(body.get("caseTmp") or "")})
        form.fields["template"] = KnownTemplateField(route.templates)
        if not form.is_valid() or not isinstance(body.get("userInfo"), dict):
            if "template" in form.errors and body.get("caseTmp"):
                form.errors["template"] = form.error_class(
                    [f"No active case template {body['caseTmp']} on this stream."]
                )
            return validation_errors(form, body)

        # An unpaced stream's case is stored already claimed by this request, which sends it at
        # once; a paced one waits for its rate-limit slot before it is claimed (services).
        claim_now = not stream.rate_limit
        try:
            # One transaction, one commit: the case, its idempotency key and its audit record.
            with transaction.atomic():
                case = services.case_submit(
                    template=form.cleaned_data["template"],
                    data=form.cleaned_data,
                    api_client=client,
                    enqueue=False,
                    claimed=claim_now,
                )
                if key:
                    IdempotencyKey.objects.create(
                        api_client=client, key=key, request_hash=fingerprint, case=case
                    )
                audit_record(actor=client, action="case.submitted_by_api", target=case, request=request)
        except IntegrityError:
            # A concurrent call with the same key won the race: answer with its outcome.
            return self._replay(client, key, fingerprint) or kore_errors(
                409, [{"msg": "A call with this Idempotency-Key is in progress.", "code": 409}]
            )

        result = deliver_and_wait(
            case, deadline=time.monotonic() + settings.PROXY_WAIT_SECONDS, claimed=claim_now
        )
        if result.case.is_pending and "respond-sync" in request.headers.get("Prefer", ""):
            return self._refuse_to_queue(result.case)
        return outcome_response(result.case, result.attempt)

    def _replay(self, client: ApiClient, key: str, fingerprint: str):
        cutoff = timezone.now() - IDEMPOTENCY_WINDOW
        IdempotencyKey.objects.filter(api_client=client, key=key, created_at__lt=cutoff).delete()
        previous = IdempotencyKey.objects.filter(api_client=client, key=key).select_related("case").first()
        if previous is None:
            return None
        if previous.request_hash != fingerprint:
            return kore_errors(
                422, [{"msg": "This Idempotency-Key was used with a different request body.", "code": 422}]
            )
        case = previous.case
        deadline = time.monotonic() + settings.PROXY_WAIT_SECONDS
        while case.is_pending and time.monotonic() < deadline:
            time.sleep(0.05)
            case.refresh_from_db()
        return outcome_response(case)

    @staticmethod
    def _refuse_to_queue(case: Case) -> Response:
        services.case_cancel(case=case)
        last = DeliveryAttempt.objects.filter(case=case).order_by("-number").first()
        timed_out = last is not None and last.outcome == DeliveryAttempt.Outcome.TIMEOUT
        code = 504 if timed_out or last is None else 502
        return Response(
            {
                "errors": [
                    {
                        "msg": f"Kore.ai is unavailable and the call asked not to queue: {case.last_error}",
                        "code": code,
                    }
                ]
            },
            status=code,
            headers={"X-Portal-Case-Id": str(case.pk)},
        )


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
    """The same definition of "which cases" as the list page and the export (cases/browse.py)."""

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
