"""The gateway's writes beside createCase (proxy.py), under Kore's own paths and answering Kore's
statuses and bodies: updateCase, createTask and updateTask go through the outbox (the workflows
are cases/actions/gateway.py). A write still pending when the call's wait runs out answers 202
with the portal's id; a change Kore's newer change superseded answers 409. The reads are in
passthrough.py."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from cases.actions import gateway
from cases.api.errors import kore_errors, validation_errors
from cases.api.kore_paths import (
    ACCOUNT_HEADER,
    IDEMPOTENCY_HEADER,
    AnswerFirst,
    Call,
    KorePathView,
    Refusal,
    error_responses,
    in_share,
    over_share,
)
from cases.delivery import fair
from cases.kore.create_task import create_task_problems
from cases.models import Case, CaseAction, CaseTask
from cases.models.notify import SNAPSHOT_FIELDS
from cases.people.audit import audit_record
from cases.sync.apply import UNREAD

PENDING = inline_serializer(
    "WritePending",
    {"id": serializers.IntegerField(), "state": serializers.CharField(), "detail": serializers.CharField()},
)
UPDATE_BODY = inline_serializer(
    "KoreUpdateBody",
    {
        "name": serializers.CharField(required=False),
        "desc": serializers.CharField(required=False),
        "status": serializers.DictField(required=False, help_text="{_id, name, lname, statusCategory}"),
        "priority": serializers.DictField(required=False, help_text="{_id, name}"),
        "dueDate": serializers.IntegerField(required=False, help_text="epoch milliseconds"),
        "assigneeType": serializers.CharField(required=False),
        "currAssignee": serializers.DictField(required=False),
        "queues": serializers.ListField(child=serializers.CharField(), required=False),
    },
)


def written_answer(written: gateway.Written) -> HttpResponse | Response:
    """Kore's status and body once Kore answered; 202 while the write is pending."""
    row = written.action or written.task
    header = {"X-Portal-Change-Id" if written.action else "X-Portal-Task-Id": str(row.pk)}
    if written.answer is not None:
        # Kore took it: the caller has Kore's answer first, then the change is recorded.
        return AnswerFirst(
            json.dumps(written.answer.raw),
            status=written.answer.http_status or 200,
            content_type="application/json",
            headers=header,
            after=written.record,
        )
    if written.action is not None:
        action = written.action
        if action.state in (CaseAction.State.CONFIRMED, CaseAction.State.REFUSED) and action.response_body:
            return HttpResponse(action.response_body, status=action.http_status or 200,
                                content_type="application/json", headers=header)  # fmt: skip
        if action.state == CaseAction.State.SUPERSEDED:
            return kore_errors(409, action.last_error, headers=header)
        if action.state in (CaseAction.State.FAILED, CaseAction.State.REFUSED):
            return kore_errors(502, f"Kore.ai did not take the change: {action.last_error}", headers=header)
    else:
        task = written.task
        if task.state == CaseTask.State.DELIVERED:
            # Kore's answer as it came; for a task adopted after a lost answer, Kore's listing of it.
            body = task.response_body or json.dumps(task.kore_task or {})
            return HttpResponse(
                body, status=task.http_status or 200, content_type="application/json", headers=header
            )
        if task.state == CaseTask.State.FAILED:
            if task.http_status and 400 <= task.http_status < 500 and task.response_body.startswith("{"):
                return HttpResponse(task.response_body, status=task.http_status,
                                    content_type="application/json", headers=header)  # fmt: skip
            return kore_errors(502, f"Kore.ai did not take the task: {task.last_error}", headers=header)
    return Response(
        {"id": row.pk, "state": row.state, "detail": row.last_error or "Stored; on its way to Kore.ai."},
        status=202,
        headers=header,
    )


