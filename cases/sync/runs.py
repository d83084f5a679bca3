"""Running the sync: which streams are due, one account at a time under its lease, each pass's
outcome recorded on the stream's ``StreamSync``, and the full re-read an administrator asks for."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cases.kore.errors import KoreError
from cases.kore.paging import PagedRead
from cases.models import Stream, StreamSync
from cases.models.notify import record_backfilled
from cases.sync.apply import CaseApplier
from cases.sync.learn import Learner
from cases.sync.lease import Lease, LeaseLost
from cases.sync.passes import PacedFetch, PassResult, Paused, StreamPass

logger = logging.getLogger(__name__)
# A paused pass (no rate-limit turn in time) is tried again this soon, from its first page.
RESUME_AFTER = timedelta(seconds=15)


def sync_state(stream: Stream) -> StreamSync:
    state, _ = StreamSync.objects.get_or_create(stream=stream)
    return state


def lease_key(stream: Stream) -> str:
    """Streams of one account share Kore's budget, so they sync one at a time."""
    return f"sync:{stream.rate_limit_key()}"


def due_accounts(now: datetime | None = None) -> dict[str, list[int]]:
    """The streams whose pass is due (sync on, stream active), or whose full re-read waits for
    its turn (asked for by an administrator, not finished), by account."""
    now = now or timezone.now()
    streams = Stream.objects.filter(
        Q(
            Q(sync__isnull=True)
            | Q(sync__enabled=True, sync__next_pass_at__isnull=True)
            | Q(sync__enabled=True, sync__next_pass_at__lte=now),
            is_active=True,
        )
        | Q(sync__full_read_requested_at__isnull=False, sync__full_read_finished_at__isnull=True)
    )
    accounts: dict[str, list[int]] = defaultdict(list)
    for stream in streams:
        accounts[lease_key(stream)].append(stream.pk)
    return dict(accounts)


@dataclass
class AccountRun:
    ran: list[int]
    lease_taken: bool


def sync_account(key: str, stream_ids: list[int]) -> AccountRun:
    """Run the due passes of one account's streams, one after another, if its lease is free;
    then the full re-reads asked for while it was busy (or whose worker died)."""
    with Lease(key) as lease:
        if not lease.held:
            return AccountRun(ran=[], lease_taken=False)
        ran = []
        try:
            for stream in Stream.objects.filter(pk__in=stream_ids, is_active=True).order_by("pk"):
                state = sync_state(stream)
                if not state.enabled or (state.next_pass_at and state.next_pass_at > timezone.now()):
                    continue  # another worker ran it meanwhile, or it was switched off
                run_pass(stream, state, lease=lease)
                ran.append(stream.pk)
            for stream in Stream.objects.filter(pk__in=stream_ids).order_by("pk"):
                state = sync_state(stream)
                if state.full_read_running:
                    read_everything(stream, state, lease=lease)
        except LeaseLost:
            pass  # another worker holds the account now: it takes over what is left
        return AccountRun(ran=ran, lease_taken=True)


def run_pass(stream: Stream, state: StreamSync, *, lease: Lease | None) -> PassResult | None:
    """One pass of a stream, its outcome written on ``state``. Kore's errors are recorded (the
    Sync page and the dashboard show a stream that keeps failing), never raised."""
    started = timezone.now()
    overlap = timedelta(seconds=settings.KORE_SYNC_OVERLAP_SECONDS)
    since = (
        state.high_water_mark - overlap
        if state.high_water_mark
        else started - timedelta(days=settings.KORE_SYNC_FIRST_DAYS)
    )
    clock = time.monotonic()
    StreamSync.objects.filter(pk=state.pk).update(last_started_at=started)
    try:
        result = StreamPass(
            stream,
            lease=lease,
            since=since,
            seen_since=state.high_water_mark,
            dates_not_due=state.dates_not_due,
            now=started,
        ).run()
    except KoreError as exc:
        state.failures += 1
        state.last_error = exc.message[:4000]
        state.last_finished_at = timezone.now()
        state.last_duration_ms = int((time.monotonic() - clock) * 1000)
        state.next_pass_at = timezone.now() + state.interval
        state.save()
        logger.warning("sync of stream %s failed: %s", stream.stream_id, exc.message)
        return None
    state.last_started_at = started
    state.last_finished_at = timezone.now()
    state.last_duration_ms = int((time.monotonic() - clock) * 1000)
    state.last_calls, state.last_seen = result.calls, result.applied.seen
    state.last_changed, state.last_new, state.last_missing = (
        result.applied.changed,
        result.applied.new,
        result.missing,
    )
    state.failures, state.last_error = 0, ""
    state.dates_not_due = result.dates_not_due
    first = result.complete and state.high_water_mark is None
    if result.complete:
        state.high_water_mark = started
    if result.tasks_read and state.tasks_read_at is None:
        # The stream's tasks are read once: from the next pass on, their changes are news.
        state.tasks_read_at = started
    state.next_pass_at = timezone.now() + (RESUME_AFTER if result.paused else state.interval)
    with transaction.atomic():
        state.save()
        if first:  # its cases were not news: one summary for webhooks instead
            applied = result.applied
            record_backfilled(
                stream,
                reason="first_pass",
                seen=applied.seen,
                new=applied.new,
                changed=applied.changed,
            )
    logger.info(
        "sync of stream %s: %s calls, %s seen, %s changed, %s new, %s missing%s",
        stream.stream_id, result.calls, result.applied.seen, result.applied.changed,
        result.applied.new, result.missing, " (paused)" if result.paused else "",
    )  # fmt: skip
    return result


