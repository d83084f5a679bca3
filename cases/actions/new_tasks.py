"""Adding a task to a case: the createTask body Kore documents (``caseId``, ``caseRefId``,
``taskTmp``, ``name``, ``desc``, ``userInfo`` with ``name`` and the requester's email or phone
*inside* it, ``source``), stored as a CaseTask before any call and enqueued after the commit;
and the decisions on a task held for review (adopt one of the candidates, or send anyway)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from cases.actions.tasks import enqueue_task
from cases.kore.answers import parse_task
from cases.models import Case, CaseEvent, CaseTask, TaskTemplate
from cases.models.cases import fit_column
from cases.models.notify import record_task_event
from cases.sync.case_tasks import task_fields


def requester_info(case: Case) -> dict:
    """``userInfo`` for a task of ``case``: the requester's name, and their email or phone (or
    Kore's user id) inside it, as createTask wants."""
    user = {"name": case.requester_name or case.requester_email or case.requester_phone or "Customer"}
    if case.requester_email:
        user["emailId"] = case.requester_email
    elif case.requester_phone:
        user["phoneNumber"] = case.requester_phone
    elif case.requester_id:
        user["_id"] = case.requester_id
    return user


def task_body(*, case: Case, template: TaskTemplate, name: str, desc: str) -> dict:
    return {
        "caseId": case.kore_id,
        "caseRefId": case.ref_id,
        "taskTmp": template.template_id,
        "name": name,
        "desc": desc,
        "userInfo": requester_info(case),
        "source": template.default_source,
    }


def task_submit(
    *,
    case: Case,
    body: dict,
    template: TaskTemplate | None = None,
    user=None,
    api_client=None,
    enqueue: bool = True,
    claimed: bool = False,
) -> CaseTask:
    """Store a new task of ``case`` (state queued, holding the exact createTask body) and
    enqueue its delivery after the commit. ``claimed``: as for a change (the gateway)."""
    claim = {"state": CaseTask.State.SENDING, "sending_started_at": timezone.now()} if claimed else {}
    with transaction.atomic(savepoint=False):
        task = CaseTask.objects.create(
            case=case,
            template=template,
            request_body=body,
            name=fit_column("name", body.get("name")),
            desc="" if body.get("desc") is None else str(body.get("desc")),
            requested_by=user if user is not None and user.is_authenticated else None,
            api_client=api_client,
            **claim,
        )
        if enqueue:
            enqueue_task(task.pk)
    return task


def task_adopt(*, task: CaseTask, kore_id: str) -> bool:
    """A person's decision on a task in review: this candidate is the task."""
    chosen = next((item for item in task.review_candidates or [] if item.get("_id") == kore_id), None)
    if chosen is None or CaseTask.objects.filter(kore_id=kore_id).exists():
        return False
    found = parse_task(chosen)
    with transaction.atomic():
        adopted = CaseTask.objects.filter(pk=task.pk, state=CaseTask.State.NEEDS_REVIEW).update(
            **{**task_fields(found), "name": task.name},
            state=CaseTask.State.DELIVERED,
            kore_id=found.kore_id,
            kore_task=found.raw,
            delivered_at=timezone.now(),
            lookup_required=False,
            review_candidates=[],
            last_error="Adopted after review.",
        )
        if adopted:
            task.refresh_from_db()
            kind, case = CaseEvent.Kind.TASK_CREATED, task.case
            record_task_event(kind, task, case=case, stream=case.stream, source="portal")
    return bool(adopted)


def task_send_anyway(*, task: CaseTask) -> bool:
    """Send a failed task, or one in review, again: the person checked Kore and found none."""
    updated = CaseTask.objects.filter(
        pk=task.pk, state__in=[CaseTask.State.FAILED, CaseTask.State.NEEDS_REVIEW]
    ).update(
        state=CaseTask.State.QUEUED,
        next_attempt_at=None,
        lookup_required=False,
        review_candidates=[],
        updated_at=timezone.now(),
    )
    if updated:
        enqueue_task(task.pk)
    return bool(updated)