class WriteThrough(KorePathView):
    """A write through the outbox: the Idempotency-Key first, then Kore's rule, then the share."""

    def handle_write(self, request, stream_id: str, object_id: str = ""):
        try:
            call = self.checked_call(request, stream_id)
        except Refusal as refusal:
            return refusal.response
        key = request.headers.get("Idempotency-Key", "").strip()
        fingerprint = gateway.write_fingerprint(stream_id, self.endpoint, object_id, call.body) if key else ""
        wait_until = time.monotonic() + settings.PROXY_WAIT_SECONDS
        if key:
            try:
                earlier = gateway.earlier_write(
                    client=call.client, key=key, fingerprint=fingerprint, wait_until=wait_until
                )
            except gateway.KeyReusedWithAnotherBody:
                return kore_errors(422, "This Idempotency-Key was used with a different request.")
            if earlier is not None:
                return written_answer(earlier)
        try:
            target = self.target(call, object_id)
        except Refusal as refusal:
            return refusal.response
        write = gateway.CallerWrite(
            client=call.client, key=key, fingerprint=fingerprint, paced=bool(call.route.pacing_limit),
            wait_until=wait_until,
        )  # fmt: skip
        try:
            # Counted against the client's share while it waits for its turn.
            with in_share(self.turns_of(call), call.share):
                written = self.write(call, target, write, request)
        except fair.OverShare as over:
            return over_share(over.wait)
        except gateway.KeyInProgress:
            return kore_errors(409, "A call with this Idempotency-Key is in progress.")
        return written_answer(written)

    def target(self, call: Call, object_id: str):
        raise NotImplementedError

    def write(self, call: Call, target, write: gateway.CallerWrite, request) -> gateway.Written:
        raise NotImplementedError


def write_errors(*, conflict: str) -> dict:
    """A write's failures for the OpenAPI description, each in Kore's error form."""
    return error_responses(
        400, 401, 403, 404, 413, 429, 502, _409=conflict, _422="Idempotency-Key reused with another request"
    )


def audited(call: Call, request, action: str, target, name: str):
    """The audit record of a write, made in the transaction that stores it."""
    return lambda row: audit_record(
        actor=call.client, action=action, target=target, details={name: row.pk}, request=request
    )


def _known_case(call: Call, kore_id: str) -> Case:
    """The delivered case of the stream with this Kore id."""
    try:
        case = Case.objects.defer(*UNREAD).get(
            stream=call.route.stream, kore_id=kore_id, state=Case.State.DELIVERED
        )
    except Case.DoesNotExist:
        raise Refusal(
            kore_errors(
                404,
                f"No case {kore_id} of this stream in the portal. A case made at Kore is known from the "
                "sync's next pass (or a getCases through the portal) on.",
            )
        ) from None
    case.stream = call.route.stream  # the snapshot's: no query for it
    return case


class UpdateCaseProxy(WriteThrough):
    endpoint = "updateCase"

    @extend_schema(
        operation_id="updateCase",
        summary="Change a case (drop-in for Kore.ai's updateCase)",
        description="Stored before it is sent, delivered with the stream's credentials, and answered with "
        "Kore's status and body; 202 while still pending at Kore, 409 when Kore changed the case "
        "meanwhile and the change was not sent again. The case must be known to the portal.",
        request=UPDATE_BODY,
        parameters=[ACCOUNT_HEADER, IDEMPOTENCY_HEADER],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Kore's (trimmed) case, unchanged"),
            202: PENDING,
            **write_errors(conflict="Superseded by a newer change at Kore"),
        },
        tags=["proxy"],
    )
    def post(self, request, stream_id: str, case_id: str):
        return self.handle_write(request, stream_id, case_id)

    def target(self, call: Call, object_id: str) -> Case:
        return _known_case(call, object_id)

    def write(self, call: Call, target: Case, write: gateway.CallerWrite, request) -> gateway.Written:
        return gateway.update_through(
            write, case=target, task=None, body=call.body,
            on_stored=audited(call, request, "case.change_by_api", target, "change"),
        )  # fmt: skip


