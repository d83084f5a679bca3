"""Writing what an attempt found out onto the row: the attempt itself and the case's new state,
together, in one transaction. Every path of delivery ends here, so the row tells the truth.

Attempts are numbered by the row's ``attempt_count``; each write moves the count on only if it
is still what the writer read, so two writers (a late worker and the sweep) can never record
the same attempt number or overwrite each other's count.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from cases.delivery import fair, pacing
from cases.delivery.pacing import Slot
from cases.kore.answers import KoreCase, priority_score
from cases.kore.errors import (
    KoreAuthError,
    KoreError,
    KoreHostRefused,
    KoreMalformed,
    KoreRateLimited,
    KoreRefused,
    KoreTimeout,
    KoreUnavailable,
)
from cases.models import Case, DeliveryAttempt
from cases.models.notify import EVENT_FOR_STATE, record_case_event

logger = logging.getLogger(__name__)
State = Case.State
Outcome = DeliveryAttempt.Outcome


@dataclass(frozen=True)
class DeliveryResult:
    """What a delivery run did: ``claimed`` is False when another run owns or finished the case.
    ``answer``: Kore made the case, not yet recorded (``case_deliver(record_later=True)``: the
    caller records it with ``record_delivery`` from ``started``)."""

    case: Case
    claimed: bool
    retry_in: float | None = None
    attempt: DeliveryAttempt | None = None  # the attempt this run recorded, if any
    answer: KoreCase | None = None
    started: datetime | None = None


def write_outcome(
    case: Case, attempt: DeliveryAttempt, *, expect: dict | None = None, event: str | None = None, **fields
) -> bool:
    """Record an attempt and the row's new state together, and mirror them on ``case``.

    ``expect``: conditions the row must still meet (the sweep writes only over a send that is
    still stuck); False, and nothing written, when it no longer does. ``event``: what followers
    and webhooks are told (cases/notify/), recorded in the same transaction.
    """
    expect = expect or {}
    for _ in range(5):
        count = case.attempt_count
        attempt.number = count + 1
        now = timezone.now()
        with transaction.atomic():
            moved = Case.objects.filter(pk=case.pk, attempt_count=count, **expect).update(
                **fields, attempt_count=count + 1, updated_at=now
            )
            if moved:
                attempt.save(force_insert=True)
                record_case_event(event, case, fields=fields)
        if moved:
            for name, value in {**fields, "attempt_count": count + 1, "updated_at": now}.items():
                setattr(case, name, value)
            return True
        # Someone else recorded an attempt in between: number ours after theirs, if the row
        # is still as the caller expects.
        row = Case.objects.filter(pk=case.pk, **expect).values_list("attempt_count", flat=True).first()
        if row is None:
            return False
        case.attempt_count = row
    raise RuntimeError(f"could not record an attempt for case {case.pk}: its attempt count keeps moving")


def _log_fields(case: Case, attempt: DeliveryAttempt) -> dict:
    """One JSON log line per attempt carries these (LOG_FORMAT=json)."""
    return {
        "case_id": case.pk,
        "ref_id": case.ref_id,
        "outcome": attempt.outcome,
        "http_status": attempt.http_status,
        "duration_ms": attempt.duration_ms,
        "state": case.state,
    }


def kore_fields(kore_case: KoreCase, case: Case) -> dict:
    """The columns a case takes from Kore's answer (empty values keep what the row has)."""
    return {
        "kore_id": kore_case.kore_id,
        "ref_id": kore_case.ref_id or "",
        "status_kore_id": kore_case.status_id or "",
        "status_name": kore_case.status_name or "",
        "status_category": kore_case.status_category or "",
        "priority_kore_id": kore_case.priority_id or "",
        "priority_name": kore_case.priority_name or "",
        "priority_color": kore_case.priority_color or "",
        "priority_score": priority_score(kore_case.raw),
        "assignee_name": kore_case.assignee_name or "",
        "requester_name": kore_case.requester_name or case.requester_name,
        "requester_email": kore_case.requester_email or case.requester_email,
        "due_date": kore_case.due_date or case.due_date,
        "kore_created_at": kore_case.kore_created_at,
        "kore_updated_at": kore_case.kore_updated_at,
        "kore_case": kore_case.raw,
    }


