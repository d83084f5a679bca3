"""Delivering one change (updateCase or updateTask) to Kore with the rules of case delivery
(docs/delivery.md): a fair turn at the rate limit, one claim, backoff on a passing failure, and
after a lost answer a read back before anything is sent again. Changes of one case go in the
order they were asked. A change is never sent over a newer change made at Kore:

- before sending, when the portal has seen Kore change the same field since the person looked
  (the case's history, as the sync, a refresh or a read saw it), it is *superseded*;
- after a lost answer, the case (or task) is read back: when it shows the change, it is
  *confirmed*; when Kore's ``updatedAt`` moved past what the portal knew at the send and the
  change is not there, someone changed it at Kore, and it is *superseded*; when nothing moved,
  the request never took effect and it is sent again. A change whose keys Kore does not list
  (tags, fields, a task's description) can be neither seen nor missed: sent again only when
  ``updatedAt`` did not move, else *superseded* (the portal cannot tell whether it was made).

No HTTP call happens inside an open transaction.
"""

from __future__ import annotations

from django.utils import timezone

from cases.actions import readback, settle
from cases.actions.apply import apply_case_as_listed, apply_task_answer
from cases.actions.conflicts import changed_at_kore
from cases.actions.settle import ActionResult
from cases.delivery import fair
from cases.delivery.outcomes import claim, in_slot, may_be_claimed, take_turn
from cases.kore.changes import case_shows, task_shows
from cases.kore.client import KoreClient
from cases.kore.dates import parse_kore_datetime
from cases.kore.errors import KoreError
from cases.models import CaseAction

State = CaseAction.State


def share_of_action(action: CaseAction) -> fair.Share:
    if action.api_client_id:
        return fair.Share.api(action.api_client)
    if action.bulk_id:
        return fair.BULK
    return fair.PEOPLE


def action_deliver(
    *, action_id: int, action: CaseAction | None = None, claimed: bool = False, record_later: bool = False
) -> ActionResult:
    """Deliver one change, recording the outcome on its row (see the module docstring).

    A caller that stored the change already claimed (``changes.case_change_submit(claimed=True)``,
    unpaced streams) passes it in and says so. With ``record_later``, Kore's taking the change
    is returned unrecorded (``result.answer``, the row still ``sending``): the gateway hands
    Kore's answer to its caller first, then records it with ``settle.confirm``.
    """
    if action is None:
        action = (
            CaseAction.objects.select_related("case__stream", "task", "api_client")
            .filter(pk=action_id)
            .first()
        )
    if action is None:
        return ActionResult(action=None, claimed=False)
    if claimed:
        return _send(action, slot=None, limit=0, record_later=record_later)
    if not may_be_claimed(action) or _waits_for_earlier(action):
        # Settled, in flight elsewhere, not due, or behind an earlier change of the case (which
        # sends this one on when it settles).
        return ActionResult(action=action, claimed=False)
    turn = take_turn(action, action.case.stream, share_of_action(action))
    if turn.retry_in is not None:
        return ActionResult(action=action, claimed=False, retry_in=turn.retry_in)
    if not _claim(action):
        action.refresh_from_db()
        return ActionResult(action=action, claimed=False)
    return _send(action, slot=turn.slot, limit=turn.limit, record_later=record_later)


def _waits_for_earlier(action: CaseAction) -> bool:
    """An earlier change of the same case is still pending: it goes first. (Monotone: once the
    earlier ones settle they stay settled, and no earlier one can appear.)"""
    return CaseAction.objects.filter(
        case_id=action.case_id, pk__lt=action.pk, state__in=CaseAction.PENDING_STATES
    ).exists()


def _claim(action: CaseAction) -> bool:
    """Claim the change, noting what the portal knows of the case (or task) now: after a lost
    answer, a newer ``updatedAt`` at Kore means someone else changed it."""
    return claim(action, sent_based_on=_known_updated_at(action))


def _known_updated_at(action: CaseAction):
    target = action.task if action.task_id else action.case
    return target.kore_updated_at


def changed_at_kore_since_asked(action: CaseAction) -> list[str]:
    """The fields of this change that Kore changed after the person looked (as the portal saw)."""
    if action.task_id:
        return []
    known = action.case.kore_updated_at
    if action.based_on is not None and (known is None or known <= action.based_on):
        return []  # the portal has seen no change at Kore since: nothing to ask the history
    return changed_at_kore(action.case_id, action.body, since=action.based_on, seen_after=action.created_at)


