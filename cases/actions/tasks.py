"""Thin Celery tasks: deliver a change (updateCase/updateTask) or a new task (createTask), and
sweep what a dead worker or a lost message left. Names stay explicit, so queued messages find
their task after a deploy."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from cases.actions import send, sweep, task_send

logger = logging.getLogger(__name__)


@shared_task(
    name="cases.actions.tasks.deliver_action", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def deliver_action(action_id: int) -> str:
    """Deliver one change. Safe to run twice: the workflow claims the row before sending."""
    result = send.action_deliver(action_id=action_id)
    if result.retry_in is not None:
        enqueue_action(action_id, countdown=result.retry_in)
    for next_id in result.then:
        enqueue_action(next_id)
    return result.state


@shared_task(
    name="cases.actions.tasks.deliver_task", acks_late=True, reject_on_worker_lost=True, ignore_result=True
)
def deliver_task(task_id: int) -> str:
    """Deliver one new task (createTask). Safe to run twice, as a case's delivery is."""
    result = task_send.task_deliver(task_id=task_id)
    if result.retry_in is not None:
        enqueue_task(task_id, countdown=result.retry_in)
    return result.state


@shared_task(name="cases.actions.tasks.sweep_actions", ignore_result=True)
def sweep_actions() -> dict[str, int]:
    found = sweep.actions_sweep()
    for action_id in found.action_ids:
        enqueue_action(action_id)
    for task_id in found.task_ids:
        enqueue_task(task_id)
    return {"recovered": found.recovered, "actions": len(found.action_ids), "tasks": len(found.task_ids)}


def _after_commit(task, object_id: int, countdown: float | None) -> None:
    def send() -> None:
        try:
            task.apply_async(args=[object_id], countdown=countdown)
        except Exception:  # noqa: BLE001 - any broker failure; the sweep recovers the row
            logger.exception("could not enqueue %s(%s); the sweep will retry", task.name, object_id)

    transaction.on_commit(send)


def enqueue_action(action_id: int, *, countdown: float | None = None) -> None:
    """Send the change's delivery task once the surrounding transaction commits."""
    _after_commit(deliver_action, action_id, countdown)


def enqueue_task(task_id: int, *, countdown: float | None = None) -> None:
    """Send the new task's delivery task once the surrounding transaction commits."""
    _after_commit(deliver_task, task_id, countdown)
