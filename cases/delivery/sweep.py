"""The sweep: take back what a lost task or a dead worker left behind. Run every minute by beat."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from cases.delivery.outcomes import write_outcome
from cases.models import Case, DeliveryAttempt

logger = logging.getLogger(__name__)
State = Case.State
STOPPED_MID_CALL = "The delivery worker stopped mid-call; the case will be looked up before sending again."


@dataclass
class SweepResult:
    recovered: int = 0
    due_ids: list[int] = field(default_factory=list)


def deliveries_sweep() -> SweepResult:
    """Find the cases whose delivery stopped, for the caller to enqueue again.

    - sending for longer than KORE_SENDING_TIMEOUT_SECONDS: its worker died, maybe mid-call, so
      the request may have reached Kore. Recorded as an unanswered attempt that started when the
      send was claimed, so that the look-up before the next send searches from then;
    - queued for longer than KORE_QUEUED_TIMEOUT_SECONDS: its task never ran (broker down at commit);
    - retrying and overdue by as long: its delayed task was lost.
    """
    now = timezone.now()
    result = SweepResult()
    stuck = Case.objects.filter(
        state=State.SENDING,
        sending_started_at__lt=now - timedelta(seconds=settings.KORE_SENDING_TIMEOUT_SECONDS),
    )
    for case in stuck.order_by("pk")[:1000]:
        attempt = DeliveryAttempt(
            case=case,
            started_at=case.sending_started_at,
            outcome=DeliveryAttempt.Outcome.INTERRUPTED,
            ambiguous=True,
            error=STOPPED_MID_CALL,
        )
        moved = write_outcome(
            case,
            attempt,
            expect={"state": State.SENDING, "sending_started_at": case.sending_started_at},
            state=State.RETRYING,
            lookup_required=True,
            next_attempt_at=now,
            sending_started_at=None,
            last_error=STOPPED_MID_CALL,
        )
        if not moved:
            continue  # it finished (or moved on) after all
        result.recovered += 1
        result.due_ids.append(case.pk)
    # A live task touches its row at least every pacing horizon, so "untouched for the queued
    # timeout" means no task holds the case any more.
    grace = now - timedelta(seconds=settings.KORE_QUEUED_TIMEOUT_SECONDS)
    due = Case.objects.filter(
        Q(state=State.QUEUED, updated_at__lt=grace)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=grace))
        | Q(state=State.RETRYING, next_attempt_at__lt=grace)
    ).values_list("pk", flat=True)
    result.due_ids += list(due[:5000])
    if result.recovered or result.due_ids:
        logger.info("sweep: %s stuck cases taken back, %s re-enqueued", result.recovered, len(result.due_ids))
    return result
