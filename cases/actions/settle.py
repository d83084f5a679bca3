"""Writing what a call found out onto a change's row, and onto the case: confirmed (Kore's answer
applied, recorded in the history and the audit trail), refused (Kore's message kept, the case
left as Kore has it), superseded (Kore changed it meanwhile: not sent again), failed, or retried
later with backoff. Every write is conditional on the row being still ``sending`` and at the
attempt count the writer read, so a late worker and the sweep never both record an outcome."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cases.actions.apply import apply_case_answer, apply_task_answer
from cases.delivery.outcomes import give_back, retry_delay
from cases.kore.answers import KoreCase, KoreTask
from cases.kore.errors import KoreAuthError, KoreError, KoreHostRefused, KoreRefused
from cases.models import CaseAction
from cases.people.audit import audit_record

logger = logging.getLogger(__name__)
State = CaseAction.State


@dataclass(frozen=True)
class ActionResult:
    """What a delivery run did: ``then`` lists the case's next change, to be sent now;
    ``answer`` is Kore's taking the change, not yet recorded (``send.action_deliver(record_later=True)``)."""

    action: CaseAction | None
    claimed: bool
    retry_in: float | None = None
    then: tuple[int, ...] = field(default_factory=tuple)
    answer: KoreCase | KoreTask | None = None

    @property
    def state(self) -> str:
        return self.action.state if self.action else "missing"


