"""Thin Celery tasks: each calls one workflow and schedules what the workflow asks for.

The task names stay ``cases.tasks.…`` (where they were first defined), so messages already in
a queue when a new version is deployed still find their task.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from cases.delivery import deliver, sweep

logger = logging.getLogger(__name__)


@shared_task(name="cases.tasks.deliver_case", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_case(case_id: int) -> str:
    """Deliver one case. Safe to run twice: the workflow claims the row before sending."""
    result = deliver.case_deliver(case_id=case_id)
    if result.retry_in is not None:
        # A retry (or a wait for a rate-limit slot) is a new task with a countdown, not a
        # Celery retry: the row, not the message, holds the attempt count.
        enqueue_delivery(case_id, countdown=result.retry_in)
    return result.case.state if result.case else "missing"


@shared_task(name="cases.tasks.sweep_deliveries", ignore_result=True)
def sweep_deliveries() -> dict[str, int]:
    found = sweep.deliveries_sweep()
    for case_id in found.due_ids:
        enqueue_delivery(case_id)
    return {"recovered": found.recovered, "enqueued": len(found.due_ids)}


def enqueue_delivery(case_id: int, *, countdown: float | None = None) -> None:
    """Send the delivery task after the surrounding transaction commits.

    If the broker is down at that moment the task is lost, but the row is not: the sweep
    re-enqueues cases left queued, so the call never fails the user's request.
    """

    def send() -> None:
        try:
            deliver_case.apply_async(args=[case_id], countdown=countdown)
        except Exception:  # noqa: BLE001 - any broker failure; the sweep recovers the case
            logger.exception("could not enqueue delivery of case %s; the sweep will retry", case_id)

    transaction.on_commit(send)