def record_delivery(
    case: Case, kore_case: KoreCase, *, started: datetime, outcome: str, note: str = ""
) -> DeliveryResult:
    """Kore holds the case: created by this attempt (``delivered``) or found (``adopted``)."""
    now = timezone.now()
    elapsed = kore_case.elapsed if kore_case.elapsed is not None else (now - started).total_seconds()
    attempt = DeliveryAttempt(
        case=case,
        started_at=started,
        duration_ms=int(elapsed * 1000),
        http_status=kore_case.http_status,
        outcome=outcome,
        error=note,
    )
    try:
        write_outcome(
            case,
            attempt,
            state=State.DELIVERED,
            delivered_at=now,
            sending_started_at=None,
            next_attempt_at=None,
            lookup_required=False,
            review_candidates=[],
            is_flagged=False,
            last_error="",
            event=EVENT_FOR_STATE[State.DELIVERED],
            **kore_fields(kore_case, case),
        )
    except IntegrityError:
        # Another portal case already holds this Kore id: never let two rows claim one case.
        error = f"Kore answered with case {kore_case.kore_id}, which another portal case already holds."
        return finish_failure(
            case, started=started, outcome=Outcome.ERROR, error=error, state=State.NEEDS_REVIEW
        )
    if outcome == Outcome.DELIVERED and case.template_id:
        case.template.note_kore_name(kore_case.raw.get("caseTmp"))  # for look-ups to recognise it
    logger.info(
        "case %s delivered as %s (%s)", case.pk, case.ref_id, outcome, extra=_log_fields(case, attempt)
    )
    return DeliveryResult(case=case, claimed=True, attempt=attempt)


@dataclass(frozen=True)
class Turn:
    """A row's turn at its account's rate limit: the ``slot`` to send in (None on an unpaced
    stream, ``limit`` 0), or, when none came within the horizon, ``retry_in`` seconds until its
    task comes back."""

    limit: int
    slot: Slot | None = None
    retry_in: float | None = None


def take_turn(row, stream, share: fair.Share) -> Turn:
    """Wait for an outbox row's turn before claiming it: a row waiting for a slot stays queued,
    and visible as such. With no turn within KORE_PACING_HORIZON_SECONDS (others' turns, or
    every slot taken), the row notes when its task comes back, which tells the sweep it is alive."""
    limit = pacing.account_limit(stream)
    if not limit:
        return Turn(limit=0)
    slot = fair.wait_for_turn(stream, share, limit=limit, give_up_after=settings.KORE_PACING_HORIZON_SECONDS)
    if slot is not None:
        return Turn(limit=limit, slot=slot)
    retry_in = settings.KORE_PACING_HORIZON_SECONDS * random.uniform(0.5, 1)
    now = timezone.now()
    type(row).objects.filter(pk=row.pk, state__in=[State.QUEUED, State.RETRYING]).update(
        next_attempt_at=now + timedelta(seconds=retry_in), updated_at=now
    )
    return Turn(limit=limit, retry_in=retry_in)


def in_slot(slot: Slot | None) -> bool:
    """Sleep until the slot starts; False when it is over by then: too late to send inside it,
    the claimed row goes back unsent (it never sends late)."""
    if slot is None:
        return True
    time.sleep(slot.wait())
    return time.time() < slot.ends_at


def may_be_claimed(row) -> bool:
    """An outbox row's turn (a case, a change, a task: they share these states): queued, or
    retrying and due (a retry with no time set is due)."""
    if row.state == State.QUEUED:
        return True
    due = row.next_attempt_at is None or row.next_attempt_at <= timezone.now()
    return row.state == State.RETRYING and due


def claim(row, **fields) -> bool:
    """Move an outbox row to ``sending`` (with ``fields``) if it is still as read; True when
    this run owns it, and ``row`` mirrors what was written.

    Matching the attempt count and look-up flag read means no other attempt finished in
    between, so the in-memory copy is the row's and needs no second read. (Should one have
    finished, the claim fails harmlessly and the row's own task or the sweep takes it.)
    """
    now = timezone.now()
    due = Q(state=State.QUEUED) | Q(state=State.RETRYING) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    written = {"state": State.SENDING, "sending_started_at": now, **fields}
    claimed = (
        type(row)
        .objects.filter(due, pk=row.pk, attempt_count=row.attempt_count, lookup_required=row.lookup_required)
        .update(**written, updated_at=now)
    )
    if claimed:
        for name, value in written.items():
            setattr(row, name, value)
    return bool(claimed)


def give_back(row, **fields) -> None:
    """Give a claimed row of an outbox (a case, a change, a task: they share these states) back,
    unsent, to be picked up again at once; ``fields`` are written with it. Re-reads ``row``."""
    now = timezone.now()
    type(row).objects.filter(pk=row.pk, state=State.SENDING).update(
        state=State.QUEUED if row.attempt_count == 0 else State.RETRYING,
        next_attempt_at=now,
        sending_started_at=None,
        updated_at=now,
        **fields,
    )
    row.refresh_from_db()


def release(case: Case) -> DeliveryResult:
    """Give a claimed case back, unsent, to be picked up again at once."""
    give_back(case)
    return DeliveryResult(case=case, claimed=False, retry_in=0)


