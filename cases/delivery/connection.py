"""Can the portal deliver to a stream? Its host answers and its credentials are accepted."""

from __future__ import annotations

from dataclasses import dataclass

from cases.kore.client import KoreClient
from cases.kore.errors import KoreError
from cases.models import Stream

NO_ACCOUNT_ID = (
    "The stream has no account id. Kore requires it (the accountId header) to list cases, so the "
    "connection cannot be tested, and a case whose answer was lost cannot be looked up. Enter it on "
    "the stream (Kore's account settings show it)."
)


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str


def stream_check(*, stream: Stream) -> ConnectionCheck:
    """Does the host answer, and are the credentials accepted? Kore's own message when not."""
    if not stream.account_id:
        return ConnectionCheck(ok=False, message=NO_ACCOUNT_ID)
    try:
        message = KoreClient(stream.kore_config()).check_connection()
    except KoreError as exc:
        return ConnectionCheck(ok=False, message=exc.message)
    return ConnectionCheck(ok=True, message=message)
