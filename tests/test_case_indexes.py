"""The cases table carries no index that another one already serves: every plain index's columns
are not the leading columns of a longer one (partial and expression indexes aside)."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def plain_indexes() -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "cases_case")
    with connection.cursor() as cursor:
        partial = set()
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '%WHERE%'")
            partial = {name for (name,) in cursor.fetchall()}
        elif connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'cases_case' AND indexdef LIKE '%WHERE%'"
            )
            partial = {name for (name,) in cursor.fetchall()}
    return {
        name: info["columns"]
        for name, info in constraints.items()
        if info["index"]
        and not info["unique"]
        and not info["primary_key"]
        and name not in partial
        and info["columns"]  # an expression index has none to compare (PostgreSQL: an empty list)
        and all(info["columns"])
        and not name.endswith("_like")
    }


def test_no_index_is_the_leading_part_of_another():
    indexes = plain_indexes()
    redundant = [
        (name, other)
        for name, columns in indexes.items()
        for other, longer in indexes.items()
        if other != name and len(longer) > len(columns) and longer[: len(columns)] == columns
    ]
    assert redundant == []
    assert not any(columns == ["created_at"] or columns == ["state"] for columns in indexes.values())
