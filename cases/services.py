"""Workflows: submitting a case, delivering it to Kore.ai, checking a stream.

Submission and delivery are separate steps. ``case_submit`` stores the case (state ``queued``,
with the exact body to send) and enqueues delivery after commit; ``case_deliver`` claims the
row with a conditional update, calls Kore outside any transaction and records the outcome.
No HTTP call ever happens inside an open transaction.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from cases import pacing
from cases.kore.client import (
    KoreAuthError,
    KoreClient,
    KoreError,
    KoreHostRefused,
    KoreMalformed,
    KoreRateLimited,
    KoreRefused,
    KoreTimeout,
    KoreUnavailable,
    format_kore_datetime,
    parse_case,
    parse_kore_datetime,
)
from cases.models import ApiClient, Case, CaseTemplate, DeliveryAttempt, Stream

logger = logging.getLogger(__name__)
State = Case.State
Outcome = DeliveryAttempt.Outcome


# --- Submission --------------------------------------------------------------------------


def build_case_body(*, template: CaseTemplate, data: dict) -> dict:
    """The createCase body for a validated case form, shaped as Kore's own sample."""
    due = data.get("dueDate") or template.default_due_date()
    user_info: dict[str, str] = {}
    if data.get("user_id"):
        user_info["_id"] = data["user_id"]
    if data.get("user_name"):
        user_info["name"] = data["user_name"]
    body = {
        "caseTmp": template.template_id,
        "name": data["name"],
        "desc": data["desc"],
        "userInfo": user_info,
        "emailId": data.get("emailId") or "",
        "phoneNumber": data.get("phoneNumber") or "",
        "dueDate": format_kore_datetime(due),
        "source": data.get("source") or template.default_source,
    }
    # Kore wants either a user id or a contact; an empty contact key only adds noise.
    for key in ("emailId", "phoneNumber"):
        if not body[key]:
            del body[key]
    return body


def case_fields_from_body(body: dict) -> dict:
    """The browse-by columns of a case that is not delivered yet, taken from its body."""
    return {
        "name": body["name"],
        "desc": body["desc"],
        "source": body["source"],
        "due_date": parse_kore_datetime(body["dueDate"]),
        "requester_id": body["userInfo"].get("_id", ""),
        "requester_name": body["userInfo"].get("name", ""),
        "requester_email": body.get("emailId", ""),
        "requester_phone": body.get("phoneNumber", ""),
    }


def case_submit(
    *,
    template: CaseTemplate,
    data: dict,
    user=None,
    api_client=None,
    enqueue: bool = True,
    claimed: bool = False,
) -> Case:
    """Store a validated case as ``queued`` and enqueue its delivery once the row is committed.

    ``enqueue=False`` is for a caller that delivers at once itself (the API proxy); should it
    never get to, the sweep finds the case queued and enqueues it. ``claimed=True`` (with
    ``enqueue=False``) stores it already ``sending``, claimed by that caller, sparing the claim's
    own write; should the caller die before sending, the sweep treats it as any stuck send.
    """
    body = build_case_body(template=template, data=data)
    claim = {"state": State.SENDING, "sending_started_at": timezone.now()} if claimed else {}
    # No savepoint when a caller's transaction surrounds this one (the API pairs the case with
    # its idempotency key): an error rolls back the whole of it anyway.
    with transaction.atomic(savepoint=False):
        case = Case.objects.create(
            stream=template.stream,
            template=template,
            submitted_by=user if user is not None and user.is_authenticated else None,
            api_client=api_client,
            request_body=body,
            **case_fields_from_body(body),
            **claim,
        )
        if enqueue:
            enqueue_delivery(case.pk)
    logger.info("case %s queued for stream %s", case.pk, template.stream_id)
    return case


def enqueue_delivery(case_id: int, *, countdown: float | None = None) -> None:
    """Send the delivery task after the surrounding transaction commits.

    If the broker is down at that moment the task is lost, but the row is not: the sweep
    re-enqueues cases left queued, so the call never fails the user's request.
    """
    from cases.tasks import deliver_case

    def send() -> None:
        try:
            deliver_case.apply_async(args=[case_id], countdown=countdown)
        except Exception:  # noqa: BLE001 - any broker failure; the sweep recovers the case
            logger.exception("could not enqueue delivery of case %s; the sweep will retry", case_id)

    transaction.on_commit(send)


