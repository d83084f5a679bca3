"""Asking for a change of a case or a task: the updateCase/updateTask body Kore documents, built
from what a person chose (or taken as an API client sent it), stored as a CaseAction before any
call, its delivery enqueued once the row is committed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from cases.actions.tasks import enqueue_action
from cases.kore import changes as kore_changes
from cases.kore.changes import Choice
from cases.kore.dates import parse_kore_datetime
from cases.models import BulkAction, Case, CaseAction, CaseTask, KoreAssignee, KorePriority, KoreStatus

logger = logging.getLogger(__name__)
UNASSIGNED = "unassigned"  # the assignee choice "no one"


@dataclass
class Wanted:
    """What a person wants a case to become; None leaves a field as it is."""

    name: str | None = None
    desc: str | None = None
    status: KoreStatus | None = None
    priority: KorePriority | None = None
    due_date: datetime | None = None
    # An agent or a queue seen at Kore, UNASSIGNED for no one, None to leave as it is.
    assignee: KoreAssignee | str | None = None


def _shown(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def _status_choice(status: KoreStatus) -> Choice:
    return Choice(status.kore_id, status.name, status.category, lname=status.lname)


def case_change(case: Case, wanted: Wanted) -> tuple[dict, dict]:
    """The updateCase body for what differs from the case as the portal knows it, and what it
    changes as people read it (``{"status": {"old": "Open", "new": "In Progress"}}``)."""
    body: dict = {}
    shown: dict = {}
    if wanted.name is not None and wanted.name.strip() and wanted.name.strip() != case.name.strip():
        body["name"] = wanted.name
        shown["name"] = {"old": case.name, "new": wanted.name}
    if wanted.desc is not None and wanted.desc.strip() != case.desc.strip():
        body["desc"] = wanted.desc
        shown["desc"] = {"old": _cut(case.desc), "new": _cut(wanted.desc)}
    if wanted.status is not None and wanted.status.kore_id != case.status_kore_id:
        body["status"] = kore_changes.status_value(_status_choice(wanted.status))
        shown["status"] = {"old": case.status_name, "new": wanted.status.name}
    if wanted.priority is not None and wanted.priority.kore_id != case.priority_kore_id:
        body["priority"] = kore_changes.priority_value(Choice(wanted.priority.kore_id, wanted.priority.name))
        shown["priority"] = {"old": case.priority_name, "new": wanted.priority.name}
    if wanted.due_date is not None and (
        case.due_date is None or abs((wanted.due_date - case.due_date).total_seconds()) >= 60
    ):
        body["dueDate"] = kore_changes.due_value(wanted.due_date)
        shown["due_date"] = {"old": _shown(case.due_date), "new": _shown(wanted.due_date)}
    if wanted.assignee == UNASSIGNED and case.assignee_name:
        body.update(kore_changes.assignment_value())
        shown["assignee"] = {"old": case.assignee_name, "new": ""}
    elif isinstance(wanted.assignee, KoreAssignee) and wanted.assignee.name != case.assignee_name:
        choice = Choice(wanted.assignee.kore_id, wanted.assignee.name)
        if wanted.assignee.kind == KoreAssignee.Kind.AGENT:
            body.update(kore_changes.assignment_value(agent=choice))
        else:
            body.update(kore_changes.assignment_value(queue=choice))
        shown["assignee"] = {"old": case.assignee_name, "new": wanted.assignee.name}
    return body, shown


def _cut(text: str, length: int = 120) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def changes_of_body(target: Case | CaseTask, body: dict) -> dict:
    """What an updateCase (or updateTask) body sent as received (the gateway) changes on its
    case (or task), as people read it: the keys the portal shows, best effort; Kore judges
    the body."""
    shown: dict = {}
    if isinstance(body.get("name"), str):
        shown["name"] = {"old": target.name, "new": body["name"]}
    if isinstance(body.get("desc"), str):
        shown["desc"] = {"old": _cut(target.desc), "new": _cut(body["desc"])}
    for key, old in (("status", target.status_name), ("priority", target.priority_name)):
        value = body.get(key)
        if isinstance(value, dict):
            shown[key] = {"old": old, "new": str(value.get("name") or value.get("_id") or "")}
    if "dueDate" in body:
        due = parse_kore_datetime(body["dueDate"])
        old_due = _shown(target.due_date) if isinstance(target, Case) else ""  # a task's is not kept
        shown["due_date"] = {"old": old_due, "new": _shown(due) or str(body["dueDate"])}
    if "assigneeType" in body or "currAssignee" in body:
        current = body.get("currAssignee") if isinstance(body.get("currAssignee"), dict) else {}
        queues = body.get("queues") if isinstance(body.get("queues"), list) else []
        new = str(current.get("name") or current.get("agentId") or (queues[0] if queues else ""))
        old = target.assignee_name if isinstance(target, Case) else ""  # a task's is not kept
        shown["assignee"] = {"old": old, "new": new}
    return shown


def case_change_submit(
    *,
    case: Case,
    body: dict,
    changes: dict,
    user=None,
    api_client=None,
    bulk: BulkAction | None = None,
    enqueue: bool = True,
    claimed: bool = False,
) -> CaseAction:
    """Store a change of ``case`` as pending at Kore, and enqueue its delivery after the commit.

    ``claimed=True`` (with ``enqueue=False``, the gateway) stores it already claimed by the
    caller, which sends it at once; should the caller die, the sweep takes it back.
    """
    action = _store_change(
        case=case, task=None, kind=CaseAction.Kind.UPDATE_CASE, known_at=case.kore_updated_at,
        body=body, changes=changes, user=user, api_client=api_client, bulk=bulk,
        enqueue=enqueue, claimed=claimed,
    )  # fmt: skip
    logger.info("change %s of case %s stored: %s", action.pk, case.pk, action.summary)
    return action


def task_change_submit(
    *,
    task: CaseTask,
    body: dict,
    changes: dict,
    user=None,
    api_client=None,
    enqueue: bool = True,
    claimed: bool = False,
) -> CaseAction:
    """Store a change of a task (updateTask) as pending at Kore, like a change of a case."""
    return _store_change(
        case=task.case, task=task, kind=CaseAction.Kind.UPDATE_TASK, known_at=task.kore_updated_at,
        body=body, changes=changes, user=user, api_client=api_client, bulk=None,
        enqueue=enqueue, claimed=claimed,
    )  # fmt: skip


def _store_change(
    *, case, task, kind, known_at, body, changes, user, api_client, bulk, enqueue, claimed
) -> CaseAction:
    """The CaseAction row, based on what the portal knew of its case or task (``known_at``)."""
    claim = (
        {"state": CaseAction.State.SENDING, "sending_started_at": timezone.now(), "sent_based_on": known_at}
        if claimed
        else {}
    )
    with transaction.atomic(savepoint=False):
        action = CaseAction.objects.create(
            case=case,
            task=task,
            kind=kind,
            body=body,
            changes=changes,
            based_on=known_at,
            requested_by=user if user is not None and user.is_authenticated else None,
            api_client=api_client,
            bulk=bulk,
            **claim,
        )
        if not claimed:
            # Behind a pending change of the case, this one waits for it: say so on that row,
            # which sends this one on when it settles. (A claimed one was behind nothing.)
            CaseAction.objects.filter(
                case_id=case.pk, pk__lt=action.pk, state__in=CaseAction.PENDING_STATES
            ).update(holds_next=True)
        if enqueue:
            enqueue_action(action.pk)
    return action


def task_status_change(task: CaseTask, status: KoreStatus) -> tuple[dict, dict]:
    """The updateTask body that moves a task to ``status`` (a status of its stream)."""
    body = {"status": kore_changes.status_value(_status_choice(status))}
    return body, {"status": {"old": task.status_name, "new": status.name}}


def cases_change_bulk(*, cases: list[Case], wanted: Wanted, user, summary: str) -> BulkAction:
    """The same change for many cases of one stream: one CaseAction each, all stored in one
    transaction, each enqueued after it; cases it would not change are left out."""
    streams = {case.stream_id for case in cases}
    if len(streams) != 1:
        raise ValueError("A bulk change takes cases of one stream.")
    planned = []
    for case in cases:
        body, shown = case_change(case, wanted)
        if body:
            planned.append((case, body, shown))
    with transaction.atomic():
        bulk = BulkAction.objects.create(
            stream_id=streams.pop(), requested_by=user, summary=summary[:300], total=len(planned)
        )
        for case, body, shown in planned:
            case_change_submit(case=case, body=body, changes=shown, user=user, bulk=bulk)
    return bulk
