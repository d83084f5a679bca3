"""Counts the database keeps up to date itself, with triggers on cases_case (installed and
repaired by cases/browse/kept_counts.py), so the dashboard reads a few rows instead of every
case. They are models here because Django registers an app's models from its models package."""

from __future__ import annotations

from datetime import timedelta

from django.db import models

from cases.models.streams import Stream


class OpenCaseCount(models.Model):
    """How many open cases (OPEN_CASES) share a stream, status and priority: the dashboard's
    groups without reading every open case.

    Kept by the database itself, triggers on cases_case (cases/browse/kept_counts.py), so every way of
    writing a case counts: save(), update(), bulk_create(), a delete, raw SQL. Groups that
    empty keep their row with count 0.
    """

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="+")
    status_name = models.CharField(max_length=80)
    status_category = models.CharField(max_length=40)
    priority_name = models.CharField(max_length=80)
    priority_color = models.CharField(max_length=20)
    priority_score = models.IntegerField(help_text="0 when the case has none.")
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "stream",
                    "status_name",
                    "status_category",
                    "priority_name",
                    "priority_color",
                    "priority_score",
                ],
                name="open_case_count_group",
            )
        ]

    def __str__(self) -> str:
        return f"{self.count} open: {self.status_name} / {self.priority_name} in stream {self.stream_id}"


class CreatedCount(models.Model):
    """How many cases were created in each quarter of an hour (UTC), per stream: the
    dashboard's cases per day without counting every case of the last 30 days.

    Every time zone in use today is a whole number of quarter hours from UTC, so a local day
    is a run of whole slots. Kept by triggers on cases_case, like OpenCaseCount.
    """

    SLOT = timedelta(minutes=15)

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="+")
    slot = models.DateTimeField(help_text="The start of the quarter hour (UTC).")
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["slot", "stream"], name="created_count_slot")]
        # Days of the chart for someone who sees only some streams.
        indexes = [models.Index(fields=["stream", "slot"], name="created_count_stream_slot")]

    def __str__(self) -> str:
        return f"{self.count} created from {self.slot:%Y-%m-%d %H:%M} in stream {self.stream_id}"


class OpenDueCount(models.Model):
    """How many open cases (OPEN_CASES) are due on each day (UTC), per stream: the dashboard's
    overdue count is the days before today plus today's cases due before now, without reading
    every overdue case. Kept by triggers on cases_case, like OpenCaseCount."""

    stream = models.ForeignKey(Stream, on_delete=models.CASCADE, related_name="+")
    day = models.DateTimeField(help_text="Midnight (UTC) of the due date.")
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "stream"], name="open_due_count_day")]

    def __str__(self) -> str:
        return f"{self.count} open due on {self.day:%Y-%m-%d} in stream {self.stream_id}"