# --- Delivery ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryResult:
    """What a delivery run did: ``claimed`` is False when another run owns or finished the case."""

    case: Case
    claimed: bool
    retry_in: float | None = None
    attempt: DeliveryAttempt | None = None  # the attempt this run recorded, if any


def case_deliver(*, case_id: int, case: Case | None = None, claimed: bool = False) -> DeliveryResult:
    """Deliver one case to Kore.ai, at most once, recording every attempt on the row.

    1. Claim: a conditional update moves the row to ``sending`` only if it is queued, or
       retrying and due; a second worker, a duplicate task or a double click finds nothing
       to claim. Works the same on SQLite, where ``select_for_update`` does nothing.
    2. If an earlier attempt was ambiguous, look the case up (getCases) and adopt it.
    3. Wait for a rate-limit slot, send createCase, record the outcome.

    A caller that has just created the case may pass it in to spare reading it again, and, if
    it stored it already claimed (``case_submit(claimed=True)``, unpaced streams only), say so.
    """
    if claimed:
        return _send(case, slot=None)
    if case is None:
        case = Case.objects.select_related("stream").filter(pk=case_id).first()
    if case is None:
        return DeliveryResult(case=None, claimed=False)  # type: ignore[arg-type]
    if not _may_be_claimable(case):
        # Delivered, settled, in flight elsewhere, or a retry that is not due: its own task comes later.
        return DeliveryResult(case=case, claimed=False)
    stream = case.stream

    # Pace before claiming: a case waiting for a slot stays queued and visible as such.
    slot = None
    if stream.rate_limit:
        slot = pacing.claim_slot(
            stream.rate_limit_key(),
            limit=stream.rate_limit,
            window=settings.KORE_RATE_WINDOW_SECONDS,
            horizon=settings.KORE_PACING_HORIZON_SECONDS,
        )
        if slot is None:
            # Every slot in the horizon is taken: come back later. Noting the time on the row
            # tells the sweep this case's task is alive.
            retry_in = settings.KORE_PACING_HORIZON_SECONDS * random.uniform(0.5, 1)
            Case.objects.filter(pk=case.pk, state__in=[State.QUEUED, State.RETRYING]).update(
                next_attempt_at=timezone.now() + timedelta(seconds=retry_in),
                updated_at=timezone.now(),
            )
            return DeliveryResult(case=case, claimed=False, retry_in=retry_in)

    if not _claim(case):
        case.refresh_from_db()
        return DeliveryResult(case=case, claimed=False)
    return _send(case, slot=slot)


def _send(case: Case, *, slot) -> DeliveryResult:
    """Steps 2 and 3 for a case this run has claimed: look up if ambiguous, then send."""
    stream = case.stream
    if slot is not None:
        time.sleep(slot.wait())
        if time.time() >= slot.ends_at:
            # Too late to send inside the slot we claimed: give the case back without an attempt.
            return _release(case)

    client = KoreClient(stream.kore_config())
    if case.lookup_required:
        adopted = _resolve_ambiguity(case, client)
        if adopted is not None:
            return adopted
        if slot is not None:
            # The look-up spent this slot; the send waits for a slot of its own.
            return _release(case)

    started = timezone.now()
    try:
        kore_case = client.create_case(case.request_body)
    except KoreError as exc:
        return _record_failure(case, exc, started=started)
    return _record_delivery(case, kore_case, started=started, outcome=Outcome.DELIVERED)


def _may_be_claimable(case: Case) -> bool:
    if case.state == State.QUEUED:
        return True
    return case.state == State.RETRYING and (
        case.next_attempt_at is None or case.next_attempt_at <= timezone.now()
    )


def _release(case: Case) -> DeliveryResult:
    """Give a claimed case back, unsent, to be picked up again at once."""
    Case.objects.filter(pk=case.pk, state=State.SENDING).update(
        state=State.QUEUED if case.attempt_count == 0 else State.RETRYING,
        next_attempt_at=timezone.now(),
        sending_started_at=None,
        updated_at=timezone.now(),
    )
    case.refresh_from_db()
    return DeliveryResult(case=case, claimed=False, retry_in=0)