def ask_for_full_read(state: StreamSync) -> None:
    """An administrator asks for the stream's full re-read: its progress starts again."""
    StreamSync.objects.filter(pk=state.pk).update(
        full_read_requested_at=timezone.now(),
        full_read_finished_at=None,
        full_read_pages=0,
        full_read_cases=0,
        full_read_total=None,
        full_read_error="",
    )


def full_read(stream: Stream) -> bool:
    """Run the stream's full re-read, if one is asked for, now if its account's lease is free.
    False when the account's sync holds it: the request stays, and the account's next run (at
    the next tick, sync_account) takes it."""
    with Lease(lease_key(stream)) as lease:
        if not lease.held:
            return False
        state = sync_state(stream)
        if state.full_read_running:
            try:
                read_everything(stream, state, lease=lease)
            except LeaseLost:
                pass  # another worker holds the account now: its run takes the read over
        return True


def read_everything(stream: Stream, state: StreamSync, *, lease: Lease) -> None:
    """Read every case Kore lists for the stream (an administrator's request, not the routine),
    its progress on the stream's ``StreamSync``; paced like a pass, under the account's lease.
    However it ends, it ends: finished, or stopped with the reason (Kore's message, no turn at
    the rate limit in time, the page bound), so the Sync page never waits on it forever. On a
    stream already synced, what it finds is told as a pass tells it (events); before the
    stream's first complete pass it is not news either, and one summary is told instead."""
    started = timezone.now()
    applier, learner = CaseApplier(stream, seen_at=started, source="full read"), Learner(stream)
    summarised = not applier.tell  # judged before it reads: the stream's first pass is not done
    new = changed = 0
    paced = PacedFetch(stream, lease)
    progress = StreamSync.objects.filter(pk=state.pk)

    def fetch(query: dict) -> dict:
        answer = paced(query)
        if isinstance(answer.get("totalResults"), int):
            progress.update(full_read_total=answer["totalResults"])
        return answer

    progress.update(full_read_pages=0, full_read_cases=0, full_read_total=None, full_read_error="")
    read = PagedRead(fetch, {}, max_pages=settings.KORE_SYNC_FULL_READ_MAX_PAGES)
    stopped = ""
    try:
        for page in read:
            learner.learn(page)
            applied = applier.apply(page)
            new, changed = new + applied.new, changed + applied.changed
            progress.update(full_read_pages=read.pages, full_read_cases=read.received)
    except KoreError as exc:
        stopped = exc.message
    except Paused:
        stopped = "paused: no turn at Kore's rate limit came in time (the account is busy); ask again later"
    finally:
        learner.save(seen_at=started)
    if not stopped and not read.complete:
        stopped = f"Kore had more after {read.pages} pages (KORE_SYNC_FULL_READ_MAX_PAGES)"
    with transaction.atomic():
        progress.update(
            full_read_finished_at=timezone.now(),
            full_read_error=stopped[:4000],
            full_read_pages=read.pages,
            full_read_cases=read.received,
        )
        if summarised and not stopped:
            record_backfilled(stream, reason="full_read", seen=read.received, new=new, changed=changed)
    if stopped:
        logger.warning("full re-read of stream %s stopped: %s", stream.stream_id, stopped)
