"""Thin Celery tasks: each calls one service and schedules what the service asks for."""

from __future__ import annotations

from celery import shared_task

from cases import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_case(case_id: int) -> str:
    """Deliver one case. Safe to run twice: the service claims the row before sending."""
    result = services.case_deliver(case_id=case_id)
    if result.retry_in is not None:
        # A retry (or a wait for a rate-limit slot) is a new task with a countdown, not a
        # Celery retry: the row, not the message, holds the attempt count.
        services.enqueue_delivery(case_id, countdown=result.retry_in)
    return result.case.state if result.case else "missing"


@shared_task(ignore_result=True)
def sweep_deliveries() -> dict[str, int]:
    return services.deliveries_sweep()
