"""Delivering one case to Kore.ai, at most once: pace, claim, look up if an answer was lost, send,
record. No HTTP call ever happens inside an open transaction."""

from __future__ import annotations

import random
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from cases.delivery import fair, pacing, reconcile
from cases.delivery.outcomes import (
    DeliveryResult,
    claim,
    may_be_claimed,
    record_delivery,
    record_failure,
    release,
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

    # Pace before claiming: a case waiting for a slot stays queued and visible as such.
    slot = None
    limit = pacing.account_limit(case.stream)
    if limit:
        slot = fair.wait_for_turn(
            case.stream,
            fair.share_of_case(case),
            limit=limit,
            give_up_after=settings.KORE_PACING_HORIZON_SECONDS,
        )
        if slot is None:
            # No turn within the horizon (others' turns, or every slot taken): come back later.
            # Noting the time on the row tells the sweep this case's task is alive.
            retry_in = settings.KORE_PACING_HORIZON_SECONDS * random.uniform(0.5, 1)
            Case.objects.filter(pk=case.pk, state__in=[State.QUEUED, State.RETRYING]).update(
                next_attempt_at=timezone.now() + timedelta(seconds=retry_in),
                updated_at=timezone.now(),
            )
            return DeliveryResult(case=case, claimed=False, retry_in=retry_in)

    if not claim(case):
        case.refresh_from_db()
        return DeliveryResult(case=case, claimed=False)
    return _send(case, slot=slot, limit=limit, record_later=record_later)


def _send(case: Case, *, slot, limit: int = 0, record_later: bool = False) -> DeliveryResult:
    """Steps 2 and 3 for a case this run has claimed: look up if ambiguous, then send."""
    if slot is not None:
        time.sleep(slot.wait())
        if time.time() >= slot.ends_at:
            # Too late to send inside the slot we claimed: give the case back without an attempt.
            return release(case)

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
