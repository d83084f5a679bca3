"""After an answer was lost: find out whether Kore created the case before sending it again.

The rule (docs/delivery.md, "No duplicates"):

- Look up every case Kore lists for the title, in a date range around the sends that may have
  reached it (cases/kore/lookup.py), page after page, each page in its own pacing slot, up to
  ``KORE_LOOKUP_MAX_PAGES``.
- A candidate has the same title, was created in the window, and is not already the record of
  another of the portal's submissions.
- No candidate: safe to send again. Exactly one that nothing Kore echoes contradicts: adopted.
- Anything else (several, a contradiction, the bound reached, a look-up Kore refuses, a stream
  without ``accountId``) holds the case in ``needs_review``: nothing is sent until a person
  chooses **Adopt** (one of the listed candidates) or **Send anyway**.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cases.delivery import fair
from cases.delivery.outcomes import (
    DeliveryResult,
    finish_failure,
    hold_for_review,
    record_delivery,
    record_failure,
    release,
    write_outcome,
)
from cases.kore.answers import parse_case
from cases.kore.client import KoreClient
from cases.kore.errors import KoreError
from cases.kore.lookup import SentCase, contradictions, is_candidate, lookup_filters
from cases.kore.paging import read_all_pages
from cases.models import Case, CaseChange, DeliveryAttempt

State = Case.State
Outcome = DeliveryAttempt.Outcome
MAX_KEPT_CANDIDATES = 20
NO_ACCOUNT_ID = (
    "An earlier request may have created this case at Kore, but the stream has no account id, which "
    "Kore requires to look cases up. Check Kore for the case, then adopt it or send anyway; set the "
    "stream's account id so that the portal can check by itself next time."
)


class _NoSlot(Exception):
    """No pacing slot came in time for the next page: try the look-up again later."""


def sent_case(case: Case) -> SentCase:
    """What was sent, and the window in which it may have reached Kore: from the earliest attempt
    that got no answer (or, failing any, the submission itself) until now."""
    first_unanswered = case.attempts.filter(ambiguous=True).order_by("started_at").first()
    since = first_unanswered.started_at if first_unanswered else case.created_at
    template = case.template
    return SentCase(
        body=case.request_body,
        template_id=template.template_id if template else str(case.request_body.get("caseTmp") or ""),
        template_name=template.name if template else "",
        sent_from=min(since, case.created_at),
        sent_until=timezone.now(),
    )


def look_up_before_sending(case: Case, client: KoreClient, *, limit: int) -> DeliveryResult | None:
    """Settle a claimed case whose last request may have created it at Kore.

    Returns the result when the matter is settled (adopted, held for review, or the look-up
    itself failed and was recorded), None when Kore has no such case and it is safe to send.
    ``limit`` is the account's pacing limit; the first page uses the slot the caller holds.
    """
    stream = case.stream
    if not stream.account_id:
        return hold_for_review(case, reason=NO_ACCOUNT_ID)
    started = timezone.now()
    sent = sent_case(case)
    margin = timedelta(seconds=settings.KORE_LOOKUP_MARGIN_SECONDS)
    pages = 0

    def fetch(query: dict) -> dict:
        nonlocal pages
        # The first page uses the slot the caller holds; each later page waits for its own.
        wait = settings.KORE_PACING_HORIZON_SECONDS * 4
        if pages and limit:
            slot = fair.wait_for_turn(stream, fair.share_of_case(case), limit=limit, give_up_after=wait)
            if slot is None:
                raise _NoSlot
            time.sleep(slot.wait())
        pages += 1
        # Still alive: the sweep takes back only sends that stopped moving.
        Case.objects.filter(pk=case.pk, state=State.SENDING).update(sending_started_at=timezone.now())
        return client.get_cases(query)

    try:
        reading = read_all_pages(
            fetch,
            lookup_filters(sent, margin=margin),
            max_pages=settings.KORE_LOOKUP_MAX_PAGES,
            page_size=settings.KORE_LOOKUP_PAGE_SIZE,
        )
    except _NoSlot:
        return release(case)
    except KoreError as exc:
        exc.message = f"Looking the case up at Kore failed: {exc.message}"
        if exc.permanent:
            # Kore refuses the look-up itself (credentials, a filter it rejects): the case may
            # still exist there, so a person decides.
            return finish_failure(
                case,
                exc=exc,
                started=started,
                outcome=Outcome.LOOKED_UP,
                error=exc.message,
                state=State.NEEDS_REVIEW,
            )
        return record_failure(case, exc, started=started)

    found = [item for item in reading.cases if is_candidate(item, sent, margin=margin)]
    # A case already imported by the sync (made at Kore, as far as it could tell) stays a
    # candidate: adopting it folds that record into this submission's.
    held = set(
        Case.objects.filter(kore_id__in=[item.get("_id") for item in found], origin=Case.Origin.PORTAL)
        .exclude(pk=case.pk)
        .values_list("kore_id", flat=True)
    )
    candidates = [item for item in found if item.get("_id") not in held]
    kept = candidates[:MAX_KEPT_CANDIDATES]
    looked = f"{len(reading.cases)} case(s) with this title looked up on {reading.pages} page(s)"

    def review(reason: str) -> DeliveryResult:
        return finish_failure(
            case, started=started, outcome=Outcome.LOOKED_UP, error=f"{reason} ({looked}.)",
            state=State.NEEDS_REVIEW, candidates=kept, http_status=200,
        )  # fmt: skip

    if not reading.complete:
        return review(
            f"Kore lists more than {reading.pages} page(s) of cases with this title, the most the portal "
            "reads: check Kore for this case, then adopt it or send anyway."
        )
    if not candidates:
        attempt = DeliveryAttempt(
            case=case, started_at=started, outcome=Outcome.LOOKED_UP, http_status=200,
            duration_ms=int((timezone.now() - started).total_seconds() * 1000),
            error=f"No Kore case is this submission ({looked}): sending it again.",
        )  # fmt: skip
        write_outcome(case, attempt, lookup_required=False, review_candidates=[])
        return None
    if len(candidates) == 1:
        problems = contradictions(candidates[0], sent)
        if not problems:
            note = f"Exactly one Kore case is this submission ({looked})."
            return adopt(case, candidates[0], started=started, note=note)
        ref = candidates[0].get("refId") or candidates[0].get("_id")
        return review(
            f"{ref} has this title, but Kore answers a different {', '.join(problems)}: check it, "
            "then adopt it or send anyway."
        )
    refs = ", ".join(str(item.get("refId") or item.get("_id")) for item in candidates)
    return review(f"Several Kore cases match this submission ({refs}): adopt the right one, or send anyway.")


def case_adopt(*, case: Case, kore_id: str) -> bool:
    """A person's decision on a case in review: this candidate is the submission's case.

    Only a case in ``needs_review``, and only one of the candidates its look-up listed.
    """
    chosen = next((item for item in case.review_candidates or [] if item.get("_id") == kore_id), None)
    if chosen is None:
        return False
    now = timezone.now()
    claimed = Case.objects.filter(pk=case.pk, state=State.NEEDS_REVIEW).update(
        state=State.SENDING, sending_started_at=now, updated_at=now
    )
    if not claimed:
        return False
    case.refresh_from_db()
    result = adopt(case, chosen, started=now, note="Adopted after review.")
    return result.case.state == State.DELIVERED


def adopt(case: Case, found: dict, *, started, note: str) -> DeliveryResult:
    """Record ``found`` as this submission's Kore case. When the sync had imported it already
    (as made at Kore), that record's history moves onto the submission's and the record goes:
    one Kore case, one record, and the submission keeps its id and attempts."""
    kore_case = parse_case(found)
    with transaction.atomic():
        imported = (
            Case.objects.filter(kore_id=kore_case.kore_id, origin=Case.Origin.KORE)
            .exclude(pk=case.pk)
            .first()
        )
        if imported is not None:
            CaseChange.objects.filter(case=imported).update(case=case)
            imported.delete()
            note = f"{note} The sync had imported it as made at Kore; that record was folded into this one."
        # Nothing else holds its Kore id (candidates exclude the portal's other records), so
        # the record is written: the folded record cannot come back.
        return record_delivery(case, kore_case, started=started, outcome=Outcome.ADOPTED, note=note)