# A change of a task reads of the task what the change, Kore's answer and the task's event use
# (not its body, nor its delivery's columns), and of its case what the event tells of it. A
# column left out and read later would be a query of its own: tests/test_gateway.py counts them.
TASK_COLUMNS = [
    "case_id", "kore_id", "ref_id", "name", "state", "origin", "status_kore_id", "status_name",
    "status_category", "priority_kore_id", "priority_name", "priority_color", "kore_task",
    "kore_created_at", "kore_updated_at",
]  # fmt: skip


class UpdateTaskProxy(WriteThrough):
    endpoint = "updateTask"

    @extend_schema(
        operation_id="updateTask",
        summary="Change a task (drop-in for Kore.ai's updateTask)",
        description="As updateCase, for a task the portal knows.",
        request=UPDATE_BODY,
        parameters=[ACCOUNT_HEADER, IDEMPOTENCY_HEADER],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Kore's task, unchanged"),
            202: PENDING,
            **write_errors(conflict="Superseded by a newer change at Kore"),
        },
        tags=["proxy"],
    )
    def post(self, request, stream_id: str, task_id: str):
        return self.handle_write(request, stream_id, task_id)

    def target(self, call: Call, object_id: str) -> CaseTask:
        try:
            task = (
                CaseTask.objects.select_related("case")
                .only(*TASK_COLUMNS, *(f"case__{name}" for name in ("stream_id", *SNAPSHOT_FIELDS)))
                .get(case__stream=call.route.stream, kore_id=object_id, state=CaseTask.State.DELIVERED)
            )
        except CaseTask.DoesNotExist:
            raise Refusal(kore_errors(404, f"No task {object_id} of this stream in the portal.")) from None
        task.case.stream = call.route.stream
        return task

    def write(self, call: Call, target: CaseTask, write: gateway.CallerWrite, request) -> gateway.Written:
        return gateway.update_through(
            write, case=target.case, task=target, body=call.body,
            on_stored=audited(call, request, "task.change_by_api", target.case, "change"),
        )  # fmt: skip


class CreateTaskProxy(WriteThrough):
    endpoint = "createTask"

    @extend_schema(
        operation_id="createTask",
        summary="Add a task to a case (drop-in for Kore.ai's createTask)",
        description="Checked as Kore's document requires (and nothing more), stored as received, delivered "
        "with the stream's credentials, never twice; the case must be known to the portal.",
        request=inline_serializer(
            "CreateTaskBody",
            {
                "caseId": serializers.CharField(),
                "caseRefId": serializers.CharField(),
                "taskTmp": serializers.CharField(),
                "name": serializers.CharField(),
                "desc": serializers.CharField(),
                "userInfo": serializers.DictField(help_text="name, and emailId or phoneNumber (or _id)"),
                "source": serializers.CharField(),
            },
        ),
        parameters=[ACCOUNT_HEADER, IDEMPOTENCY_HEADER],
        responses={
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Kore's task, unchanged"),
            202: PENDING,
            **write_errors(conflict="Idempotency-Key in progress"),
        },
        tags=["proxy"],
    )
    def post(self, request, stream_id: str):
        return self.handle_write(request, stream_id)

    def target(self, call: Call, object_id: str) -> Case:
        problems = create_task_problems(call.body)
        if problems:
            raise Refusal(validation_errors(problems))
        try:
            # A new task needs of its case only what an event tells of it: not its ~40 columns.
            case = Case.objects.only("stream_id", *SNAPSHOT_FIELDS).get(
                stream=call.route.stream, kore_id=call.body["caseId"], state=Case.State.DELIVERED
            )
        except Case.DoesNotExist:
            raise Refusal(
                validation_errors(
                    {"caseId": [f"No case {call.body['caseId']} of this stream in the portal."]}
                )
            ) from None
        case.stream = call.route.stream
        return case

    def write(self, call: Call, target: Case, write: gateway.CallerWrite, request) -> gateway.Written:
        return gateway.create_task_through(
            write, case=target, template=call.route.task_templates.get(call.body.get("taskTmp")),
            body=call.body, on_stored=audited(call, request, "task.created_by_api", target, "task"),
        )  # fmt: skip