def _claim(case: Case) -> bool:
    """Move the row to ``sending`` if it is still as we read it; True when this run owns it.

    Matching the attempt count and look-up flag we read means no other attempt finished in
    between, so the in-memory copy is the row's and needs no second read. (Should one have
    finished, the claim fails harmlessly and the case's own task or the sweep takes it.)
    """
    now = timezone.now()
    claimable = Q(state=State.QUEUED) | Q(state=State.RETRYING, next_attempt_at__lte=now)
    claimed = Case.objects.filter(
        claimable, pk=case.pk, attempt_count=case.attempt_count, lookup_required=case.lookup_required
    ).update(state=State.SENDING, sending_started_at=now, updated_at=now)
    if claimed == 1:
        case.state, case.sending_started_at = State.SENDING, now
    return claimed == 1


def _write_outcome(case: Case, attempt: DeliveryAttempt, **fields) -> None:
    """Record an attempt and the row's new state together, and mirror them on ``case``.

    The caller holds the claim, so the in-memory attempt count is the row's.
    """
    fields.update(attempt_count=case.attempt_count + 1, updated_at=timezone.now())
    with transaction.atomic():
        attempt.save(force_insert=True)
        Case.objects.filter(pk=case.pk).update(**fields)
    for name, value in fields.items():
        setattr(case, name, value)


def _next_attempt_number(case: Case) -> int:
    # Read after the claim: while the row is ours, nobody else adds attempts.
    return case.attempt_count + 1


def _record_delivery(
    case: Case, kore_case, *, started: datetime, outcome: str, elapsed=None
) -> DeliveryResult:
    now = timezone.now()
    duration_ms = int((elapsed if elapsed is not None else (now - started).total_seconds()) * 1000)
    attempt = DeliveryAttempt(
        case=case,
        number=_next_attempt_number(case),
        started_at=started,
        duration_ms=duration_ms,
        http_status=getattr(kore_case, "http_status", None),
        outcome=outcome,
    )
    try:
        _write_outcome(
            case,
            attempt,
            state=State.DELIVERED,
            delivered_at=now,
            sending_started_at=None,
            next_attempt_at=None,
            lookup_required=False,
            last_error="",
            kore_id=kore_case.kore_id,
            ref_id=kore_case.ref_id or "",
            status_name=kore_case.status_name or "",
            status_category=kore_case.status_category or "",
            priority_name=kore_case.priority_name or "",
            priority_color=kore_case.priority_color or "",
            priority_score=priority_score(kore_case.raw),
            assignee_name=kore_case.assignee_name or "",
            requester_name=kore_case.requester_name or case.requester_name,
            requester_email=kore_case.requester_email or case.requester_email,
            due_date=kore_case.due_date or case.due_date,
            kore_created_at=kore_case.kore_created_at,
            kore_updated_at=kore_case.kore_updated_at,
            kore_case=kore_case.raw,
        )
    except IntegrityError:
        # Another portal case already holds this Kore id: never let two rows claim one case.
        error = f"Kore answered with case {kore_case.kore_id}, which another portal case already holds."
        return _finish_failure(
            case, started=started, outcome=Outcome.ERROR, error=error, state=State.NEEDS_REVIEW
        )
    logger.info(
        "case %s delivered as %s (%s)",
        case.pk,
        case.ref_id,
        outcome,
        extra={
            "case_id": case.pk,
            "ref_id": case.ref_id,
            "outcome": outcome,
            "http_status": attempt.http_status,
            "duration_ms": duration_ms,
        },
    )
    return DeliveryResult(case=case, claimed=True, attempt=attempt)


def priority_score(kore_case: dict) -> int | None:
    """Kore's priority score (what sorting by priority uses), when the case carries one."""
    priority = kore_case.get("priority") if isinstance(kore_case, dict) else None
    score = priority.get("score") if isinstance(priority, dict) else None
    return score if isinstance(score, int) and not isinstance(score, bool) else None


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


def _record_failure(case: Case, exc: KoreError, *, started: datetime) -> DeliveryResult:
    outcome = outcome_for(exc)
    number = case.attempt_count + 1
    too_many = number >= settings.KORE_MAX_ATTEMPTS
    too_old = timezone.now() - case.created_at > timedelta(seconds=settings.KORE_MAX_AGE_SECONDS)
    if exc.permanent:
        return _finish_failure(
            case, exc=exc, started=started, outcome=outcome, error=exc.message, state=State.FAILED
        )
    if too_many or too_old:
        reason = f"{number} attempts" if too_many else "the maximum age"
        error = f"Gave up after {reason}. Last error: {exc.message}"
        # An ambiguous last attempt may still have created the case: a person must check.
        state = State.NEEDS_REVIEW if exc.ambiguous or case.lookup_required else State.FAILED
        return _finish_failure(
            case, exc=exc, started=started, outcome=outcome, error=error, state=state, flag=True
        )
    delay = retry_delay(number, retry_after=exc.retry_after)
    return _finish_failure(
        case,
        exc=exc,
        started=started,
        outcome=outcome,
        error=exc.message,
        state=State.RETRYING,
        retry_in=delay,
    )