def hold_for_review(case: Case, *, reason: str, candidates: list[dict] | None = None) -> DeliveryResult:
    """Stop delivery until a person decides (Adopt, or Send anyway): nothing is sent again.

    For a decision reached without a call to Kore (a look-up that cannot be made).
    """
    now = timezone.now()
    fields = {
        "state": State.NEEDS_REVIEW,
        "last_error": reason[:4000],
        "sending_started_at": None,
        "next_attempt_at": None,
        "review_candidates": candidates or [],
        "updated_at": now,
    }
    with transaction.atomic():
        Case.objects.filter(pk=case.pk).update(**fields)
        record_case_event(EVENT_FOR_STATE[State.NEEDS_REVIEW], case, fields=fields)
    for name, value in fields.items():
        setattr(case, name, value)
    logger.info(
        "case %s needs review: %s", case.pk, reason, extra={"case_id": case.pk, "state": State.NEEDS_REVIEW}
    )
    return DeliveryResult(case=case, claimed=True)


OUTCOME_BY_ERROR = [
    (KoreRefused, Outcome.REFUSED),
    (KoreAuthError, Outcome.AUTH_ERROR),
    (KoreHostRefused, Outcome.ERROR),
    (KoreRateLimited, Outcome.RATE_LIMITED),
    (KoreTimeout, Outcome.TIMEOUT),
    (KoreMalformed, Outcome.MALFORMED),
    (KoreUnavailable, Outcome.UNAVAILABLE),
]


def outcome_for(exc: KoreError) -> str:
    for error_type, outcome in OUTCOME_BY_ERROR:
        if isinstance(exc, error_type):
            return outcome
    return Outcome.ERROR


def retry_delay(attempt_number: int, *, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; Kore's Retry-After wins when it asks for longer."""
    ceiling = min(
        settings.KORE_RETRY_MAX_SECONDS, settings.KORE_RETRY_BASE_SECONDS * 2 ** (attempt_number - 1)
    )
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after:
        # Kore knows best when its limit resets; an hour bounds a nonsensical header.
        delay = max(delay, min(retry_after, 3600.0))
    return delay


def record_failure(
    case: Case, exc: KoreError, *, started: datetime, outcome: str | None = None
) -> DeliveryResult:
    """A call that did not settle the case: failed for good, retried later, or given up on."""
    outcome = outcome or outcome_for(exc)
    # Look-ups that found nothing are not tries at delivering: they do not use up the attempts.
    number = case.attempts.exclude(outcome=Outcome.LOOKED_UP).count() + 1
    too_many = number >= settings.KORE_MAX_ATTEMPTS
    too_old = timezone.now() - case.created_at > timedelta(seconds=settings.KORE_MAX_AGE_SECONDS)
    if exc.permanent:
        return finish_failure(
            case, exc=exc, started=started, outcome=outcome, error=exc.message, state=State.FAILED
        )
    if too_many or too_old:
        reason = f"{number} attempts" if too_many else "the maximum age"
        error = f"Gave up after {reason}. Last error: {exc.message}"
        # An unanswered request may still have created the case: a person must check.
        state = State.NEEDS_REVIEW if exc.ambiguous or case.lookup_required else State.FAILED
        return finish_failure(
            case, exc=exc, started=started, outcome=outcome, error=error, state=state, flag=True
        )
    delay = retry_delay(number, retry_after=exc.retry_after)
    return finish_failure(
        case,
        exc=exc,
        started=started,
        outcome=outcome,
        error=exc.message,
        state=State.RETRYING,
        retry_in=delay,
    )


def finish_failure(
    case: Case,
    *,
    started: datetime,
    outcome: str,
    error: str,
    state: str,
    exc: KoreError | None = None,
    retry_in: float | None = None,
    flag: bool = False,
    candidates: list[dict] | None = None,
    http_status: int | None = None,
) -> DeliveryResult:
    now = timezone.now()
    ambiguous = bool(exc and exc.ambiguous)
    attempt = DeliveryAttempt(
        case=case,
        started_at=started,
        duration_ms=int((now - started).total_seconds() * 1000),
        http_status=exc.status if exc else http_status,
        outcome=outcome,
        ambiguous=ambiguous,
        error=error[:4000],
        response_body=exc.body if exc else "",
    )
    write_outcome(
        case,
        attempt,
        state=state,
        last_error=error[:4000],
        sending_started_at=None,
        next_attempt_at=now + timedelta(seconds=retry_in) if retry_in is not None else None,
        lookup_required=ambiguous or case.lookup_required,
        review_candidates=candidates if candidates is not None else case.review_candidates,
        is_flagged=flag,
        event=EVENT_FOR_STATE.get(state),
    )
    logger.info(
        "case %s attempt failed (%s): %s -> %s",
        case.pk,
        outcome,
        error,
        state,
        extra=_log_fields(case, attempt),
    )
    return DeliveryResult(case=case, claimed=True, retry_in=retry_in, attempt=attempt)
