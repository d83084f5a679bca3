"""Delivering a new task (createTask) at most once, as a case is delivered (docs/delivery.md): a
fair turn, one claim, backoff on a passing failure, and after a lost answer a look-up with
getTasks before any new send. The look-up reads every page (bounded) of the case's tasks with
the task's name created in the window of the sends; candidates are decided here (Kore's
``caseId`` filter is not documented): the same case, the same name, created in the window, and
not already another local task. None: send again. One: adopted. More: held for a person."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.actions.readback import NoTurn, paced_fetch
from cases.delivery import fair, outcomes
from cases.kore.answers import KoreTask, parse_task
from cases.kore.client import KoreClient
from cases.kore.dates import format_kore_datetime, parse_kore_datetime
from cases.kore.errors import KoreError, KoreRefused
from cases.kore.lookup import same_title
from cases.kore.paging import read_all_pages
from cases.models import CaseEvent, CaseTask
from cases.models.notify import record_task_event
from cases.sync.case_tasks import task_fields

State = CaseTask.State
MAX_KEPT_CANDIDATES = 20


@dataclass(frozen=True)
class TaskResult:
    """What a delivery run did; ``answer``: Kore made the task, not yet recorded
    (``task_deliver(record_later=True)``: the caller records it with ``delivered``)."""

    task: CaseTask | None
    claimed: bool
    retry_in: float | None = None
    answer: KoreTask | None = None

    @property
    def state(self) -> str:
        return self.task.state if self.task else "missing"


def share_of_task(task: CaseTask) -> fair.Share:
    return fair.Share.api(task.api_client) if task.api_client_id else fair.PEOPLE


def task_deliver(
    *, task_id: int, task: CaseTask | None = None, claimed: bool = False, record_later: bool = False
) -> TaskResult:
    """Deliver one new task, recording the outcome on its row (a task Kore made, with
    ``record_later``, is returned unrecorded: the gateway answers its caller first)."""
    if task is None:
        task = CaseTask.objects.select_related("case__stream", "api_client").filter(pk=task_id).first()
    if task is None:
        return TaskResult(task=None, claimed=False)
    if claimed:
        return _send(task, slot=None, limit=0, record_later=record_later)
    if not outcomes.may_be_claimed(task):
        return TaskResult(task=task, claimed=False)
    turn = outcomes.take_turn(task, task.case.stream, share_of_task(task))
    if turn.retry_in is not None:
        return TaskResult(task=task, claimed=False, retry_in=turn.retry_in)
    if not outcomes.claim(task):
        task.refresh_from_db()
        return TaskResult(task=task, claimed=False)
    return _send(task, slot=turn.slot, limit=turn.limit, record_later=record_later)


def _write(task: CaseTask, **fields) -> bool:
    now = timezone.now()
    values = {**fields, "attempt_count": task.attempt_count + 1, "updated_at": now}
    moved = CaseTask.objects.filter(pk=task.pk, state=State.SENDING, attempt_count=task.attempt_count).update(
        **values
    )
    if moved:
        for name, value in values.items():
            setattr(task, name, value)
    return bool(moved)


def _release(task: CaseTask) -> TaskResult:
    outcomes.give_back(task)
    return TaskResult(task=task, claimed=False, retry_in=0)


def _send(task: CaseTask, *, slot, limit: int, record_later: bool = False) -> TaskResult:
    if not outcomes.in_slot(slot):
        return _release(task)
    client = KoreClient(task.case.stream.kore_config())
    if task.lookup_required:
        settled = _look_up(task, client, limit=limit)
        if settled is not None:
            return settled
        if limit:
            return _release(task)  # the look-up spent this turn; the send takes one of its own
    try:
        answer = client.create_task(task.request_body)
    except KoreError as exc:
        return _failure(task, exc)
    if record_later:
        return TaskResult(task=task, claimed=True, answer=answer)
    return delivered(task, answer)


def delivered(task: CaseTask, answer: KoreTask, *, note: str = "") -> TaskResult:
    """Kore holds the task (made by this send, or found by a look-up): recorded with its event."""
    fields = {
        **task_fields(answer),
        "name": task.name,
        "kore_id": answer.kore_id,
        "kore_task": answer.raw,
        "delivered_at": timezone.now(),
        "http_status": answer.http_status or 200,
        "response_body": json.dumps(answer.raw),
    }
    try:
        with transaction.atomic():
            if _write(
                task,
                **fields,
                state=State.DELIVERED,
                last_error=note,
                sending_started_at=None,
                next_attempt_at=None,
                lookup_required=False,
                review_candidates=[],
            ):
                # Told with the write: the task exists at Kore now (as a case's delivery is).
                record_task_event(
                    CaseEvent.Kind.TASK_CREATED, task, case=task.case, stream=task.case.stream,
                    source="api" if task.api_client_id else "portal",
                )  # fmt: skip
    except IntegrityError:
        # Another task of the portal already holds this Kore id: never two records of one task.
        error = f"Kore answered with task {answer.kore_id}, which another task of the portal already holds."
        _write(task, state=State.NEEDS_REVIEW, last_error=error, sending_started_at=None)
    return TaskResult(task=task, claimed=True)


def _failure(task: CaseTask, exc: KoreError) -> TaskResult:
    common = {"sending_started_at": None, "http_status": exc.status, "response_body": exc.body}
    number = task.attempt_count + 1
    too_old = timezone.now() - task.created_at > timedelta(seconds=settings.KORE_MAX_AGE_SECONDS)
    lookup = task.lookup_required or exc.ambiguous
    if exc.permanent:
        message = exc.message if isinstance(exc, KoreRefused) else f"Kore refused the portal: {exc.message}"
        _write(task, state=State.FAILED, last_error=message[:4000], **common)
        return TaskResult(task=task, claimed=True)
    if number >= settings.KORE_MAX_ATTEMPTS or too_old:
        state = State.NEEDS_REVIEW if lookup else State.FAILED
        _write(
            task, state=state, last_error=f"Gave up after {number} attempts: {exc.message}"[:4000], **common
        )
        return TaskResult(task=task, claimed=True)
    delay = outcomes.retry_delay(number, retry_after=exc.retry_after)
    _write(
        task,
        state=State.RETRYING,
        last_error=exc.message[:4000],
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        lookup_required=lookup,
        **common,
    )
    return TaskResult(task=task, claimed=True, retry_in=delay)


def _look_up(task: CaseTask, client: KoreClient, *, limit: int) -> TaskResult | None:
    """Settle a task whose last request may have created it; None when safe to send again."""
    margin = timedelta(seconds=settings.KORE_LOOKUP_MARGIN_SECONDS)
    since, until = task.created_at - margin, timezone.now() + margin

    fetch = paced_fetch(
        task.case.stream,
        share_of_task(task),
        limit=limit,
        read=client.get_tasks,
        still_sending=lambda: CaseTask.objects.filter(pk=task.pk, state=State.SENDING).update(
            sending_started_at=timezone.now()
        ),
    )

    filters = {
        "caseId": task.case.kore_id,
        "searchText": task.name,
        "startDate": format_kore_datetime(since),
        "endDate": format_kore_datetime(until),
    }
    try:
        reading = read_all_pages(fetch, filters, max_pages=settings.KORE_LOOKUP_MAX_PAGES)
    except NoTurn:
        return _release(task)
    except KoreError as exc:
        exc.message = f"Looking the task up at Kore failed: {exc.message}"
        return _failure(task, exc)

    def candidate(found: dict) -> bool:
        created = parse_kore_datetime(found.get("createdAt"))
        return (
            found.get("caseId") in (None, task.case.kore_id)
            and same_title(found.get("name"), task.name)
            and (created is None or since <= created <= until)
        )

    found = [item for item in reading.cases if candidate(item)]
    held = set(
        CaseTask.objects.filter(kore_id__in=[item.get("_id") for item in found])
        .exclude(pk=task.pk)
        .values_list("kore_id", flat=True)
    )
    candidates = [item for item in found if item.get("_id") not in held]
    if reading.complete and not candidates:
        CaseTask.objects.filter(pk=task.pk).update(lookup_required=False)
        task.lookup_required = False
        return None
    if reading.complete and len(candidates) == 1:
        adopted = parse_task(candidates[0])
        return delivered(
            task, adopted, note="Exactly one Kore task is this one: adopted after a lost answer."
        )
    refs = ", ".join(str(item.get("refId") or item["_id"]) for item in candidates)
    reason = (
        f"Several Kore tasks may be this one ({refs})"
        if reading.complete
        else f"Kore lists more than {reading.pages} page(s) of tasks with this name"
    )
    _write(
        task,
        state=State.NEEDS_REVIEW,
        last_error=f"{reason}: check Kore, then adopt one or send anyway.",
        review_candidates=candidates[:MAX_KEPT_CANDIDATES],
        sending_started_at=None,
    )
    return TaskResult(task=task, claimed=True)
