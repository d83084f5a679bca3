"""Tasks of cases, kept in step with Kore: applying what getTasks (trimmed tasks), createTask and
updateTask answer onto the local tasks, and the part of a sync pass that reads them.

The rules are the cases': never backwards (a task changes only when Kore's ``updatedAt`` is
newer), empty is missing, one Kore task one record (a task the portal is still creating, whose
answer may have been lost, is left to its delivery), and a task made at Kore is kept when its
case is one of the stream's.

Each task added or changed is an event (``task.created``, ``task.changed``) in the transaction
that writes it, except while the sync has not yet read the stream's tasks once: the tasks Kore
had before are not news (as a stream's first pass is not). The portal's own changes, confirmed
by Kore, always are.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from django.db import IntegrityError, transaction
from django.db.models import Q

from cases.kore.answers import KoreTask, parse_task
from cases.kore.dates import format_kore_datetime
from cases.kore.errors import KoreMalformed
from cases.kore.lookup import same_title
from cases.kore.paging import PagedRead, UpdatedSince
from cases.models import CLOSED_CATEGORIES, Case, CaseEvent, CaseTask, KoreStatus, Stream
from cases.models.cases import fit_column
from cases.models.notify import OWN_SOURCES, record_task_event
from cases.models.sync import stream_tasks_are_told
from cases.sync.apply import is_newer

logger = logging.getLogger(__name__)
State = CaseTask.State
# The task's columns a task.changed tells, by the names its ``changes`` give them.
TOLD_FIELDS = {"name": "name", "status_name": "status", "priority_name": "priority"}
# A task's case is read with it only to describe it in an event: not its big columns.
CASE_UNREAD = ("case__request_body", "case__review_candidates", "case__kore_case")


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

    def __init__(self, stream: Stream, *, seen_at: datetime, source: str = "sync"):
        """``source``: where Kore's tasks come from (``sync``, ``gateway``; ``portal`` or ``api``
        for the answer to the portal's own updateTask)."""
        self.stream, self.seen_at, self.source = stream, seen_at, source

    @cached_property
    def tell(self) -> bool:
        """Whether what this applier writes is news (see the module docstring)."""
        return self.source in OWN_SOURCES or stream_tasks_are_told(self.stream)

    def apply(self, raws: list[dict], *, known: dict[str, CaseTask] | None = None) -> int:
        """Apply a page of tasks; returns how many local tasks changed or were added.
        ``known``: tasks (by Kore id, with their case) the caller has just read, spared a read."""
        found = []
        for raw in raws:
            try:
                found.append(parse_task(raw))
            except KoreMalformed:
                logger.warning("sync: a task without _id in stream %s was skipped", self.stream.stream_id)
        if not found:
            return 0
        known = dict(known or {})
        wanted = [f.kore_id for f in found if f.kore_id not in known]
        if wanted:
            known.update(self._read(wanted))
        changed = 0
        for kore_task in found:
            local = known.get(kore_task.kore_id)
            if local is None:
                changed += self._made_at_kore(kore_task)
            elif local.state == State.DELIVERED and self._update(local, kore_task):
                changed += 1
        return changed

    def _read(self, kore_ids: list[str]) -> dict[str, CaseTask]:
        tasks = CaseTask.objects.filter(kore_id__in=kore_ids).order_by()  # by Kore id: no order needed
        if self.tell:
            tasks = tasks.select_related("case").defer(*CASE_UNREAD)
        return {task.kore_id: task for task in tasks}

    def _update(self, task: CaseTask, kore_task: KoreTask) -> bool:
        """Apply a newer answer, written only if the row is still as read (else it is read again
        and judged anew): never over a newer answer another writer recorded meanwhile."""
        if not is_newer(kore_task.kore_updated_at, task.kore_updated_at):
            return False
        fields = task_fields(kore_task)
        if kore_task.status_name and not kore_task.status_id:
            # getTasks names a status without its id: the id the sync learned for that name.
            fields["status_kore_id"] = self._status_id(kore_task.status_name) or ""
        stored = task.kore_task if isinstance(task.kore_task, dict) else {}
        fields["kore_task"] = {**stored, **{k: v for k, v in kore_task.raw.items() if v not in ("", None)}}
        changes = [
            {"field": told, "old": getattr(task, name), "new": fields[name]}
            for name, told in TOLD_FIELDS.items()
            if name in fields and fields[name] != getattr(task, name)
        ]
        with transaction.atomic(savepoint=False):
            if not CaseTask.objects.filter(pk=task.pk, kore_updated_at=task.kore_updated_at).update(**fields):
                again = self._read([task.kore_id]).get(task.kore_id)
                return again is not None and again.state == State.DELIVERED and self._update(again, kore_task)
            if changes and self.tell:
                record_task_event(
                    CaseEvent.Kind.TASK_CHANGED, task, case=task.case, stream=self.stream,
                    source=self.source, fields=fields, changes=changes,
                )  # fmt: skip
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
                task = CaseTask.objects.create(
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
                if self.tell:
                    kind = CaseEvent.Kind.TASK_CREATED
                    record_task_event(kind, task, case=case, stream=self.stream, source=self.source)
        except IntegrityError:
            return 0  # recorded by its delivery a moment ago
        return 1


@dataclass(frozen=True)
class TasksRead:
    """What the tasks part of a pass did: local tasks changed or added, and whether every read
    reached its end (the pass then notes the stream's tasks as read: their changes are news)."""

    changed: int = 0
    complete: bool = False


def sync_tasks(
    stream: Stream, fetch: Callable[[dict], dict], *, since: datetime, until: datetime, max_pages: int
) -> TasksRead:
    """The tasks part of a pass, for a stream that uses tasks (task templates or tasks in the
    portal): the unresolved tasks, those created since the last pass, and, when some local open
    task is in neither, the tasks closed since, newest update first."""
    uses_tasks = CaseTask.objects.filter(case__stream=stream).exists() or stream.task_templates.exists()
    if not uses_tasks:
        return TasksRead()
    applier = TaskApplier(stream, seen_at=until, source="sync")
    changed, seen, reads = 0, set(), []
    for filters in (
        {"unresolved": True},
        {"startDate": format_kore_datetime(since), "endDate": format_kore_datetime(until)},
    ):
        reads.append(PagedRead(fetch, filters, max_pages=max_pages))
        for page in reads[-1]:
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
        reads.append(UpdatedSince(fetch, {"status": closed}, since=since, max_pages=max_pages))
        for page in reads[-1]:
            changed += applier.apply(page)
    return TasksRead(changed=changed, complete=all(read.complete for read in reads))
