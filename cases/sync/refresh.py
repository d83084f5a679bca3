"""Refresh from Kore: read one case now, from its page. Kore has no fetch by id, so the case is
looked up by its title and creation date (paged, bounded) and recognised by its ``_id``; when
Kore does not find it that way, nothing changes and the page says so."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from cases.delivery import fair, pacing
from cases.kore.client import KoreClient
from cases.kore.dates import format_kore_datetime
from cases.kore.errors import KoreError, KoreRateLimited
from cases.kore.lookup import SentCase, lookup_filters
from cases.kore.paging import PagedRead
from cases.models import Case
from cases.sync.apply import CaseApplier
from cases.sync.learn import Learner


@dataclass(frozen=True)
class Refreshed:
    found: bool
    changed: bool
    message: str


def case_refresh(*, case: Case) -> Refreshed:
    """Read ``case`` at Kore now and apply what changed (recorded in its history)."""
    stream = case.stream
    if not case.kore_id:
        return Refreshed(False, False, "This case is not at Kore yet: there is nothing to refresh.")
    if not stream.account_id:
        return Refreshed(False, False, "The stream has no account id, which Kore needs to look cases up.")
    client, limit = KoreClient(stream.kore_config()), pacing.account_limit(stream)

    def fetch(query: dict) -> dict:
        # A person is waiting: people's turn, not the sync's.
        if limit:
            slot = fair.wait_for_turn(
                stream, fair.PEOPLE, limit=limit, give_up_after=settings.KORE_PACING_HORIZON_SECONDS * 2
            )
            if slot is None:
                raise KoreRateLimited("Kore's rate limit is in use; try again in a moment.")
            time.sleep(slot.wait())
        return client.get_cases(query)

    created = case.kore_created_at or case.created_at
    due = {"dueDate": format_kore_datetime(case.due_date)} if case.due_date else {}
    wanted = SentCase(
        body={"name": case.name, **due},
        template_id="",
        template_name="",
        sent_from=created,
        sent_until=created,
    )
    filters = lookup_filters(wanted, margin=timedelta(seconds=settings.KORE_LOOKUP_MARGIN_SECONDS))
    now = timezone.now()
    try:
        for page in PagedRead(fetch, filters, max_pages=settings.KORE_LOOKUP_MAX_PAGES):
            match = [found for found in page if found.get("_id") == case.kore_id]
            if match:
                learner = Learner(stream)
                learner.learn(match)
                learner.save(seen_at=now)
                applied = CaseApplier(stream, seen_at=now, source="refresh").apply(match)
                if applied.changed:
                    return Refreshed(True, True, "Refreshed from Kore: the changes are in the history below.")
                return Refreshed(True, False, "Refreshed from Kore: nothing changed.")
    except KoreError as exc:
        return Refreshed(False, False, f"Kore could not be asked: {exc.message}")
    return Refreshed(
        False, False, "Kore did not find this case by its title and creation date; nothing was changed."
    )
