"""Thin Celery tasks of the sync: beat asks every KORE_SYNC_TICK_SECONDS which streams are due and
runs each account's passes in a task of its own (its lease keeps a second one out)."""

from __future__ import annotations

from celery import shared_task

from cases.models import Stream
from cases.sync import runs


@shared_task(name="cases.sync.tasks.sync_due_streams", ignore_result=True)
def sync_due_streams() -> int:
    accounts = runs.due_accounts()
    for key, stream_ids in accounts.items():
        sync_account.delay(key, stream_ids)
    return len(accounts)


@shared_task(name="cases.sync.tasks.sync_account", ignore_result=True)
def sync_account(key: str, stream_ids: list[int]) -> list[int]:
    return runs.sync_account(key, stream_ids).ran


@shared_task(name="cases.sync.tasks.full_read", ignore_result=True)
def full_read(stream_id: int) -> None:
    stream = Stream.objects.filter(pk=stream_id).first()
    if stream is not None:
        runs.full_read(stream)
