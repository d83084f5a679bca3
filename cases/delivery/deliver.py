"""Delivering one case to Kore.ai, at most once: pace, claim, look up if an answer was lost, send,
record. No HTTP call ever happens inside an open transaction."""

from __future__ import annotations

from django.utils import timezone

from cases.delivery import fair, reconcile
from cases.delivery.outcomes import (
    DeliveryResult,
    claim,
    in_slot,
    may_be_claimed,
    record_delivery,
    record_failure,
    release,
    take_turn,
)
from cases.kore.client import KoreClient
from cases.kore.errors import KoreError
from cases.models import Case, DeliveryAttempt

State = Case.State


def case_deliver(
    *, case_id: int, case: Case | None = None, claimed: bool = False, record_later: bool = False
) -> DeliveryResult:
    """Deliver one case to Kore.ai, recording every attempt on the row.

    1. Claim: a conditional update moves the row to ``sending`` only if it is queued, or
       retrying and due; a second worker, a duplicate task or a double click finds nothing
       to claim. Works the same on SQLite, where ``select_for_update`` does nothing.
    2. If an earlier attempt may have created the case, look it up first (cases/delivery/reconcile.py).
    3. Wait for its turn at the rate limit (fair.py), send createCase, record the outcome.

    A caller that has just created the case may pass it in to spare reading it again, and, if
    it stored it already claimed (``case_submit(claimed=True)``, unpaced streams only), say so.
    With ``record_later``, a case Kore made is returned unrecorded (the proxy answers first).
    """
    if claimed:
        return _send(case, slot=None, record_later=record_later)
    if case is None:
        case = Case.objects.select_related("stream", "template").filter(pk=case_id).first()
    if case is None:
        return DeliveryResult(case=None, claimed=False)  # type: ignore[arg-type]
    if not may_be_claimed(case):
        # Delivered, settled, in flight elsewhere, or a retry that is not due: its own task comes later.
        return DeliveryResult(case=case, claimed=False)

    turn = take_turn(case, case.stream, fair.share_of_case(case))
    if turn.retry_in is not None:
        return DeliveryResult(case=case, claimed=False, retry_in=turn.retry_in)
    if not claim(case):
        case.refresh_from_db()
        return DeliveryResult(case=case, claimed=False)
    return _send(case, slot=turn.slot, limit=turn.limit, record_later=record_later)


def _send(case: Case, *, slot, limit: int = 0, record_later: bool = False) -> DeliveryResult:
    """Steps 2 and 3 for a case this run has claimed: look up if ambiguous, then send."""
    if not in_slot(slot):
        return release(case)  # without an attempt

    client = KoreClient(case.stream.kore_config())
    if case.lookup_required:
        settled = reconcile.look_up_before_sending(case, client, limit=limit)
        if settled is not None:
            return settled
        if slot is not None:
            # The look-up spent this slot; the send waits for a slot of its own.
            return release(case)

    started = timezone.now()
    try:
        kore_case = client.create_case(case.request_body)
    except KoreError as exc:
        return record_failure(case, exc, started=started)
    if record_later:
        return DeliveryResult(case=case, claimed=True, answer=kore_case, started=started)
    return record_delivery(case, kore_case, started=started, outcome=DeliveryAttempt.Outcome.DELIVERED)
