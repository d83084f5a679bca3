"""The one definition of an open case: delivered, and not in a status category that means the
work is done. Written once here, as a Q for queries and partial indexes, and as SQL for the
triggers that keep the dashboard's counts (cases/browse/kept_counts.py)."""

from __future__ import annotations

from django.db.models import Q

from cases.models.sql import ColumnsSQL

# Kore's status categories that mean the work is done.
CLOSED_CATEGORIES = ("resolved", "closed")
OPEN_STATE = "delivered"
# The queries and the partial indexes on open cases use this very condition.
OPEN_CASES = Q(state=OPEN_STATE) & ~Q(status_category__in=CLOSED_CATEGORIES)


def open_case_sql(*, state: str, category: str) -> str:
    """OPEN_CASES as SQL around two column expressions (``new.state``, ``status_category``…).
    The values are this module's constants, never user input."""
    closed = ", ".join(f"'{value}'" for value in CLOSED_CATEGORIES)
    return f"({state} = '{OPEN_STATE}' AND NOT ({category} IN ({closed})))"


def open_cases_condition() -> ColumnsSQL:
    """OPEN_CASES with its constants written into the SQL rather than bound as parameters:
    SQLite uses a partial index only when it can see that the query's condition is the
    index's, which it cannot through ``?``."""
    return ColumnsSQL(
        open_case_sql(state="{state}", category="{category}"), state="state", category="status_category"
    )
