"""What people do to a delivery: send a failed case again (or, from review, send it anyway),
have a case in review looked up at Kore again, and cancel one that has not been sent. Adopting
a Kore case is in cases/delivery/reconcile.py."""

from __future__ import annotations

from django.utils import timezone

from cases.delivery.tasks import enqueue_delivery
from cases.models import Case

State = Case.State


def case_retry(*, case: Case) -> bool:
    """Send a failed (or needs-review) case again. For needs-review this means "send anyway":
    the person has checked Kore and found no case, so the look-up is skipped."""
    return _queue_again(case, states=[State.FAILED, State.NEEDS_REVIEW], look_up=False)


def case_look_up_again(*, case: Case) -> bool:
    """Have a case in review looked up at Kore again, now (for instance once its stream has an
    account id): it is queued with the look-up on, whatever turned it off (Send anyway), and the
    look-up's rule decides again: adopt, send when Kore has no candidate, or back to review."""
    return _queue_again(case, states=[State.NEEDS_REVIEW], look_up=True)


def _queue_again(case: Case, *, states: list[str], look_up: bool) -> bool:
    """Queue the case for delivery again if it is still in one of ``states``."""
    updated = Case.objects.filter(pk=case.pk, state__in=states).update(
        state=State.QUEUED,
        next_attempt_at=None,
        lookup_required=look_up,
        review_candidates=[],
        is_flagged=False,
        updated_at=timezone.now(),
    )
    if updated:
        enqueue_delivery(case.pk)
    return bool(updated)


def case_cancel(*, case: Case) -> bool:
    """Cancel a case that has not been sent yet (queued or waiting to retry). Not one whose last
    request may have created it at Kore: that one is looked up first, and may be there."""
    updated = Case.objects.filter(
        pk=case.pk, state__in=[State.QUEUED, State.RETRYING], lookup_required=False
    ).update(state=State.CANCELLED, next_attempt_at=None, updated_at=timezone.now())
    return bool(updated)
