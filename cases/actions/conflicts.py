"""Has Kore changed a field of a case since someone looked at it? The case's history says what
the portal has seen change at Kore (by the sync, a refresh, a full re-read or a read through the
gateway), with Kore's own time of the change; the portal's own changes do not count."""

from __future__ import annotations

from datetime import datetime

from cases.models import CaseChange

# The history's fields each updateCase body key changes.
FIELDS_OF_KEYS = {
    "name": CaseChange.Field.NAME,
    "desc": CaseChange.Field.DESCRIPTION,
    "status": CaseChange.Field.STATUS,
    "priority": CaseChange.Field.PRIORITY,
    "dueDate": CaseChange.Field.DUE_DATE,
    "assigneeType": CaseChange.Field.ASSIGNEE,
    "currAssignee": CaseChange.Field.ASSIGNEE,
    "queues": CaseChange.Field.ASSIGNEE,
}
OWN_SOURCES = ("portal", "api")


def changed_at_kore(
    case_id: int, keys, *, since: datetime | None, seen_after: datetime | None = None
) -> list[str]:
    """The labels of the fields of ``keys`` (updateCase body keys) that Kore changed after
    ``since`` (its updatedAt as someone saw it); without it, those the portal saw change after
    ``seen_after``."""
    fields = {FIELDS_OF_KEYS[key] for key in keys if key in FIELDS_OF_KEYS}
    if not fields:
        return []
    changes = CaseChange.objects.filter(case_id=case_id, field__in=fields).exclude(source__in=OWN_SOURCES)
    if since is not None:
        changes = changes.filter(changed_at__gt=since)
    elif seen_after is not None:
        changes = changes.filter(seen_at__gt=seen_after)
    else:
        return []
    return sorted({CaseChange.Field(field).label for field in changes.values_list("field", flat=True)})