def next_of_case(action: CaseAction) -> tuple[int, ...]:
    """The case's next change waiting behind this one (changes of a case go in order); asked
    only when a later change said it waits (``holds_next``)."""
    if not action.holds_next:
        return ()
    following = (
        CaseAction.objects.filter(
            case_id=action.case_id, pk__gt=action.pk, state__in=CaseAction.PENDING_STATES
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    return (following,) if following else ()


def _write(action: CaseAction, **fields) -> bool:
    """Move a claimed row on, counting the attempt; mirror it on ``action``. False when the
    row is no longer as this run claimed it (the sweep took it back meanwhile).

    Written first on the condition that no later change waits: when one said so meanwhile,
    the row is written again without it, and ``action.holds_next`` says so."""
    now = timezone.now()
    values = {**fields, "attempt_count": action.attempt_count + 1, "updated_at": now}
    as_claimed = CaseAction.objects.filter(
        pk=action.pk, state=State.SENDING, attempt_count=action.attempt_count
    )
    moved = 0
    if not action.holds_next:
        moved = as_claimed.filter(holds_next=False).update(**values)
    if not moved:
        moved = as_claimed.update(**values)
        action.holds_next = action.holds_next or bool(moved)
    if moved:
        for name, value in values.items():
            setattr(action, name, value)
    return bool(moved)


def _actor(action: CaseAction):
    return action.requested_by or action.api_client


def _audit(action: CaseAction, what: str, **details) -> None:
    target = action.task if action.task_id else action.case
    audit_record(
        actor=_actor(action),
        action=f"{'task' if action.task_id else 'case'}.change_{what}",
        target=target,
        details={"change": action.pk, "summary": action.summary[:300], **details},
        request=None,
    )


def confirm(action: CaseAction, answer: KoreCase | KoreTask) -> ActionResult:
    """Kore took the change: the row confirmed, Kore's answer applied and the audit record
    written, together."""
    source = "api" if action.api_client_id else "portal"
    with transaction.atomic():
        settled = _write(
            action,
            state=State.CONFIRMED,
            settled_at=timezone.now(),
            last_error="",
            http_status=answer.http_status or 200,
            response_body=json.dumps(answer.raw),
            sending_started_at=None,
            next_attempt_at=None,
            lookup_required=False,
        )
        if not settled:
            return ActionResult(action=action, claimed=False)
        if action.task_id:
            action.task.case = action.case  # the task's own case: no query for it
            apply_task_answer(action.task, answer.raw, source=source)
        else:
            apply_case_answer(action.case, answer.raw, action.body, source=source)
        if not action.api_client_id:
            # A person's change: confirmed in the audit trail. (An API client's was recorded
            # as it came in, and its caller has Kore's answer; the history shows it applied.)
            _audit(action, "confirmed")
    logger.info("change %s of case %s confirmed by Kore", action.pk, action.case_id)
    return ActionResult(action=action, claimed=True, then=next_of_case(action))


def confirm_as_found(action: CaseAction, *, note: str) -> ActionResult:
    """A read back after a lost answer found the change made: confirmed, nothing sent again.
    (The case as Kore listed it was applied by the read back itself.)"""
    if not _write(
        action,
        state=State.CONFIRMED,
        settled_at=timezone.now(),
        last_error=note,
        sending_started_at=None,
        next_attempt_at=None,
        lookup_required=False,
    ):
        return ActionResult(action=action, claimed=False)
    _audit(action, "confirmed", note=note)
    return ActionResult(action=action, claimed=True, then=next_of_case(action))


def supersede(action: CaseAction, *, reason: str) -> ActionResult:
    """Kore changed the case after this change was asked (or sent) and does not show it: it is
    not sent (again), so Kore's newer change stands."""
    if not _write(
        action,
        state=State.SUPERSEDED,
        settled_at=timezone.now(),
        last_error=reason[:4000],
        sending_started_at=None,
        next_attempt_at=None,
        lookup_required=False,
    ):
        return ActionResult(action=action, claimed=False)
    _audit(action, "superseded", reason=reason[:300])
    logger.info("change %s of case %s superseded: %s", action.pk, action.case_id, reason)
    return ActionResult(action=action, claimed=True, then=next_of_case(action))


def failure(action: CaseAction, exc: KoreError, *, looking_up: bool = False) -> ActionResult:
    """A call that did not settle the change: refused for good, failed, or retried later."""
    common = {"sending_started_at": None, "http_status": exc.status, "response_body": exc.body}
    number = action.attempt_count + 1
    too_old = timezone.now() - action.created_at > timedelta(seconds=settings.KORE_MAX_AGE_SECONDS)
    if exc.permanent and not looking_up:
        refused = isinstance(exc, KoreRefused)
        state = State.REFUSED if refused else State.FAILED
        if isinstance(exc, KoreAuthError | KoreHostRefused):
            message = f"Kore refused the portal's credentials or host: {exc.message}"
        else:
            message = exc.message
        if not _write(action, state=state, settled_at=timezone.now(), last_error=message[:4000], **common):
            return ActionResult(action=action, claimed=False)
        _audit(action, "refused" if refused else "failed", reason=message[:300])
        return ActionResult(action=action, claimed=True, then=next_of_case(action))
    lookup = action.lookup_required or exc.ambiguous
    if number >= settings.KORE_MAX_ATTEMPTS or too_old or (exc.permanent and looking_up):
        reason = "the maximum age" if too_old else f"{number} attempts"
        message = f"Gave up after {reason}. Last error: {exc.message}"
        if lookup:
            message += " The change may have reached Kore: Refresh from Kore shows the case as Kore has it."
        if not _write(
            action, state=State.FAILED, settled_at=timezone.now(), last_error=message[:4000], **common
        ):
            return ActionResult(action=action, claimed=False)
        _audit(action, "failed", reason=message[:300])
        return ActionResult(action=action, claimed=True, then=next_of_case(action))
    delay = retry_delay(number, retry_after=exc.retry_after)
    if not _write(
        action,
        state=State.RETRYING,
        last_error=exc.message[:4000],
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        lookup_required=lookup,
        **common,
    ):
        return ActionResult(action=action, claimed=False)
    logger.info("change %s of case %s: %s; retrying in %.1f s", action.pk, action.case_id, exc.message, delay)
    return ActionResult(action=action, claimed=True, retry_in=delay)


def release(action: CaseAction, *, lookup_done: bool = False) -> ActionResult:
    """Give a claimed change back, unsent, to be picked up again at once (its slot was spent,
    or came too late). ``lookup_done``: a read back found it safe to send again."""
    give_back(action, **({"lookup_required": False} if lookup_done else {}))
    return ActionResult(action=action, claimed=False, retry_in=0)
