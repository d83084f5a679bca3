"""The gateway's workflows for the writes after createCase (updateCase, createTask, updateTask).
The HTTP side is cases/api/gateway.py.

- A write is stored through the outbox (a CaseAction or a CaseTask, with its Idempotency-Key
  and audit record in the same transaction), then delivered within the call until its wait
  runs out (the worker takes over after that), with every rule of delivery: a fair turn, one
  claim, a read back or a look-up after a lost answer. A write Kore took is recorded once the
  caller has Kore's answer (``Written.record``): should that never happen, the row is still
  ``sending``, and the sweep has the case read back (or the task looked up), never sending
  it again.

The reads it passes through (getCases, getTasks) are in reads.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from cases.actions import send, settle, task_send
from cases.actions.changes import case_change_submit, changes_of_body, task_change_submit
from cases.actions.new_tasks import task_submit
from cases.actions.tasks import enqueue_action, enqueue_task
from cases.delivery.proxy import (
    CallerWrite,
    KeyInProgress,
    KeyReusedWithAnotherBody,
    live_key,
    once_settled,
    stored_with_key,
    within_the_call,
)
from cases.kore.answers import KoreCase, KoreTask
from cases.models import ApiClient, Case, CaseAction, CaseTask, TaskTemplate

__all__ = ["CallerWrite", "KeyInProgress", "KeyReusedWithAnotherBody"]


def write_fingerprint(stream_id: str, endpoint: str, object_id: str, body: dict) -> str:
    canonical = json.dumps(
        {"stream": stream_id, "endpoint": endpoint, "id": object_id, "body": body},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Written:
    """A write's row (a change, or a new task), and whether it answers an earlier call's key.
    ``answer``: Kore took the write, and ``record()`` records it, once the caller has it."""

    action: CaseAction | None = None
    task: CaseTask | None = None
    replayed: bool = False
    answer: KoreCase | KoreTask | None = None
    record: Callable[[], object] | None = None


def earlier_write(*, client: ApiClient, key: str, fingerprint: str, wait_until: float) -> Written | None:
    """What a write with this key did within the window, once settled (or the wait ran out);
    None when the key is new. Raises KeyReusedWithAnotherBody for another request."""
    previous = live_key(client=client, key=key, fingerprint=fingerprint)
    if previous is None:
        return None
    if previous.action_id:
        return Written(action=once_settled(previous.action, wait_until=wait_until), replayed=True)
    if previous.task_id:
        return Written(task=once_settled(previous.task, wait_until=wait_until), replayed=True)
    raise KeyReusedWithAnotherBody


def _stored(write: CallerWrite, store, *, kind: str, on_stored):
    """The row with its key and audit record; or the outcome of a concurrent twin of the key."""
    return stored_with_key(
        write,
        store,
        kind=kind,
        on_stored=on_stored,
        earlier=lambda: earlier_write(
            client=write.client, key=write.key, fingerprint=write.fingerprint, wait_until=write.wait_until
        ),
    )


def update_through(
    write: CallerWrite, *, case: Case, task: CaseTask | None, body: dict, on_stored=None
) -> Written:
    """updateCase (or, with ``task``, updateTask) as an API client sent it: stored, then
    delivered within the call. An unpaced stream's change is stored claimed and sent at once,
    unless an earlier change of the case is still pending: changes of a case go in order."""
    claimed = not write.paced and not CaseAction.objects.pending().filter(case_id=case.pk).exists()

    def store() -> CaseAction:
        if task is not None:
            return task_change_submit(
                task=task, body=body, changes=changes_of_body(task, body), api_client=write.client,
                enqueue=False, claimed=claimed,
            )  # fmt: skip
        return case_change_submit(
            case=case, body=body, changes=changes_of_body(case, body), api_client=write.client,
            enqueue=False, claimed=claimed,
        )  # fmt: skip

    action, earlier = _stored(write, store, kind="action", on_stored=on_stored)
    if earlier is not None:
        return earlier
    result = within_the_call(
        send.action_deliver(action_id=action.pk, action=action, claimed=claimed, record_later=True),
        again=lambda: send.action_deliver(action_id=action.pk, record_later=True),
        pending=lambda result: result.answer is None and result.action.is_pending,
        enqueue=lambda countdown: enqueue_action(action.pk, countdown=countdown),
        wait_until=write.wait_until,
    )
    if result.answer is not None:
        return Written(action=result.action, answer=result.answer, record=lambda: _confirmed(result))
    _send_next(result)
    return Written(action=result.action)


def _confirmed(result: settle.ActionResult) -> None:
    """Record the change Kore took (its answer applied), then send the case's next change."""
    _send_next(settle.confirm(result.action, result.answer))


def _send_next(result: settle.ActionResult) -> None:
    for next_id in result.then:
        enqueue_action(next_id)


def create_task_through(
    write: CallerWrite, *, case: Case, template: TaskTemplate | None, body: dict, on_stored=None
) -> Written:
    """createTask as an API client sent it: stored as received (with ``template`` when the portal
    knows its ``taskTmp``), then delivered within the call."""

    def store() -> CaseTask:
        return task_submit(
            case=case, body=body, template=template, api_client=write.client, enqueue=False,
            claimed=not write.paced,
        )  # fmt: skip

    task, earlier = _stored(write, store, kind="task", on_stored=on_stored)
    if earlier is not None:
        return earlier
    result = within_the_call(
        task_send.task_deliver(task_id=task.pk, task=task, claimed=not write.paced, record_later=True),
        again=lambda: task_send.task_deliver(task_id=task.pk, record_later=True),
        pending=lambda result: result.answer is None and result.task.is_pending,
        enqueue=lambda countdown: enqueue_task(task.pk, countdown=countdown),
        wait_until=write.wait_until,
    )
    if result.answer is not None:
        return Written(
            task=result.task,
            answer=result.answer,
            record=lambda: task_send.delivered(result.task, result.answer),
        )
    return Written(task=result.task)


# --- Reads ---------------------------------------------------------------------------------
