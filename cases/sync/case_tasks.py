"""Tasks of cases, kept in step with Kore: applying what getTasks (trimmed tasks), createTask and
updateTask answer onto the local tasks, and the part of a sync pass that reads them.

The rules are the cases': never backwards (a task changes only when Kore's ``updatedAt`` is
newer), empty is missing, one Kore task one record (a task the portal is still creating, whose
answer may have been lost, is left to its delivery), and a task made at Kore is kept when its
case is one of the stream's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

from cases.kore.answers import KoreTask, parse_task
from cases.kore.dates import format_kore_datetime
from cases.kore.errors import KoreMalformed
from cases.kore.lookup import same_title
from cases.kore.paging import PagedRead, UpdatedSince
from cases.models import CLOSED_CATEGORIES, Case, CaseTask, KoreStatus, Stream
from cases.models.cases import fit_column

logger = logging.getLogger(__name__)
State = CaseTask.State


def task_fields(task: KoreTask) -> dict:
    """The columns a task takes from Kore (empty values left out: empty is missing)."""
    fields = {
        "ref_id": task.ref_id,
        "name": task.name[:500],
        "status_kore_id": task.status_id,
        "status_name": task.status_name[:80],
        "status_category": task.status_category[:40],
        "priority_kore_id": task.priority_id,
        "priority_name": task.priority_name[:80],
        "priority_color": task.priority_color[:20],
        "kore_created_at": task.kore_created_at,
        "kore_updated_at": task.kore_updated_at,
    }
    return {name: value for name, value in fields.items() if value not in ("", None)}


class TaskApplier:
    """Applies Kore's tasks of one stream onto the local tasks."""

    def __init__(self, stream: Stream, *, seen_at: datetime):
        self.stream, self.seen_at = stream, seen_at

    def apply(self, raws: list[dict]) -> int:
        """Apply a page of tasks; returns how many local tasks changed or were added."""
        found = []
        for raw in raws:
            try:
                found.append(parse_task(raw))
            except KoreMalformed:
                logger.warning("sync: a task without _id in stream %s was skipped", self.stream.stream_id)
        if not found:
            return 0
        known = {
            task.kore_id: task for task in CaseTask.objects.filter(kore_id__in=[f.kore_id for f in found])
        }
        changed = 0
        for kore_task in found:
            local = known.get(kore_task.kore_id)
            if local is None:
                changed += self._made_at_kore(kore_task)
            elif local.state == State.DELIVERED and self._update(local, kore_task):
                changed += 1
        return changed

    def _update(self, task: CaseTask, kore_task: KoreTask) -> bool:
        newer = kore_task.kore_updated_at is not None and (
            task.kore_updated_at is None or kore_task.kore_updated_at > task.kore_updated_at
        )
        if not newer:
            return False
        fields = task_fields(kore_task)
        if kore_task.status_name and not kore_task.status_id:
            # getTasks names a status without its id: the id the sync learned for that name.
            fields["status_kore_id"] = self._status_id(kore_task.status_name) or ""
        stored = task.kore_task if isinstance(task.kore_task, dict) else {}
        fields["kore_task"] = {**stored, **{k: v for k, v in kore_task.raw.items() if v not in ("", None)}}
        CaseTask.objects.filter(pk=task.pk).update(**fields)
        return True

    def _status_id(self, name: str) -> str | None:
        return (
            KoreStatus.objects.filter(stream=self.stream, name__iexact=name)
            .values_list("kore_id", flat=True)
            .first()
        )

    def _made_at_kore(self, kore_task: KoreTask) -> int:
        case = Case.objects.filter(stream=self.stream, kore_id=kore_task.case_id).first()
        if case is None:
            return 0  # a task of a case the portal does not have: the case comes first
        in_flight = CaseTask.objects.filter(
            case=case, kore_id__isnull=True, origin=Case.Origin.PORTAL
        ).filter(Q(state__in=[State.SENDING, State.NEEDS_REVIEW]) | Q(lookup_required=True))
        if any(same_title(kore_task.name, task.name) for task in in_flight):
            return 0  # maybe the answer lost by one of the portal's own: its delivery decides
        try:
            with transaction.atomic():
                CaseTask.objects.create(
                    case=case,
                    origin=Case.Origin.KORE,
                    state=State.DELIVERED,
                    name=fit_column("name", kore_task.name) or kore_task.ref_id,
                    kore_id=kore_task.kore_id,
                    kore_task=kore_task.raw,
                    delivered_at=kore_task.kore_created_at or self.seen_at,
                    created_at=kore_task.kore_created_at or self.seen_at,
                    **{k: v for k, v in task_fields(kore_task).items() if k != "name"},
                )
        except IntegrityError:
            return 0  # recorded by its delivery a moment ago
        return 1


def sync_tasks(
    stream: Stream, fetch: Callable[[dict], dict], *, since: datetime, until: datetime, max_pages: int
) -> int:
    """The tasks part of a pass, for a stream that uses tasks (task templates or tasks in the
    portal): the unresolved tasks, those created since the last pass, and, when some local open
    task is in neither, the tasks closed since, newest update first. Returns the changes."""
    uses_tasks = CaseTask.objects.filter(case__stream=stream).exists() or stream.task_templates.exists()
    if not uses_tasks:
        return 0
    applier = TaskApplier(stream, seen_at=until)
    changed, seen = 0, set()
    for filters in (
        {"unresolved": True},
        {"startDate": format_kore_datetime(since), "endDate": format_kore_datetime(until)},
    ):
        for page in PagedRead(fetch, filters, max_pages=max_pages):
            seen.update(task.get("_id") for task in page)
            changed += applier.apply(page)
    open_elsewhere = (
        CaseTask.objects.filter(case__stream=stream, state=State.DELIVERED)
        .exclude(status_category__in=CLOSED_CATEGORIES)
        .exclude(kore_id__in=seen)
    )
    if open_elsewhere.exists():
        closed = list(
            KoreStatus.objects.filter(stream=stream, category__in=CLOSED_CATEGORIES).values_list(
                "name", flat=True
            )
        ) or ["Resolved", "Closed"]
        for page in UpdatedSince(fetch, {"status": closed}, since=since, max_pages=max_pages):
            changed += applier.apply(page)
    return changed
