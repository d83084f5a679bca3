"""Kore's answer to a change, applied onto the local record with the sync's own rules (never
backwards, empty is missing, each changed field a row of the case's history).

updateCase answers a *trimmed* case: no assignee, ``ETA`` "", a priority without colour. What the
answer leaves out, Kore accepted as sent (a 200 is its word), so it is taken from the body that
was sent, and a status's or priority's colour and score from what the sync learned of that id.
"""

from __future__ import annotations

from django.core.cache import caches
from django.utils import timezone

from cases.kore.dates import format_kore_datetime, parse_kore_datetime
from cases.models import Case, CaseTask, KoreAssignee, KorePriority, KoreStatus
from cases.sync.apply import CaseApplier
from cases.sync.case_tasks import TaskApplier


def completed_answer(case: Case, raw: dict, body: dict) -> dict:
    """Kore's trimmed answer to updateCase, with what it leaves out taken from ``body``."""
    answer = dict(raw)
    if "assigneeType" in body and not answer.get("currAssignee"):
        answer["assigneeType"] = body["assigneeType"]
        if body["assigneeType"] == "agent":
            answer["currAssignee"] = body.get("currAssignee") or {}
        elif body["assigneeType"] == "queues":
            ids = [str(q.get("_id") if isinstance(q, dict) else q) for q in body.get("queues") or []]
            names = dict(
                KoreAssignee.objects.filter(
                    stream=case.stream, kind=KoreAssignee.Kind.QUEUE, kore_id__in=ids
                ).values_list("kore_id", "name")
            )
            answer["queues"] = [{"_id": queue_id, "name": names.get(queue_id, queue_id)} for queue_id in ids]
    if "dueDate" in body and not answer.get("ETA"):
        due = parse_kore_datetime(body["dueDate"])
        if due is not None:
            answer["ETA"] = format_kore_datetime(due)
    if "desc" in body and "desc" not in answer:
        answer["desc"] = body["desc"]
    _with_learned_look(case, answer)
    return answer


# What the sync learned of each stream's statuses and priorities, kept a minute in the process's
# cache of what it learned (``caches["learned"]``): a colour or a category is only for show, and
# a change carries the id Kore knows.
LOOKS_SECONDS = 60


def _learned_looks(stream, *, wanted: str = "") -> tuple[dict[str, tuple[str, int | None]], dict[str, str]]:
    """The stream's learned looks, read again when older than a minute or missing ``wanted``."""
    key = f"looks:{stream.pk}:{stream.stream_id}"
    kept = caches["learned"].get(key)
    if kept is None or (wanted and wanted not in kept[0] and wanted not in kept[1]):
        priorities = {
            kore_id: (color, score)
            for kore_id, color, score in KorePriority.objects.filter(stream_id=stream.pk).values_list(
                "kore_id", "color", "score"
            )
        }
        categories = dict(KoreStatus.objects.filter(stream_id=stream.pk).values_list("kore_id", "category"))
        kept = (priorities, categories)
        caches["learned"].set(key, kept, timeout=LOOKS_SECONDS)
    return kept


def _with_learned_look(case: Case, answer: dict) -> None:
    """A status's category, a priority's colour and score, as the sync learned them for the id."""
    priority = answer.get("priority") if isinstance(answer.get("priority"), dict) else None
    status = answer.get("status") if isinstance(answer.get("status"), dict) else None
    needs_priority = bool(priority and priority.get("_id") and not priority.get("color"))
    needs_status = bool(status and status.get("_id") and not status.get("statusCategory"))
    if not (needs_priority or needs_status):
        return
    wanted = priority["_id"] if needs_priority else status["_id"]
    priorities, categories = _learned_looks(case.stream, wanted=wanted)
    if needs_priority and priority["_id"] in priorities:
        color, score = priorities[priority["_id"]]
        answer["priority"] = {**priority, "color": color, "score": score}
    if needs_status and status["_id"] in categories:
        answer["status"] = {**status, "statusCategory": categories[status["_id"]]}


def apply_case_answer(case: Case, raw: dict, body: dict, *, source: str) -> bool:
    """Apply Kore's answer to an updateCase onto the case (as the caller read it: written only if
    nobody wrote it since); True when a shown field changed."""
    applied = CaseApplier(case.stream, seen_at=timezone.now(), source=source).apply(
        [completed_answer(case, raw, body)], known={case.kore_id: case}
    )
    return bool(applied.changed)


def apply_case_as_listed(case: Case, raw: dict, *, source: str) -> bool:
    """Apply a case as getCases listed it (a read back after a lost answer)."""
    return bool(CaseApplier(case.stream, seen_at=timezone.now(), source=source).apply([raw]).changed)


def apply_task_answer(task: CaseTask, raw: dict, *, source: str = "sync") -> None:
    """Apply Kore's answer to an updateTask (``source`` ``portal`` or ``api``: news whatever the
    sync has read), or a task as getTasks listed it, onto the task (as the caller read it)."""
    TaskApplier(task.case.stream, seen_at=timezone.now(), source=source).apply(
        [raw], known={task.kore_id: task}
    )
