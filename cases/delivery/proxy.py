"""The drop-in proxy's workflow: idempotency keys, submit-and-deliver within the caller's request,
and "refuse to queue". The HTTP side (paths, tokens, Kore's answer forms) is in cases/api/."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.delivery.actions import case_cancel
from cases.delivery.deliver import case_deliver
from cases.delivery.outcomes import DeliveryResult, record_delivery
from cases.delivery.submit import case_submit
from cases.delivery.tasks import enqueue_delivery
from cases.kore.answers import KoreCase
from cases.models import ApiClient, Case, CaseTemplate, DeliveryAttempt, IdempotencyKey
from cases.models.notify import EVENT_FOR_STATE, record_case_event

IDEMPOTENCY_WINDOW = timedelta(hours=24)


class KeyReusedWithAnotherBody(Exception):
    """The Idempotency-Key was used before with a different request."""


class KeyInProgress(Exception):
    """A concurrent call with the same Idempotency-Key is storing its case right now."""


@dataclass(frozen=True)
class Submitted:
    """A submission's case; ``answer``: Kore made it, and ``record()`` records it, once the
    caller has Kore's answer (should that never happen, the case is still ``sending``, and the
    sweep has it looked up before anything is sent again)."""

    case: Case
    replayed: bool
    attempt: DeliveryAttempt | None = None
    answer: KoreCase | None = None
    record: Callable[[], object] | None = None


def request_fingerprint(stream_id: str, body: dict) -> str:
    canonical = json.dumps({"stream": stream_id, "body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def live_key(*, client: ApiClient, key: str, fingerprint: str) -> IdempotencyKey | None:
    """This client's use of ``key`` within the window (older ones are forgotten first); None
    when the key is new. Raises KeyReusedWithAnotherBody when it came with another request."""
    cutoff = timezone.now() - IDEMPOTENCY_WINDOW
    IdempotencyKey.objects.filter(api_client=client, key=key, created_at__lt=cutoff).delete()
    previous = IdempotencyKey.objects.filter(api_client=client, key=key).first()
    if previous is not None and previous.request_hash != fingerprint:
        raise KeyReusedWithAnotherBody
    return previous


def once_settled(row, *, wait_until: float):
    """``row`` (a case, a change, a task) once it is no longer pending, or the wait ran out."""
    while row.is_pending and time.monotonic() < wait_until:
        time.sleep(0.05)
        row.refresh_from_db()
    return row


def earlier_submission(*, client: ApiClient, key: str, fingerprint: str, wait_until: float) -> Case | None:
    """The case a call with this key made within the window, once it settled (or the wait ran
    out); None when the key is new. Raises KeyReusedWithAnotherBody for another body."""
    previous = live_key(client=client, key=key, fingerprint=fingerprint)
    if previous is None:
        return None
    if previous.case_id is None:
        raise KeyReusedWithAnotherBody
    return once_settled(previous.case, wait_until=wait_until)


@dataclass(frozen=True)
class CallerWrite:
    """A write as an API client sent it: who, its Idempotency-Key (and the request's
    fingerprint), whether the stream is paced, and how long the call may wait for Kore."""

    client: ApiClient
    key: str
    fingerprint: str
    paced: bool
    wait_until: float


def stored_with_key(write: CallerWrite, store: Callable, *, kind: str, on_stored, earlier: Callable):
    """``(row, None)``: ``store()``'s row, stored with its key and ``on_stored(row)`` (the
    API's audit record) in one transaction; ``(None, earlier())`` when a concurrent call with
    the same key won the race. Raises KeyInProgress while that call is still storing."""
    try:
        with transaction.atomic():
            row = store()
            if write.key:
                IdempotencyKey.objects.create(
                    api_client=write.client, key=write.key, request_hash=write.fingerprint, **{kind: row}
                )
            if on_stored is not None:
                on_stored(row)
        return row, None
    except IntegrityError:
        found = earlier()
        if found is None:
            raise KeyInProgress from None
        return None, found


def proxy_submit(write: CallerWrite, *, template: CaseTemplate, body: dict, on_stored=None) -> Submitted:
    """Store the caller's body as sent, then deliver it within the call until its wait runs out.

    An unpaced stream's case is stored already claimed by this call, which sends it at once; a
    paced one waits for its rate-limit slot before it is claimed. ``on_stored(case)`` runs in
    the storing transaction (the API's audit record), so the case, its key and the record
    commit together.
    """
    case, earlier = stored_with_key(
        write,
        lambda: case_submit(
            template=template, body=body, api_client=write.client, enqueue=False, claimed=not write.paced
        ),
        kind="case",
        on_stored=on_stored,
        earlier=lambda: earlier_submission(
            client=write.client, key=write.key, fingerprint=write.fingerprint, wait_until=write.wait_until
        ),
    )
    if earlier is not None:
        return Submitted(case=earlier, replayed=True)
    result = deliver_and_wait(case, wait_until=write.wait_until, claimed=not write.paced)
    if result.answer is not None:
        return Submitted(
            case=result.case,
            replayed=False,
            answer=result.answer,
            record=lambda: record_delivery(
                result.case, result.answer, started=result.started, outcome=DeliveryAttempt.Outcome.DELIVERED
            ),
        )
    return Submitted(case=result.case, replayed=False, attempt=result.attempt)


def deliver_and_wait(case: Case, *, wait_until: float, claimed: bool = False) -> DeliveryResult:
    """Deliver in this request (no queue hop), or wait for whoever is delivering it. A case Kore
    made comes back unrecorded (``result.answer``): the caller records it once answered."""
    return within_the_call(
        case_deliver(case_id=case.pk, case=case, claimed=claimed, record_later=True),
        again=lambda: case_deliver(case_id=case.pk, record_later=True),
        pending=lambda result: result.answer is None and result.case.is_pending,
        enqueue=lambda countdown: enqueue_delivery(case.pk, countdown=countdown),
        wait_until=wait_until,
    )


def within_the_call(result, *, again, pending, enqueue, wait_until: float):
    """Go on delivering a row in the caller's request while it is pending and the call may wait:
    waiting for a rate-limit slot, or for another worker that has it in flight, then
    ``again()``. A failed attempt that this run claimed (to be retried with backoff), or a wait
    that ran out, goes to the worker: ``enqueue(countdown)``. Any delivery's result will do (a
    case's, a change's, a task's): ``claimed`` and ``retry_in`` are all it reads of it."""
    while pending(result):
        remaining = wait_until - time.monotonic()
        if result.claimed or remaining <= 0:
            enqueue(result.retry_in if result.claimed else None)
            break
        time.sleep(min(remaining, result.retry_in or 0.05))
        result = again()
    return result


def refuse_to_queue(case: Case) -> bool:
    """The caller asked not to queue: withdraw the case. True when Kore did not answer in time
    (a timeout, or no attempt made at all), False when it answered with an error.

    A case whose request may have reached Kore cannot be withdrawn: it may exist there. It is
    held for review instead, so that nothing sends it again unless a person decides to.
    """
    if not case_cancel(case=case):
        held = {
            "state": Case.State.NEEDS_REVIEW,
            "next_attempt_at": None,
            "last_error": f"{case.last_error} The caller asked not to queue, and the request may have "
            "created the case at Kore: check Kore, then adopt it or send anyway.",
            "updated_at": timezone.now(),
        }
        with transaction.atomic():
            if Case.objects.filter(pk=case.pk, state=Case.State.RETRYING).update(**held):
                record_case_event(EVENT_FOR_STATE[Case.State.NEEDS_REVIEW], case, fields=held)
    last = case.attempts.order_by("-number").first()
    return last is None or last.outcome == DeliveryAttempt.Outcome.TIMEOUT
