"""Delivery run in a test the way the worker would run it."""

from __future__ import annotations

from django.utils import timezone

from cases.delivery.deliver import case_deliver
from cases.models import Case


def deliver_until_settled(case: Case, *, max_runs: int = 12) -> Case:
    """Deliver ``case`` until it is no longer pending, making each retry due at once."""
    for _ in range(max_runs):
        Case.objects.filter(pk=case.pk, state=Case.State.RETRYING).update(next_attempt_at=timezone.now())
        case_deliver(case_id=case.pk)
        case.refresh_from_db()
        if not case.is_pending:
            return case
    return case
