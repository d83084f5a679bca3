"""The sweep of changes and new tasks (beat, every KORE_SWEEP_INTERVAL_SECONDS), as the
delivery sweep does for cases: a row left ``sending`` past KORE_SENDING_TIMEOUT_SECONDS had its
worker die, maybe mid-call, so it is marked to be read back (or looked up) before anything is
sent again; rows left queued, or retrying and overdue, past KORE_QUEUED_TIMEOUT_SECONDS lost
their message and are enqueued again."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from cases.models import CaseAction, CaseTask

logger = logging.getLogger(__name__)
STOPPED_MID_CALL = "The worker stopped mid-call; Kore is read back before anything is sent again."


@dataclass
class SweepResult:
    recovered: int = 0
    action_ids: list[int] = field(default_factory=list)
    task_ids: list[int] = field(default_factory=list)


def _take_back(model, now) -> tuple[int, list[int]]:
    stuck = model.objects.filter(
        state="sending", sending_started_at__lt=now - timedelta(seconds=settings.KORE_SENDING_TIMEOUT_SECONDS)
    )
    recovered = []
    for row in stuck.order_by("pk")[:1000]:
        moved = model.objects.filter(
            pk=row.pk, state="sending", sending_started_at=row.sending_started_at
        ).update(
            state="retrying",
            lookup_required=True,
            attempt_count=row.attempt_count + 1,
            next_attempt_at=now,
            sending_started_at=None,
            last_error=STOPPED_MID_CALL,
            updated_at=now,
        )
        if moved:
            recovered.append(row.pk)
    grace = now - timedelta(seconds=settings.KORE_QUEUED_TIMEOUT_SECONDS)
    due = model.objects.filter(
        Q(state="queued", updated_at__lt=grace) | Q(state="retrying", next_attempt_at__lt=grace)
    ).values_list("pk", flat=True)
    return len(recovered), recovered + [pk for pk in due[:5000] if pk not in recovered]


def actions_sweep() -> SweepResult:
    """Find the changes and new tasks whose delivery stopped, for the caller to enqueue again."""
    now = timezone.now()
    result = SweepResult()
    recovered_actions, result.action_ids = _take_back(CaseAction, now)
    recovered_tasks, result.task_ids = _take_back(CaseTask, now)
    result.recovered = recovered_actions + recovered_tasks
    if result.recovered or result.action_ids or result.task_ids:
        logger.info(
            "action sweep: %s stuck taken back, %s changes and %s tasks re-enqueued",
            result.recovered,
            len(result.action_ids),
            len(result.task_ids),
        )
    return result
