"""The reads the gateway passes through (getCases, getTasks): sent to Kore with the stream's
credentials (never the caller's) in the client's turn; what Kore answers and the record lacks
updates it by the sync's rules (never backwards, empty is missing), once the caller has the
answer (``apply_news``). The HTTP side is cases/api/passthrough.py."""

from __future__ import annotations

import time

from django.utils import timezone

from cases.delivery import fair
from cases.kore.client import KoreClient, Listing
from cases.kore.dates import parse_kore_datetime
from cases.models import Case, CaseTask, Stream
from cases.sync.apply import CaseApplier, is_newer
from cases.sync.case_tasks import TaskApplier
from cases.sync.learn import Learner


class NoTurn(Exception):
    """No turn at the rate limit came within the call's wait."""


def read_through(
    *,
    stream: Stream,
    endpoint: str,
    body: dict,
    share: fair.Share,
    turns: fair.Turns | None,
    give_up_after: float,
) -> Listing:
    """getCases or getTasks with the stream's credentials, in the caller's turn. Raises
    fair.OverShare (its place in the queue is too far back), NoTurn, or Kore's typed errors."""
    if turns is not None:
        with turns.queued(share, max_wait=give_up_after):
            slot = turns.wait(share, give_up_after=give_up_after)
        if slot is None:
            raise NoTurn
        time.sleep(slot.wait())
    client = KoreClient(stream.kore_config())
    return client.listing(endpoint, body)


def apply_news(stream: Stream, endpoint: str, answer: dict) -> None:
    """Apply what a read answered that the record lacks; run once the caller has the answer
    (a failure is logged there, and the sync's next pass reads the same cases)."""
    news, known = news_of(endpoint, answer)
    if news:
        apply_read(stream, endpoint, {"results": news}, known=known)


def news_of(endpoint: str, answer: dict) -> tuple[list[dict], dict[str, Case]]:
    """The results of a read the record lacks: unknown to the portal, or newer than it (Kore's
    ``updatedAt``), found with one query. Applying the rest would change nothing (never
    backwards), so a tool polling a page of unchanged cases costs that one query. Beside them,
    the portal's cases that are older than Kore's answer, read whole for the applier (which
    writes each only if nobody wrote it since)."""
    results = [
        item
        for item in answer.get("results") or []
        if isinstance(item, dict) and isinstance(item.get("_id"), str)
    ]
    if not results:
        return [], {}
    tasks = endpoint == "getTasks"
    model = CaseTask if tasks else Case
    stored = {
        row.kore_id: row
        for row in model.objects.filter(kore_id__in=[item["_id"] for item in results])
        .order_by()
        .values_list("pk", "kore_id", "kore_updated_at", named=True)
    }
    news = [
        item
        for item in results
        if item["_id"] not in stored
        or is_newer(parse_kore_datetime(item.get("updatedAt")), stored[item["_id"]].kore_updated_at)
    ]
    older = [stored[item["_id"]].pk for item in news if item["_id"] in stored]
    if tasks or not older:
        return news, {}
    # Whole rows: deferring the two unread columns costs the ORM more than reading them.
    delivered = Case.objects.filter(pk__in=older, state=Case.State.DELIVERED)
    return news, {case.kore_id: case for case in delivered}


def apply_read(stream: Stream, endpoint: str, answer: dict, *, known: dict[str, Case] | None = None) -> None:
    """What a read answered, onto the local record: never backwards, empty is missing, cases
    made at Kore brought in, statuses and priorities learned. ``known``: cases of the answer
    the caller has just read whole."""
    results = [item for item in answer.get("results") or [] if isinstance(item, dict)]
    if not results:
        return
    now = timezone.now()
    if endpoint == "getTasks":
        TaskApplier(stream, seen_at=now, source="gateway").apply(results)
        return
    applier = CaseApplier(stream, seen_at=now, source="gateway", note_seen=False)
    applied = applier.apply(results, known=known)
    # Learned only from what is newer than the record: the rest was seen before, and the sync's
    # passes learn from every case they read. A tool polling unchanged cases costs no reads.
    news = [raw for raw in results if raw.get("_id") not in applied.not_newer]
    if news:
        learner = Learner(stream)
        learner.learn(news)
        learner.save(seen_at=now, only_changes=True)
