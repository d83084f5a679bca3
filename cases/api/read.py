"""The read API under /api/v1/: cases with the list page's filters and cursor pages, one case with
its attempts, streams (never a secret) and templates. API clients sign Kore-style JWTs; people
use their session (the browsable API)."""

from __future__ import annotations

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
from rest_framework.views import APIView

from cases import browse
from cases.api.auth import KoreJWTAuthentication
from cases.api.errors import ERROR_SCHEMA
from cases.api.throttle import ApiClientThrottle
from cases.models import ApiClient, Case, CaseTemplate, DeliveryAttempt, Stream
from cases.models.streams import BROWSE_CASES


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
            "id", "refId", "kore_id", "name", "state", "origin", "status_name", "status_category",
            "priority_name", "priority_color", "assignee_name", "requester_id", "requester_name",
            "requester_email", "requester_phone", "source", "due_date", "stream", "template",
            "submitted_by", "created_at", "delivered_at", "kore_created_at", "kore_updated_at",
            "attempt_count", "last_error",
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
    """API clients with the right to getCases read their streams; people need a role that browses
    cases (cases/people/roles.py)."""

    message = "Your account has no role that may read cases."

    def has_permission(self, request, view) -> bool:
        principal = request.user
        if isinstance(principal, ApiClient):
            return principal.may_call("getCases")
        return principal.has_perm(BROWSE_CASES)


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
    OpenApiParameter(
        "origin",
        OpenApiTypes.STR,
        many=True,
        enum=Case.Origin.values,
        description="Where the case was made: the portal, or at Kore (found by the sync)",
    ),
    *[
        OpenApiParameter(name, OpenApiTypes.DATE, description=description)
        for name, description in (
            ("created_after", "Created on or after this day"),
            ("created_before", "Created on or before this day"),
            ("due_after", "Due on or after this day"),
            ("due_before", "Due on or before this day"),
        )
    ],
    *[
        OpenApiParameter(name, OpenApiTypes.BOOL, description=description)
        for name, description in (
            ("unresolved", "Only unresolved cases: delivered, status category neither resolved nor closed"),
            ("unassigned", "Only unresolved cases with no assignee"),
            ("overdue", "Only unresolved cases past their due date"),
            ("closed", "Only cases in the resolved or closed status category (not with the three above)"),
        )
    ],
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