def _finish_failure(
    case: Case,
    *,
    started: datetime,
    outcome: str,
    error: str,
    state: str,
    exc: KoreError | None = None,
    retry_in: float | None = None,
    flag: bool = False,
) -> DeliveryResult:
    now = timezone.now()
    ambiguous = bool(exc and exc.ambiguous)
    duration_ms = int((now - started).total_seconds() * 1000)
    attempt = DeliveryAttempt(
        case=case,
        number=_next_attempt_number(case),
        started_at=started,
        duration_ms=duration_ms,
        http_status=exc.status if exc else None,
        outcome=outcome,
        ambiguous=ambiguous,
        error=error[:4000],
        response_body=exc.body if exc else "",
    )
    _write_outcome(
        case,
        attempt,
        state=state,
        last_error=error[:4000],
        sending_started_at=None,
        next_attempt_at=now + timedelta(seconds=retry_in) if retry_in is not None else None,
        lookup_required=ambiguous or case.lookup_required,
        is_flagged=flag,
    )
    logger.info(
        "case %s attempt failed (%s): %s -> %s",
        case.pk,
        outcome,
        error,
        state,
        extra={
            "case_id": case.pk,
            "ref_id": case.ref_id,
            "outcome": outcome,
            "http_status": attempt.http_status,
            "duration_ms": duration_ms,
            "state": state,
        },
    )
    return DeliveryResult(case=case, claimed=True, retry_in=retry_in, attempt=attempt)


# --- Ambiguity: find out before sending again -------------------------------------------


def _resolve_ambiguity(case: Case, client: KoreClient) -> DeliveryResult | None:
    """Look for the case at Kore after an attempt that got no answer.

    Returns a result when the matter is settled (adopted, needs review, or the look-up itself
    failed and was recorded); None when Kore has no such case and it is safe to send again.
    """
    started = timezone.now()
    first_ambiguous = case.attempts.filter(ambiguous=True).order_by("number").first()
    since = first_ambiguous.started_at if first_ambiguous else case.sending_started_at or case.created_at
    filters = {
        "searchText": case.request_body["name"],
        "startDate": format_kore_datetime(since - timedelta(minutes=2)),
        "endDate": format_kore_datetime(timezone.now() + timedelta(minutes=2)),
        "limit": 50,
        "page": 1,
    }
    try:
        answer = client.get_cases(filters)
    except KoreError as exc:
        # The look-up failing is just another failed attempt: retried or given up the same way.
        exc.message = f"Looking the case up before sending again failed: {exc.message}"
        exc.ambiguous = True
        return _record_failure(case, exc, started=started)

    matches = [found for found in answer.get("results", []) if _same_case(case, found)]
    held = set(
        Case.objects.filter(kore_id__in=[m.get("_id") for m in matches]).values_list("kore_id", flat=True)
    )
    matches = [m for m in matches if m.get("_id") not in held]
    if len(matches) == 1:
        return _record_delivery(case, parse_case(matches[0]), started=started, outcome=Outcome.ADOPTED)
    if len(matches) > 1:
        ids = ", ".join(str(m.get("refId") or m.get("_id")) for m in matches)
        error = f"Several Kore cases match this submission ({ids}); check Kore before retrying."
        return _finish_failure(
            case, started=started, outcome=Outcome.ERROR, error=error, state=State.NEEDS_REVIEW
        )
    Case.objects.filter(pk=case.pk).update(lookup_required=False)
    case.lookup_required = False
    return None


