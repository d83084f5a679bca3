"""After an answer was lost: find out whether Kore created the case before sending it again.

The rule (docs/delivery.md, "No duplicates"):

- The window runs from the earliest attempt that got no answer (the submission itself, when no
  attempt is recorded as unanswered) until now.
- Look up every case Kore lists for the title, in a date range around that window
  (cases/kore/lookup.py), page after page, each page in its own pacing slot, up to
  ``KORE_LOOKUP_MAX_PAGES``.
- A candidate has the same title, was created in the window, and is not already the record of
  another of the portal's submissions.
- No candidate for the title search is not yet believed: the range is read again without
  ``searchText``, bounded the same way, in case Kore's search matches too little.
- No candidate either way: safe to send again. Exactly one that nothing Kore echoes
  contradicts: adopted (cases/delivery/adoption.py).
- Anything else (several, a contradiction, a bound reached, a look-up Kore refuses, a stream
  without ``accountId``) holds the case in ``needs_review``: nothing is sent until a person
  chooses **Adopt** (a listed candidate, or a refId found at Kore, which is verified here),
  **Look up again** (cases/delivery/actions.py) or **Send anyway**.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from cases.delivery import fair, pacing
from cases.delivery.adoption import adopt
from cases.delivery.outcomes import (
    DeliveryResult,
    finish_failure,
    hold_for_review,
    in_slot,
    record_failure,
    release,
    write_outcome,
)
from cases.kore.client import KoreClient
from cases.kore.errors import KoreError
from cases.kore.lookup import SentCase, contradictions, is_candidate, lookup_filters, same_title
from cases.kore.paging import PagedRead
from cases.models import Case, DeliveryAttempt

State = Case.State
Outcome = DeliveryAttempt.Outcome
MAX_KEPT_CANDIDATES = 20
NO_ACCOUNT_ID = (
    "An earlier request may have created this case at Kore, but the stream has no account id, which "
    "Kore requires to look cases up. Set the stream's account id, then look up again or adopt the "
    "case by the refId Kore shows; send anyway only if Kore has no such case."
)


class NoSlot(Exception):
    """No pacing slot came in time for the next page (or it was over on waking): try later."""


def sent_case(case: Case) -> SentCase:
    """What was sent, and the window in which it may have reached Kore: from the earliest attempt
    that got no answer until now. Every send that may have reached Kore unanswered is recorded as
    such an attempt, dated when it started (the sweep dates a dead worker's when it was claimed);
    with none recorded, the window starts at the submission."""
    first_unanswered = case.attempts.filter(ambiguous=True).order_by("started_at").first()
    template = case.template
    return SentCase(
        body=case.request_body,
        template_id=template.template_id if template else str(case.request_body.get("caseTmp") or ""),
        template_name=template.name if template else "",
        template_kore_name=template.kore_name if template else "",
        sent_from=first_unanswered.started_at if first_unanswered else case.created_at,
        sent_until=timezone.now(),
    )


@dataclass
class PacedLookUp:
    """getCases calls for one case, each in its own turn at the account's rate limit.

    ``holds_slot``: the caller holds a slot already, and the first call uses it. ``share``: whose
    turn the calls take (by default the case delivery's: its API client's, import's or people's).
    A call whose slot does not come within ``give_up_after`` seconds, or is over by the time it
    starts (the same in-slot check every deliverer makes), raises ``NoSlot`` rather than call late.
    """

    case: Case
    client: KoreClient
    limit: int
    holds_slot: bool = False
    share: fair.Share | None = None
    give_up_after: float = field(default_factory=lambda: settings.KORE_PACING_HORIZON_SECONDS)
    calls: int = 0

    def fetch(self, query: dict) -> dict:
        if self.limit and (self.calls or not self.holds_slot):
            share = self.share or fair.share_of_case(self.case)
            slot = fair.wait_for_turn(
                self.case.stream, share, limit=self.limit, give_up_after=self.give_up_after
            )
            if slot is None or not in_slot(slot):
                raise NoSlot
        self.calls += 1
        # Still alive: the sweep takes back only sends that stopped moving.
        Case.objects.filter(pk=self.case.pk, state=State.SENDING).update(sending_started_at=timezone.now())
        return self.client.get_cases(query)

    def read(self, sent: SentCase, *, search: bool) -> PagedRead:
        """The window's cases, page by page: with ``searchText`` the title, or without it."""
        margin = timedelta(seconds=settings.KORE_LOOKUP_MARGIN_SECONDS)
        return PagedRead(
            self.fetch,
            lookup_filters(sent, margin=margin, search=search),
            max_pages=settings.KORE_LOOKUP_MAX_PAGES,
            page_size=settings.KORE_LOOKUP_PAGE_SIZE,
        )


def held_elsewhere(case: Case, kore_ids: list) -> set:
    """The Kore ids among ``kore_ids`` that another of the portal's submissions holds. A case the
    sync imported (made at Kore, as far as it could tell) is no submission: adopting it folds
    that record into this one."""
    return set(
        Case.objects.filter(kore_id__in=kore_ids, origin=Case.Origin.PORTAL)
        .exclude(pk=case.pk)
        .values_list("kore_id", flat=True)
    )


@dataclass
class Looked:
    """One reading of the window: its candidates, and whether it reached the last page."""

    searched: bool
    candidates: list[dict]
    cases: int
    pages: int
    complete: bool

    def __str__(self) -> str:
        listed = "with this title" if self.searched else "in the window, asked without searchText"
        return f"{self.cases} case(s) {listed} read on {self.pages} page(s)"


def look_in_window(case: Case, lookup: PacedLookUp, sent: SentCase, *, search: bool) -> Looked:
    margin = timedelta(seconds=settings.KORE_LOOKUP_MARGIN_SECONDS)
    read = lookup.read(sent, search=search)
    cases = [item for page in read for item in page]
    found = [item for item in cases if is_candidate(item, sent, margin=margin)]
    held = held_elsewhere(case, [item.get("_id") for item in found])
    candidates = [item for item in found if item.get("_id") not in held]
    return Looked(search, candidates, cases=len(cases), pages=read.pages, complete=read.complete)


def look_up_before_sending(case: Case, client: KoreClient, *, limit: int) -> DeliveryResult | None:
    """Settle a claimed case whose last request may have created it at Kore.

    Returns the result when the matter is settled (adopted, held for review, or the look-up
    itself failed and was recorded), None when Kore has no such case and it is safe to send.
    ``limit`` is the account's pacing limit; the first page uses the slot the caller holds.
    """
    if not case.stream.account_id:
        return hold_for_review(case, reason=NO_ACCOUNT_ID)
    started = timezone.now()
    sent = sent_case(case)
    lookup = PacedLookUp(
        case, client, limit=limit, holds_slot=True, give_up_after=settings.KORE_PACING_HORIZON_SECONDS * 4
    )
    readings: list[Looked] = []
    try:
        # The title first (few pages); only when it finds no candidate, the whole window.
        for search in (True, False):
            readings.append(look_in_window(case, lookup, sent, search=search))
            if readings[-1].candidates or not readings[-1].complete:
                break
    except NoSlot:
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

    looked = readings[-1]
    candidates = looked.candidates
    summary = "; ".join(str(reading) for reading in readings)

    def review(reason: str) -> DeliveryResult:
        return finish_failure(
            case, started=started, outcome=Outcome.LOOKED_UP, error=f"{reason} ({summary}.)",
            state=State.NEEDS_REVIEW, candidates=candidates[:MAX_KEPT_CANDIDATES], http_status=200,
        )  # fmt: skip

    if not looked.complete:
        listed = "cases with this title" if looked.searched else "cases in the window (its search finds none)"
        return review(
            f"Kore lists more than {looked.pages} page(s) of {listed}, the most the portal reads: check "
            "Kore for this case, then adopt it by its refId or send anyway."
        )
    if not candidates:
        attempt = DeliveryAttempt(
            case=case, started_at=started, outcome=Outcome.LOOKED_UP, http_status=200,
            duration_ms=int((timezone.now() - started).total_seconds() * 1000),
            error=f"No Kore case is this submission ({summary}): sending it again.",
        )  # fmt: skip
        write_outcome(case, attempt, lookup_required=False, review_candidates=[])
        return None
    if len(candidates) == 1:
        problems = contradictions(candidates[0], sent)
        if not problems:
            note = f"Exactly one Kore case is this submission ({summary})."
            return adopt(case, candidates[0], started=started, note=note)
        ref = candidates[0].get("refId") or candidates[0].get("_id")
        return review(
            f"{ref} has this title, but Kore answers a different {', '.join(problems)}: check it, "
            "then adopt it or send anyway."
        )
    refs = ", ".join(str(item.get("refId") or item.get("_id")) for item in candidates)
    return review(f"Several Kore cases match this submission ({refs}): adopt the right one, or send anyway.")


def _claim_and_adopt(case: Case, found: dict, *, note: str) -> bool:
    """Adopt ``found`` for a case still in review; False when someone decided meanwhile."""
    now = timezone.now()
    claimed = Case.objects.filter(pk=case.pk, state=State.NEEDS_REVIEW).update(
        state=State.SENDING, sending_started_at=now, updated_at=now
    )
    if not claimed:
        return False
    case.refresh_from_db()
    return adopt(case, found, started=now, note=note).case.state == State.DELIVERED


def case_adopt(*, case: Case, kore_id: str) -> bool:
    """A person's decision on a case in review: this candidate is the submission's case.

    Only a case in ``needs_review``, and only one of the candidates its look-up listed.
    """
    chosen = next((item for item in case.review_candidates or [] if item.get("_id") == kore_id), None)
    if chosen is None:
        return False
    return _claim_and_adopt(case, chosen, note="Adopted after review.")


@dataclass(frozen=True)
class Decision:
    """A person's decision, done or refused, and what to tell them."""

    done: bool
    message: str


def find_ref(lookup: PacedLookUp, sent: SentCase, ref_id: str) -> tuple[dict | None, PagedRead]:
    """The case Kore lists as ``ref_id`` in the window (searchText matches no refId: the title
    search first, then the window without it), matched on the portal's side."""
    wanted = ref_id.casefold()
    for search in (True, False):
        read = lookup.read(sent, search=search)
        for page in read:
            for item in page:
                if str(item.get("refId") or "").strip().casefold() == wanted:
                    return item, read
    return None, read


def case_adopt_ref(*, case: Case, ref_id: str) -> Decision:
    """A person's decision on a case in review: the Kore case they found as ``ref_id`` is the
    submission's. For when no candidate is listed (no account id when it was looked up, the page
    bound reached) or the listed ones are not it.

    Verified before anything is written, with the look-up's own bounded, paced reading of the
    window: the case must be listed there, have this submission's title, have been created in
    the window, and be no other submission's record.
    """
    ref = ref_id.strip()
    if case.state != State.NEEDS_REVIEW:
        return Decision(False, "Only a case in review can adopt a Kore case.")
    if not ref or len(ref) > 60:
        return Decision(False, "Enter the refId Kore shows for the case, such as CS00001234.")
    if not case.stream.account_id:
        return Decision(
            False,
            "The stream has no account id, which Kore requires to look cases up, so the portal cannot "
            f"check {ref}: set the stream's account id first.",
        )
    sent = sent_case(case)
    client = KoreClient(case.stream.kore_config())
    # A person is waiting for the answer: people's turn at the rate limit.
    lookup = PacedLookUp(case, client, limit=pacing.account_limit(case.stream), share=fair.PEOPLE)
    try:
        found, read = find_ref(lookup, sent, ref)
    except NoSlot:
        return Decision(False, f"Kore's rate limit leaves no turn to check {ref} now: try again in a minute.")
    except KoreError as exc:
        return Decision(False, f"Kore could not be asked about {ref}: {exc.message}")
    if found is None:
        bound = "" if read.complete else ", the most the portal reads"
        return Decision(
            False,
            f"Kore lists no case {ref} among the cases of this submission's window ({read.pages} page(s) "
            f"read{bound}): check the refId.",
        )
    ref = str(found.get("refId") or ref).strip()  # as Kore writes it
    if not same_title(found.get("name"), sent.title):
        return Decision(False, f"{ref} is titled “{found.get('name')}”, not this submission's title.")
    if not is_candidate(found, sent, margin=timedelta(seconds=settings.KORE_LOOKUP_MARGIN_SECONDS)):
        return Decision(False, f"{ref} was created at Kore outside the window of this submission's sends.")
    if held_elsewhere(case, [found.get("_id")]):
        return Decision(False, f"{ref} is already another submission's record: it cannot be this one's too.")
    note = f"Adopted {ref} after review: a person found it at Kore, and Kore lists it in the window."
    if not _claim_and_adopt(case, found, note=note):
        case.refresh_from_db()
        return Decision(
            False,
            case.last_error
            if case.state == State.NEEDS_REVIEW
            else "Someone decided on this case meanwhile.",
        )
    return Decision(True, f"Adopted {ref}: this submission is that Kore case.")
