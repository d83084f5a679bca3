"""A case's history at Kore: each change of a field the portal saw, by a sync pass, a refresh or a
full re-read (cases/sync/apply.py writes it; the case page shows it)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from cases.models.cases import Case


class CaseChange(models.Model):
    """One field of a case changed at Kore, as the portal saw it: the case page's history."""

    class Field(models.TextChoices):
        NAME = "name", "Title"
        DESCRIPTION = "desc", "Description"
        STATUS = "status", "Status"
        PRIORITY = "priority", "Priority"
        ASSIGNEE = "assignee", "Assignee"
        DUE_DATE = "due_date", "Due date"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="changes")
    field = models.CharField(max_length=20, choices=Field.choices)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    # When Kore says the case changed (its updatedAt), and when the portal saw it.
    changed_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(
        max_length=20,
        default="sync",
        help_text="sync, refresh, full read, gateway (a read through the API), or portal or api "
        "(a change made there)",
    )

    class Meta:
        ordering = ["-seen_at", "-id"]
        indexes = [models.Index(fields=["case", "seen_at"], name="case_change_case_seen")]

    def __str__(self) -> str:
        return f"{self.get_field_display()} of {self.case_id}: {self.old_value} -> {self.new_value}"
