"""Applying what Kore answered onto the local records, one page of cases at a time.

- **Never backwards.** A known case changes only when Kore's ``updatedAt`` is newer than the
  stored one; each changed field (title, description, status, priority, assignee, due date) leaves a
  ``CaseChange`` in the case's history.
- **Empty is missing.** A key that is absent or empty (``ETA: ""``, a priority without colour)
  never replaces a stored value; only Kore's explicit "unassigned" clears an assignee.
- **One Kore case, one record.** An unknown case that may be the answer to one of the portal's
  own submissions still being sent or looked up (same title, created while it was in flight)
  is left to delivery's reconciliation, never imported beside it.
- Cases made elsewhere are imported as made at Kore, dated by Kore's ``createdAt``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from cases.kore.answers import KoreCase, parse_case, priority_score
from cases.kore.errors import KoreMalformed
from cases.kore.lookup import same_title
from cases.models import Case, CaseChange, CaseTemplate, Stream
from cases.models.cases import fit_column
from cases.models.notify import (
    OWN_SOURCES,
    CaseEvent,
    case_event,
    record_case_events,
    record_changes,
)
from cases.models.sync import stream_is_told

logger = logging.getLogger(__name__)
State, Origin, Field = Case.State, Case.Origin, CaseChange.Field
# What a case takes from Kore's answers (_take_values), what is written every time, and what
# applying never reads.
TAKEN = (
    "name", "status_name", "status_category", "status_kore_id", "priority_name", "priority_color",
    "priority_score", "priority_kore_id", "assignee_name", "due_date", "desc", "requester_name",
    "requester_email",
)  # fmt: skip
ALWAYS_WRITTEN = ("kore_case", "kore_updated_at", "kore_seen_at", "kore_missing_since", "updated_at")
UNREAD = ("request_body", "review_candidates")


@dataclass
class Applied:
    """What applying some pages did."""

    seen: int = 0  # distinct cases read (when noting them seen)
    new: int = 0
    changed: int = 0
    left_to_delivery: int = 0
    # Of one page: known cases whose answer was no newer than the record (nothing in them is
    # news). Not added up: a pass's memory does not grow with the stream.
    not_newer: set[str] = field(default_factory=set)

    def add(self, other: Applied) -> None:
        self.seen += other.seen
        self.new += other.new
        self.changed += other.changed
        self.left_to_delivery += other.left_to_delivery


def _shown(case: Case, name: str) -> str:
    value = getattr(case, name)
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else str(value)


class CaseApplier:
    """Applies pages of Kore's cases for one stream; keeps what it needs across pages."""

    def __init__(self, stream: Stream, *, seen_at: datetime, source: str = "sync", note_seen: bool = True):
        """``note_seen``: note when each case was read (the sync's missing-case rule reads it);
        a read through the gateway answering one case leaves it, to stay cheap."""
        self.stream, self.seen_at, self.source, self.note_seen = stream, seen_at, source, note_seen
        self._templates: dict[str, CaseTemplate] | None = None
        self._fresh: dict[str, Case] = {}
        self._fresh_updated_at: dict[int, datetime | None] = {}

    @cached_property
    def tell(self) -> bool:
        """What the sync finds before a stream's first complete pass is not news: one summary
        instead (cases/sync/runs.py). Afterwards every change is an event for followers and
        webhooks, whoever reads it: a pass, a refresh, or a full re-read (which tells a case
        it finds that the portal did not know as made at Kore, as a pass would). A change the
        portal asked for and Kore confirmed is news whatever the sync has read."""
        if self.source in OWN_SOURCES:
            return True
        return stream_is_told(self.stream)

    @property
    def templates(self) -> dict[str, CaseTemplate]:
        """The stream's templates by id and name, read once, when a case made at Kore needs one."""
        if self._templates is None:
            self._templates = {}
            for template in CaseTemplate.objects.filter(stream=self.stream):
                self._templates.setdefault(template.template_id.casefold(), template)
                self._templates.setdefault(template.name.strip().casefold(), template)
        return self._templates

    def apply(self, raws: list[dict], *, known: dict[str, Case] | None = None) -> Applied:
        """Apply a page of Kore's cases. ``known``: cases (by Kore id) the caller has just read
        whole; each is written only if its row is still as read (else it is read again)."""
        result = Applied()
        found: list[KoreCase] = []
        for raw in raws:
            try:
                found.append(parse_case(raw))
            except KoreMalformed:
                logger.warning("sync: a case without _id in stream %s was skipped", self.stream.stream_id)
        if not found:
            return result
        self._fresh = dict(known or {})
        wanted = [f.kore_id for f in found if f.kore_id not in self._fresh]
        known = dict(self._fresh)
        if wanted:
            known.update(self._read_known(wanted, found))
        in_flight = self._submissions_in_flight() if len(known) < len(found) else []
        untouched, new = [], []
        for kore_case in found:
            case = known.get(kore_case.kore_id)
            if case is None:
                if any(self._may_be(submission, kore_case) for submission in in_flight):
                    result.left_to_delivery += 1
                else:
                    new.append(self._made_at_kore(kore_case))
            elif case.state != State.DELIVERED:
                result.seen += 1  # still being delivered (or adopted): delivery writes it
            else:
                updated, changed = self._update(case, kore_case)
                result.changed += changed
                result.seen += updated
                if not updated:
                    untouched.append(case.pk)
                    result.not_newer.add(kore_case.kore_id)
        if untouched and self.note_seen:
            # Seen: marked once per pass (a case in two of its lists counts once), no list kept.
            result.seen += (
                Case.objects.filter(pk__in=untouched)
                .exclude(kore_seen_at=self.seen_at)
                .update(kore_seen_at=self.seen_at, kore_missing_since=None)
            )
        elif untouched:
            result.seen += len(untouched)
        inserted = self._insert(new)
        result.new += inserted
        result.seen += inserted
        return result

    def _read_known(self, wanted: list[str], found: list[KoreCase]) -> dict[str, Case]:
        """The portal's cases of these Kore ids: whole only where Kore's answer is newer (they
        are written); the others as rows of just what the page's loop reads of them, so that a
        page of unchanged cases neither decodes each stored Kore answer nor builds a model."""
        answered = {kore_case.kore_id: kore_case.kore_updated_at for kore_case in found}
        known = {
            case.kore_id: case
            for case in Case.objects.filter(kore_id__in=wanted)
            .values_list("pk", "kore_id", "state", "kore_updated_at", named=True)
            .order_by()
        }
        newer = [
            case.pk
            for case in known.values()
            if case.state == State.DELIVERED and is_newer(answered.get(case.kore_id), case.kore_updated_at)
        ]
        if newer:
            known.update((case.kore_id, case) for case in Case.objects.filter(pk__in=newer).defer(*UNREAD))
        return known

    # --- cases the portal does not know ---------------------------------------------------

    def _submissions_in_flight(self) -> list[Case]:
        """This stream's submissions whose request may have created a case Kore has answered
        about without the portal hearing (sending now, or waiting for a look-up or a person)."""
        return list(
            Case.objects.filter(stream=self.stream, kore_id__isnull=True, origin=Origin.PORTAL)
            .filter(Q(state__in=[State.SENDING, State.NEEDS_REVIEW]) | Q(lookup_required=True))
            .only("pk", "name", "created_at", "request_body")
        )

    def _may_be(self, submission: Case, kore_case: KoreCase) -> bool:
        title = (submission.request_body or {}).get("name") or submission.name
        if not same_title(kore_case.name, title):
            return False
        created = kore_case.kore_created_at
        margin = timedelta(seconds=settings.KORE_LOOKUP_MARGIN_SECONDS)
        return created is None or created >= submission.created_at - margin

    def _made_at_kore(self, kore_case: KoreCase) -> Case:
        created = kore_case.kore_created_at or self.seen_at
        template = self.templates.get(str(kore_case.raw.get("caseTmp") or "").strip().casefold())
        return Case(
            stream=self.stream,
            template=template,
            origin=Origin.KORE,
            state=State.DELIVERED,
            created_at=created,
            delivered_at=created,
            request_body={},
            name=fit_column("name", kore_case.name),
            desc=kore_case.desc,
            source=fit_column("source", kore_case.source),
            due_date=kore_case.due_date,
            requester_id=fit_column("requester_id", kore_case.requester_id),
            requester_name=fit_column("requester_name", kore_case.requester_name),
            requester_email=fit_column("requester_email", kore_case.requester_email),
            kore_id=kore_case.kore_id,
            ref_id=fit_column("ref_id", kore_case.ref_id),
            status_kore_id=kore_case.status_id,
            status_name=fit_column("status_name", kore_case.status_name),
            status_category=fit_column("status_category", kore_case.status_category),
            priority_kore_id=kore_case.priority_id,
            priority_name=fit_column("priority_name", kore_case.priority_name),
            priority_color=fit_column("priority_color", kore_case.priority_color),
            priority_score=priority_score(kore_case.raw),
            assignee_name=fit_column("assignee_name", kore_case.assignee_name),
            kore_created_at=kore_case.kore_created_at,
            kore_updated_at=kore_case.kore_updated_at,
            kore_case=kore_case.raw,
            kore_seen_at=self.seen_at,
        )

    def _insert(self, cases: list[Case]) -> int:
        """Insert cases made at Kore; one at a time only if a batch meets a case that delivery
        recorded meanwhile (the same Kore id)."""
        if not cases:
            return 0
        try:
            with transaction.atomic():
                Case.objects.bulk_create(cases)
                self._made_at_kore_events(cases)
            return len(cases)
        except IntegrityError:
            inserted = 0
            for case in cases:
                case.pk = None
                try:
                    with transaction.atomic():
                        case.save(force_insert=True)
                        self._made_at_kore_events([case])
                    inserted += 1
                except IntegrityError:
                    pass  # recorded by delivery a moment ago
            return inserted

    # --- cases the portal knows ----------------------------------------------------------

    def _update(self, case: Case, kore_case: KoreCase) -> tuple[bool, bool]:
        """Apply a newer answer: (written at all, a field people see changed)."""
        if not is_newer(kore_case.kore_updated_at, case.kore_updated_at):
            return False, False
        before = {
            name: _shown(case, name)
            for name in ("name", "desc", "status_name", "priority_name", "assignee_name", "due_date")
        }
        stored = {name: getattr(case, name) for name in TAKEN}
        self._fresh_updated_at[case.pk] = case.kore_updated_at
        self._take_values(case, kore_case)
        after = {name: _shown(case, name) for name in before}
        tracked = {"name": Field.NAME, "desc": Field.DESCRIPTION, "status_name": Field.STATUS,
                   "priority_name": Field.PRIORITY, "assignee_name": Field.ASSIGNEE,
                   "due_date": Field.DUE_DATE}  # fmt: skip
        changes = [
            CaseChange(
                case=case,
                field=tracked[name],
                old_value=before[name],
                new_value=after[name],
                changed_at=kore_case.kore_updated_at,
                seen_at=self.seen_at,
                source=self.source,
            )  # fmt: skip
            for name in tracked
            if before[name] != after[name]
        ]
        # Only what changed is written: the row keeps its body unread and unwritten, and the
        # word index and the kept counts are touched only when their columns change.
        written = [name for name in TAKEN if getattr(case, name) != stored[name]] + list(ALWAYS_WRITTEN)
        # No savepoint of its own when a caller's transaction holds this (a confirmed change).
        with transaction.atomic(savepoint=False):
            if case.kore_id in self._fresh:
                # Read by the caller, not here: written only if nobody wrote it since.
                values = {name: getattr(case, name) for name in written if name != "updated_at"}
                moved = Case.objects.filter(
                    pk=case.pk, kore_updated_at=self._fresh_updated_at[case.pk]
                ).update(**values, updated_at=timezone.now())
                if not moved:
                    self._fresh.pop(case.kore_id)
                    again = Case.objects.defer(*UNREAD).get(pk=case.pk)
                    return self._update(again, kore_case)
            else:
                case.save(update_fields=written)
            if changes:
                CaseChange.objects.bulk_create(changes)
                if self.tell:
                    record_changes(case, changes, stream=self.stream)
        return True, bool(changes)

    def _made_at_kore_events(self, cases: list[Case]) -> None:
        if self.tell:
            kind = CaseEvent.Kind.CREATED_AT_KORE
            record_case_events(case_event(kind, case, stream=self.stream) for case in cases)

    def _take_values(self, case: Case, kore_case: KoreCase) -> None:
        """Kore's values onto the case, except the empty ones (empty is missing)."""
        if kore_case.name:
            case.name = fit_column("name", kore_case.name)
        if kore_case.status_name:
            case.status_name = fit_column("status_name", kore_case.status_name)
            case.status_category = (
                fit_column("status_category", kore_case.status_category) or case.status_category
            )
            case.status_kore_id = kore_case.status_id or case.status_kore_id
        if kore_case.priority_name:
            case.priority_name = fit_column("priority_name", kore_case.priority_name)
            case.priority_color = (
                fit_column("priority_color", kore_case.priority_color) or case.priority_color
            )
            score = priority_score(kore_case.raw)
            case.priority_score = score if score is not None else case.priority_score
            case.priority_kore_id = kore_case.priority_id or case.priority_kore_id
        if kore_case.assignee_kind == "unassigned":
            case.assignee_name = ""
        elif kore_case.assignee_name:
            case.assignee_name = fit_column("assignee_name", kore_case.assignee_name)
        if kore_case.due_date is not None:
            case.due_date = kore_case.due_date
        if kore_case.desc:
            case.desc = kore_case.desc
        if kore_case.requester_name:
            case.requester_name = fit_column("requester_name", kore_case.requester_name)
        if kore_case.requester_email:
            case.requester_email = fit_column("requester_email", kore_case.requester_email)
        stored = case.kore_case if isinstance(case.kore_case, dict) else {}
        case.kore_case = {**stored, **{k: v for k, v in kore_case.raw.items() if v not in ("", None)}}
        case.kore_updated_at = kore_case.kore_updated_at
        case.kore_seen_at = self.seen_at
        case.kore_missing_since = None


def is_newer(answered: datetime | None, stored: datetime | None) -> bool:
    """Is Kore's ``updatedAt`` newer than the record's? An answer without one never is: a
    change is applied only from an answer newer than what is stored (never backwards)."""
    return answered is not None and (stored is None or answered > stored)
