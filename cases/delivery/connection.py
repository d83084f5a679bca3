"""Can the portal deliver to a stream? Its host answers and its credentials are accepted."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from cases.delivery import fair, pacing
from cases.kore.client import KoreClient
from cases.kore.errors import KoreError
from cases.models import Stream

NO_ACCOUNT_ID = (
    "The stream has no account id. Kore requires it (the accountId header) to list cases, so the "
    "connection cannot be tested, and a case whose answer was lost cannot be looked up. Enter it on "
    "the stream (Kore's account settings show it)."
)
NO_TURN = (
    "Kore's rate limit for this account is taken by the calls waiting now, so the connection was not "
    "tested (that would have passed the limit). Try again in a moment."
)


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str


def stream_check(*, stream: Stream) -> ConnectionCheck:
    """Does the host answer, and are the credentials accepted? Kore's own message when not.
    The check is a getCases: on a paced stream it waits for a people's turn at the account's
    limit like any other call, so testing never spends a slot someone else was owed."""
    if not stream.account_id:
        return ConnectionCheck(ok=False, message=NO_ACCOUNT_ID)
    limit = pacing.account_limit(stream)
    if limit:
        slot = fair.wait_for_turn(
            stream, fair.PEOPLE, limit=limit, give_up_after=settings.KORE_PACING_HORIZON_SECONDS * 2
        )
        if slot is None:
            return ConnectionCheck(ok=False, message=NO_TURN)
        time.sleep(slot.wait())
    try:
        message = KoreClient(stream.kore_config()).check_connection()
    except KoreError as exc:
        return ConnectionCheck(ok=False, message=exc.message)
    return ConnectionCheck(ok=True, message=message)