def _send(action: CaseAction, *, slot, limit: int, record_later: bool = False) -> ActionResult:
    if not in_slot(slot):
        return settle.release(action)
    newer = changed_at_kore_since_asked(action)
    if newer:
        return settle.supersede(
            action,
            reason=f"Kore changed {', '.join(newer).lower()} after this change was asked: it was not sent, "
            "so Kore's newer change stands. Change it again if it is still needed.",
        )
    client = KoreClient(action.case.stream.kore_config())
    if action.lookup_required:
        return _read_back_first(action, client, limit=limit, record_later=record_later)
    try:
        if action.task_id:
            answer = client.update_task(action.task.kore_id, action.body)
        else:
            answer = client.update_case(action.case.kore_id, action.body)
    except KoreError as exc:
        return settle.failure(action, exc)
    if record_later:
        return ActionResult(action=action, claimed=True, answer=answer)
    return settle.confirm(action, answer)


def _read_back_first(
    action: CaseAction, client: KoreClient, *, limit: int, record_later: bool = False
) -> ActionResult:
    """After a lost answer: confirm, supersede, or (nothing moved at Kore) send again."""
    fetch = readback.paced_fetch(
        action.case.stream,
        share_of_action(action),
        limit=limit,
        read=client.get_tasks if action.task_id else client.get_cases,
        still_sending=lambda: CaseAction.objects.filter(pk=action.pk, state=State.SENDING).update(
            sending_started_at=timezone.now()
        ),
    )
    try:
        if action.task_id:
            names = [action.body.get("name")] if isinstance(action.body.get("name"), str) else []
            found = readback.task_back(action.task, fetch, names=names)
        else:
            found = readback.case_back(action, fetch)
    except readback.NoTurn:
        return settle.release(action)
    except KoreError as exc:
        exc.message = (
            f"Reading the {'task' if action.task_id else 'case'} back from Kore failed: {exc.message}"
        )
        return settle.failure(action, exc, looking_up=True)
    if found is None:
        exc = KoreError(
            "Kore did not list the case by its title and dates, so the portal cannot tell whether the "
            "change was made; it will look again.",
            ambiguous=True,
        )
        return settle.failure(action, exc, looking_up=True)
    shows = task_shows(found, action.body) if action.task_id else case_shows(found, action.body)
    if action.task_id:
        apply_task_answer(action.task, found)
    else:
        apply_case_as_listed(action.case, found, source="sync")
    if shows:
        return settle.confirm_as_found(action, note="Kore shows the change: the lost request had made it.")
    at_kore = parse_kore_datetime(found.get("updatedAt"))
    base = action.sent_based_on or action.based_on
    moved = at_kore is not None and (base is None or at_kore > base)
    what = "task" if action.task_id else "case"
    if shows is None and (moved or at_kore is None):
        # Nothing of the change is in what Kore lists (tags, fields, a task's description…):
        # only an unmoved updatedAt says the lost request never took effect.
        since = (
            f"Kore changed the {what} after this change was sent"
            if moved
            else f"Kore lists no updatedAt for the {what}"
        )
        return settle.supersede(
            action,
            reason=f"{since}, and what it lists does not show {', '.join(sorted(action.body))}: the portal "
            "cannot tell whether the lost request made it, so it was not sent again and nothing at Kore "
            f"is overwritten. Check the {what} at Kore, and change it again if it is still needed.",
        )
    if moved:
        return settle.supersede(
            action,
            reason=f"Kore changed the {what} after this change was sent, and it does not show the change: "
            "it was not sent again, so Kore's newer change stands.",
        )
    # Nothing moved at Kore: the lost request never took effect. Send again, in a turn of its own.
    if limit:
        return settle.release(action, lookup_done=True)
    return _send_again(action, client, record_later=record_later)


def _send_again(action: CaseAction, client: KoreClient, *, record_later: bool) -> ActionResult:
    CaseAction.objects.filter(pk=action.pk).update(lookup_required=False)
    action.lookup_required = False
    return _send(action, slot=None, limit=0, record_later=record_later)
