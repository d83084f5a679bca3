"""What the sync keeps: each stream's sync state and last pass, the leases that let one pass run at
a time, and what the sync learns from Kore's cases (statuses, priorities, agents and queues),
since Kore has no API that lists them."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.cache import caches
from django.db import models
from django.utils import timezone

from cases.models.streams import Stream


class StreamSync(models.Model):
    """A stream's sync: on or off, how often, and what its last pass did."""

    stream = models.OneToOneField(Stream, on_delete=models.CASCADE, related_name="sync")
    enabled = models.BooleanField("Sync on", default=True)
    interval_seconds = models.PositiveIntegerField(
        "Interval (seconds)", null=True, blank=True, help_text="Empty: KORE_SYNC_INTERVAL_SECONDS."
    )
    next_pass_at = models.DateTimeField(null=True, blank=True)
    # The start of the last complete pass: the next one reads cases created since then (with overlap).
    high_water_mark = models.DateTimeField(null=True, blank=True)
    # When the sync first read the stream's tasks whole: the tasks it found before are not news.
    tasks_read_at = models.DateTimeField(null=True, blank=True)
    # Kore's answers have shown that startDate/endDate do not filter on the due date (a case
    # listed with its due date outside the dates asked for): until then no case is flagged
    # missing from a read by creation window (cases/sync/vanished.py).
    dates_not_due = models.BooleanField(default=False)

    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_calls = models.PositiveIntegerField(default=0)
    last_seen = models.PositiveIntegerField(default=0)
    last_changed = models.PositiveIntegerField(default=0)
    last_new = models.PositiveIntegerField(default=0)
    last_missing = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Passes in a row that failed: the Sync page and the dashboard say so from FAILING_AFTER on.
    failures = models.PositiveIntegerField(default=0)

    # A full re-read, asked for by an administrator: its progress while it runs.
    full_read_requested_at = models.DateTimeField(null=True, blank=True)
    full_read_pages = models.PositiveIntegerField(default=0)
    full_read_cases = models.PositiveIntegerField(default=0)
    full_read_total = models.PositiveIntegerField(null=True, blank=True)
    full_read_finished_at = models.DateTimeField(null=True, blank=True)
    # Why the last full re-read stopped short (Kore's message, or no rate-limit turn in time):
    # kept until the next one, whatever the passes meanwhile.
    full_read_error = models.TextField(blank=True)

    FAILING_AFTER = 3

    class Meta:
        ordering = ["stream__name"]

    def __str__(self) -> str:
        return f"Sync of {self.stream}"

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=self.interval_seconds or settings.KORE_SYNC_INTERVAL_SECONDS)

    @property
    def is_failing(self) -> bool:
        return self.failures >= self.FAILING_AFTER

    @property
    def full_read_running(self) -> bool:
        return self.full_read_requested_at is not None and self.full_read_finished_at is None


def stream_is_told(stream: Stream) -> bool:
    """False until a stream's first complete sync pass: what it finds before then is not news."""
    return _once_true(
        f"told:{stream.pk}", StreamSync.objects.filter(stream=stream, high_water_mark__isnull=False)
    )


def stream_tasks_are_told(stream: Stream) -> bool:
    """Also false until the sync has read the stream's tasks once (its first pass, or the first
    after the stream began to use tasks): the tasks Kore had before are not news."""
    return _once_true(
        f"tasks-told:{stream.pk}",
        StreamSync.objects.filter(stream=stream, high_water_mark__isnull=False, tasks_read_at__isnull=False),
    )


def _once_true(key: str, rows) -> bool:
    """Whether ``rows`` exist, remembered by the process once they do: the sync sets the dates
    these ask about once and never clears them, so a yes never turns into a no (and every read
    through the gateway that brings a change would otherwise ask again)."""
    learned = caches["learned"]
    if learned.get(key):
        return True
    told = rows.exists()
    if told:
        learned.set(key, True)
    return told


class SyncLease(models.Model):
    """Who runs the sync of an account (its streams share Kore's budget) until when. Taken and
    renewed with conditional updates, so two beats or workers never read one account at once,
    and a crashed worker's lease runs out."""

    key = models.CharField(max_length=400, unique=True)
    owner = models.CharField(max_length=100, blank=True)
    expires_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.key} held by {self.owner or 'nobody'} until {self.expires_at:%H:%M:%S}"


class KoreStatus(models.Model):
    """A status Kore uses on a stream (``sts-…``), learned from the cases it returns."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="kore_statuses")
    kore_id = models.CharField(max_length=120)
    name = models.CharField(max_length=80)
    # Kore's own lower-case name of the status, sent back in updateCase's status object.
    lname = models.CharField(max_length=80, blank=True)
    category = models.CharField(max_length=40, blank=True)
    color = models.CharField(max_length=20, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["stream", "name"]
        constraints = [models.UniqueConstraint(fields=["stream", "kore_id"], name="unique_kore_status")]

    def __str__(self) -> str:
        return self.name


class KorePriority(models.Model):
    """A priority Kore uses on a stream (``pr-…``), learned from the cases it returns."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="kore_priorities")
    kore_id = models.CharField(max_length=120)
    name = models.CharField(max_length=80)
    color = models.CharField(max_length=20, blank=True)
    score = models.IntegerField(null=True, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["stream", "score", "name"]
        constraints = [models.UniqueConstraint(fields=["stream", "kore_id"], name="unique_kore_priority")]

    def __str__(self) -> str:
        return self.name


class KoreAssignee(models.Model):
    """An agent or queue Kore assigns cases to on a stream, learned from the cases it returns."""

    class Kind(models.TextChoices):
        AGENT = "agent", "Agent"
        QUEUE = "queue", "Queue"

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="kore_assignees")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    kore_id = models.CharField(max_length=120)
    name = models.CharField(max_length=200)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["stream", "kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "kind", "kore_id"], name="unique_kore_assignee")
        ]

    def __str__(self) -> str:
        return self.name