def _same_case(case: Case, found: dict) -> bool:
    body = case.request_body
    if (found.get("name") or "").strip() != body["name"].strip():
        return False
    due = parse_kore_datetime(found.get("ETA") or found.get("dueDate"))
    if due is None or due != parse_kore_datetime(body["dueDate"]):
        return False
    user = found.get("userInfo") or {}
    wanted_id = body["userInfo"].get("_id")
    if wanted_id:
        return user.get("_id") == wanted_id or user.get("id") == wanted_id
    email = (found.get("emailId") or user.get("emailId") or "").lower()
    phone = found.get("phoneNumber") or user.get("phoneNumber") or ""
    if body.get("emailId") and email:
        return email == body["emailId"].lower()
    if body.get("phoneNumber") and phone:
        return phone == body["phoneNumber"]
    return False


# --- People acting on deliveries ---------------------------------------------------------


def case_retry(*, case: Case) -> bool:
    """Send a failed (or needs-review) case again. For needs-review this means "send anyway":
    the person has checked Kore and found no case, so the look-up is skipped."""
    updated = Case.objects.filter(pk=case.pk, state__in=[State.FAILED, State.NEEDS_REVIEW]).update(
        state=State.QUEUED,
        next_attempt_at=None,
        lookup_required=False,
        is_flagged=False,
        updated_at=timezone.now(),
    )
    if updated:
        enqueue_delivery(case.pk)
    return bool(updated)


def case_cancel(*, case: Case) -> bool:
    """Cancel a case that has not been sent yet (queued or waiting to retry)."""
    updated = Case.objects.filter(pk=case.pk, state__in=[State.QUEUED, State.RETRYING]).update(
        state=State.CANCELLED, next_attempt_at=None, updated_at=timezone.now()
    )
    return bool(updated)


def deliveries_sweep() -> dict[str, int]:
    """Re-enqueue what a lost task or a dead worker left behind. Run every minute by beat.

    - queued for longer than KORE_QUEUED_TIMEOUT_SECONDS: its task never ran (broker down at commit);
    - retrying and due: its delayed task was lost;
    - sending for longer than KORE_SENDING_TIMEOUT_SECONDS: its worker died mid-call, so the
      request may have reached Kore; it is marked for a look-up before any new send.
    """
    now = timezone.now()
    stuck = Case.objects.filter(
        state=State.SENDING,
        sending_started_at__lt=now - timedelta(seconds=settings.KORE_SENDING_TIMEOUT_SECONDS),
    )
    stuck_ids = list(stuck.values_list("pk", flat=True))
    recovered = Case.objects.filter(pk__in=stuck_ids, state=State.SENDING).update(
        state=State.RETRYING,
        lookup_required=True,
        next_attempt_at=now,
        sending_started_at=None,
        last_error="The delivery worker stopped mid-call; the case will be looked up before sending again.",
        updated_at=now,
    )
    # A live task touches its row at least every pacing horizon, so "untouched for the queued
    # timeout" means no task holds the case any more.
    grace = now - timedelta(seconds=settings.KORE_QUEUED_TIMEOUT_SECONDS)
    due = Case.objects.filter(
        Q(state=State.QUEUED, updated_at__lt=grace)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lt=grace))
        | Q(state=State.RETRYING, next_attempt_at__lt=grace)
    ).values_list("pk", flat=True)
    due_ids = list(due[:5000])
    for case_id in due_ids:
        enqueue_delivery(case_id)
    if recovered or due_ids:
        logger.info("sweep: %s stuck cases taken back, %s re-enqueued", recovered, len(due_ids))
    return {"recovered": recovered, "enqueued": len(due_ids)}


# --- Streams -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str


def stream_check(*, stream: Stream) -> ConnectionCheck:
    """Does the host answer, and are the credentials accepted? Kore's own message when not."""
    try:
        message = KoreClient(stream.kore_config()).check_connection()
    except KoreError as exc:
        return ConnectionCheck(ok=False, message=exc.message)
    return ConnectionCheck(ok=True, message=message)


# --- API clients -------------------------------------------------------------------------


def api_client_create(*, name: str, streams) -> tuple[ApiClient, str]:
    """A new API client and its secret, which the caller shows once and never again."""
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        client = ApiClient(name=name, client_id=f"cs-{secrets.token_hex(12)}")
        client.set_secret(secret)
        client.save()
        client.streams.set(streams)
    return client, secret


def api_client_new_secret(*, client: ApiClient) -> str:
    """Replace a client's secret (the old one stops working at once)."""
    secret = secrets.token_urlsafe(32)
    client.set_secret(secret)
    client.save(update_fields=["secret_encrypted"])
    return secret
