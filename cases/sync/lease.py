"""One sync at a time per account, across every worker and host: a lease row taken and renewed
with conditional updates (atomic on SQLite and PostgreSQL alike). A worker that dies stops
renewing, and its lease runs out after KORE_SYNC_LEASE_SECONDS."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import SyncLease


class LeaseLost(Exception):
    """Another worker holds the lease now (ours ran out): stop at once, write nothing more."""


class Lease:
    """``with Lease(key) as lease:`` when ``lease.held``; ``lease.renew()`` between calls."""

    def __init__(self, key: str):
        self.key, self.owner, self.held = key, uuid.uuid4().hex, False

    def _until(self):
        return timezone.now() + timedelta(seconds=settings.KORE_SYNC_LEASE_SECONDS)

    def take(self) -> bool:
        now = timezone.now()
        taken = SyncLease.objects.filter(key=self.key, expires_at__lt=now).update(
            owner=self.owner, expires_at=self._until()
        )
        if not taken:
            try:
                with transaction.atomic():
                    SyncLease.objects.create(key=self.key, owner=self.owner, expires_at=self._until())
                taken = 1
            except IntegrityError:
                taken = 0  # someone holds it (or took it a moment ago)
        self.held = bool(taken)
        return self.held

    def renew(self) -> None:
        if not SyncLease.objects.filter(key=self.key, owner=self.owner).update(expires_at=self._until()):
            self.held = False
            raise LeaseLost(self.key)

    def release(self) -> None:
        if self.held:
            SyncLease.objects.filter(key=self.key, owner=self.owner).update(expires_at=timezone.now())
            self.held = False

    def __enter__(self) -> Lease:
        self.take()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
