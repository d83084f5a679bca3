"""Keeps SQLite's word-search index (the FTS5 table cases_case_fts) wired to cases_case.

SQLite rebuilds a table for many schema changes (a later migration altering a Case field), and
dropping the old table drops its triggers with it. After every migrate this puts back any
missing trigger and, if one was missing, rebuilds the index from the table.
"""

from __future__ import annotations

from django.db import connection, connections

TRIGGERS = {
    "cases_case_fts_insert": """CREATE TRIGGER cases_case_fts_insert AFTER INSERT ON cases_case BEGIN
        INSERT INTO cases_case_fts(rowid, name, "desc") VALUES (new.id, new.name, new."desc");
    END""",
    "cases_case_fts_delete": """CREATE TRIGGER cases_case_fts_delete AFTER DELETE ON cases_case BEGIN
        INSERT INTO cases_case_fts(cases_case_fts, rowid, name, "desc")
        VALUES ('delete', old.id, old.name, old."desc");
    END""",
    "cases_case_fts_update": """CREATE TRIGGER cases_case_fts_update
    AFTER UPDATE OF name, "desc" ON cases_case BEGIN
        INSERT INTO cases_case_fts(cases_case_fts, rowid, name, "desc")
        VALUES ('delete', old.id, old.name, old."desc");
        INSERT INTO cases_case_fts(rowid, name, "desc") VALUES (new.id, new.name, new."desc");
    END""",
}


def ensure_sqlite_triggers(using=None, **kwargs) -> bool:
    """Recreate missing triggers and rebuild the index; True when something was repaired."""
    conn = connections[using] if using else connection
    if conn.vendor != "sqlite":
        return False
    with conn.cursor() as cursor:
        cursor.execute("SELECT type, name FROM sqlite_master WHERE name LIKE 'cases_case_fts%'")
        present = {name for _, name in cursor.fetchall()}
        if "cases_case_fts" not in present:
            return False  # the FTS table is not migrated yet
        missing = [name for name in TRIGGERS if name not in present]
        for name in missing:
            cursor.execute(TRIGGERS[name])
        if missing:
            cursor.execute("INSERT INTO cases_case_fts(cases_case_fts) VALUES ('rebuild')")
    return bool(missing)
