"""Finding a case at Kore by what we sent, when Kore's answer to createCase was lost.

Kore has no fetch by id and no idempotency key; getCases is the only way to ask. Its documented
filters are loose (``searchText`` matches "name or title", and the docs do not say which date
``startDate``/``endDate`` filter on), its paging keys are not documented, and its answers carry
neither the requester's phone nor, reliably, the user id we sent. So this module:

- asks broadly (the title, and a date range wide enough for any reading of the date filters),
  and, before "none found" is believed, again without ``searchText``: a search that matches
  too little (escaping, truncation) must not make a lost case look absent,
- reads every page (cases/kore/paging.py),
- decides on our side: same title, created in the window, nothing Kore echoes contradicting us.

What to do with the candidates is the delivery workflow's decision (cases/delivery/reconcile.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cases.kore.dates import format_kore_datetime, parse_kore_datetime

# --- The case we are looking for -------------------------------------------------------


@dataclass(frozen=True)
class SentCase:
    """What the portal sent, and when it may have reached Kore."""

    body: dict
    template_id: str
    template_name: str  # the portal's name for it, as an administrator typed it
    sent_from: datetime  # the earliest send that may have reached Kore
    sent_until: datetime  # now: nothing later can be ours
    template_kore_name: str = ""  # Kore's own name for it, as its createCase answers said

    @property
    def title(self) -> str:
        return str(self.body.get("name") or "")


def lookup_filters(sent: SentCase, *, margin: timedelta, search: bool = True) -> dict:
    """getCases filters that find the case under any reading of Kore's date filters.

    The range holds the window of creation (and so of any update since), and the due date we
    sent, in case ``startDate``/``endDate`` filter on that. ``search=False`` leaves out
    ``searchText``: every case of the range, for when Kore's search may match too little.
    """
    moments = [sent.sent_from, sent.sent_until]
    due = parse_kore_datetime(sent.body.get("dueDate"))
    if due is not None:
        moments.append(due)
    dates = {
        "startDate": format_kore_datetime(min(moments) - margin),
        "endDate": format_kore_datetime(max(moments) + margin),
    }
    return {"searchText": sent.title, **dates} if search else dates


def _words(text: Any) -> str:
    return " ".join(str(text or "").split())


def same_title(found: Any, sent: Any) -> bool:
    """Titles are the same when their words are (Kore may tidy whitespace)."""
    return _words(found) == _words(sent)


def is_candidate(found: dict, sent: SentCase, *, margin: timedelta) -> bool:
    """The same title, and created in the window of the send (when Kore says when)."""
    if not same_title(found.get("name"), sent.title):
        return False
    created = parse_kore_datetime(found.get("createdAt"))
    if created is None:
        return True  # nothing rules it out: treat it as possibly ours
    return sent.sent_from - margin <= created <= sent.sent_until + margin


def contradictions(found: dict, sent: SentCase) -> list[str]:
    """What Kore echoes that does not fit what we sent. Only what Kore returns is compared:
    no phone number (never echoed), and not the user id (Kore may answer its own ``u-…``)."""
    problems = []
    template = found.get("caseTmp")
    if isinstance(template, str) and template.strip():
        # Kore answers its own name for the template (recorded from its createCase answers);
        # the id, and the name the portal's administrator typed, are accepted too.
        names = (sent.template_id, sent.template_kore_name, sent.template_name)
        known = {_words(name).casefold() for name in names if _words(name)}
        if _words(template).casefold() not in known:
            problems.append(f"template {template!r}")
    user = found.get("userInfo") if isinstance(found.get("userInfo"), dict) else {}
    found_email = _words(user.get("emailId") or found.get("emailId")).casefold()
    sent_email = _words(sent.body.get("emailId")).casefold()
    if found_email and sent_email and found_email != sent_email:
        problems.append(f"email {found_email}")
    found_source = _words(found.get("source")).casefold()
    sent_source = _words(sent.body.get("source")).casefold()
    if found_source and sent_source and found_source != sent_source:
        problems.append(f"source {found_source}")
    return problems
