"""Counts the database keeps for the dashboard, with triggers on cases_case:

- cases_opencasecount (OpenCaseCount): open cases per stream, status and priority, so the
  dashboard reads a few dozen rows instead of every open case;
- cases_createdcount (CreatedCount): cases created per stream and quarter hour (UTC), so the
  cases-per-day chart sums about 3,000 slots instead of counting 30 days of cases;
- cases_openduecount (OpenDueCount): open cases per stream and due day (UTC), so the overdue
  count sums the days before today and counts only today's due cases.

Triggers rather than signals or service code, because cases are also written by update(),
bulk_create() and the seed command, none of which send signals. The open condition is
generated from the one definition in cases/models/open_cases.py.

SQLite drops a table's triggers when a migration rebuilds the table (a later change to a Case
field); after every migrate :func:`ensure_sqlite_triggers` puts back any missing one and
recounts, like cases/fulltext.py does for the word index.
"""

from __future__ import annotations

from django.db import connection as default_connection
from django.db import connections

from cases.models.open_cases import open_case_sql

# The open condition (OPEN_CASES) and a case's group, written out for the new and the old row.
# Only the columns the groups and the open condition read fire the update triggers.
WATCHED = "state, status_name, status_category, priority_name, priority_color, priority_score, stream_id"

ADD_NEW = """INSERT INTO cases_opencasecount
        (stream_id, status_name, status_category, priority_name, priority_color, priority_score, count)
    VALUES (new.stream_id, new.status_name, new.status_category, new.priority_name, new.priority_color,
        COALESCE(new.priority_score, 0), 1)
    ON CONFLICT (stream_id, status_name, status_category, priority_name, priority_color, priority_score)
    DO UPDATE SET count = count + 1"""
REMOVE_OLD = """UPDATE cases_opencasecount SET count = count - 1
    WHERE stream_id = old.stream_id AND status_name = old.status_name
    AND status_category = old.status_category AND priority_name = old.priority_name
    AND priority_color = old.priority_color AND priority_score = COALESCE(old.priority_score, 0)"""
NEW_IS_OPEN = open_case_sql(state="new.state", category="new.status_category")
OLD_WAS_OPEN = open_case_sql(state="old.state", category="old.status_category")
IS_OPEN = open_case_sql(state="state", category="status_category")

SQLITE_TRIGGERS = {
    "cases_open_count_insert": "CREATE TRIGGER cases_open_count_insert AFTER INSERT ON cases_case "
    f"WHEN {NEW_IS_OPEN} BEGIN {ADD_NEW}; END",
    "cases_open_count_delete": "CREATE TRIGGER cases_open_count_delete AFTER DELETE ON cases_case "
    f"WHEN {OLD_WAS_OPEN} BEGIN {REMOVE_OLD}; END",
    # An update takes the case out of its old group and puts it in its new one (maybe the
    # same): two triggers, each only adjusting counts, so their order does not matter.
    "cases_open_count_update_old": f"CREATE TRIGGER cases_open_count_update_old AFTER UPDATE OF {WATCHED} "
    f"ON cases_case WHEN {OLD_WAS_OPEN} BEGIN {REMOVE_OLD}; END",
    "cases_open_count_update_new": f"CREATE TRIGGER cases_open_count_update_new AFTER UPDATE OF {WATCHED} "
    f"ON cases_case WHEN {NEW_IS_OPEN} BEGIN {ADD_NEW}; END",
}

# A case's quarter hour: created_at is stored as UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]".
SQLITE_SLOT = (
    "substr({row}.created_at, 1, 14) "
    "|| printf('%02d', CAST(substr({row}.created_at, 15, 2) AS INTEGER) / 15 * 15) || ':00'"
)
# noqa below: the SQL is built from the constants of this module only.
SQLITE_CREATED_ADD = f"""INSERT INTO cases_createdcount (slot, stream_id, count)
    VALUES ({SQLITE_SLOT.format(row="new")}, new.stream_id, 1)
    ON CONFLICT (slot, stream_id) DO UPDATE SET count = count + 1"""  # noqa: S608
SQLITE_CREATED_REMOVE = f"""UPDATE cases_createdcount SET count = count - 1
    WHERE slot = {SQLITE_SLOT.format(row="old")} AND stream_id = old.stream_id"""  # noqa: S608
SQLITE_TRIGGERS.update(
    {
        "cases_created_count_insert": "CREATE TRIGGER cases_created_count_insert AFTER INSERT ON cases_case "
        f"BEGIN {SQLITE_CREATED_ADD}; END",
        "cases_created_count_delete": "CREATE TRIGGER cases_created_count_delete AFTER DELETE ON cases_case "
        f"BEGIN {SQLITE_CREATED_REMOVE}; END",
        "cases_created_count_update": "CREATE TRIGGER cases_created_count_update "
        "AFTER UPDATE OF created_at, stream_id ON cases_case "
        f"BEGIN {SQLITE_CREATED_REMOVE}; {SQLITE_CREATED_ADD}; END",
    }
)

# A due date's day (UTC midnight), for the open cases that have one.
SQLITE_DUE_DAY = "substr({row}.due_date, 1, 10) || ' 00:00:00'"
SQLITE_DUE_ADD = f"""INSERT INTO cases_openduecount (day, stream_id, count)
    VALUES ({SQLITE_DUE_DAY.format(row="new")}, new.stream_id, 1)
    ON CONFLICT (day, stream_id) DO UPDATE SET count = count + 1"""  # noqa: S608
SQLITE_DUE_REMOVE = f"""UPDATE cases_openduecount SET count = count - 1
    WHERE day = {SQLITE_DUE_DAY.format(row="old")} AND stream_id = old.stream_id"""  # noqa: S608
DUE_WATCHED = "state, status_category, due_date, stream_id"
SQLITE_TRIGGERS.update(
    {
        "cases_open_due_count_insert": "CREATE TRIGGER cases_open_due_count_insert "
        "AFTER INSERT ON cases_case "
        f"WHEN {NEW_IS_OPEN} AND new.due_date IS NOT NULL BEGIN {SQLITE_DUE_ADD}; END",
        "cases_open_due_count_delete": "CREATE TRIGGER cases_open_due_count_delete "
        "AFTER DELETE ON cases_case "
        f"WHEN {OLD_WAS_OPEN} AND old.due_date IS NOT NULL BEGIN {SQLITE_DUE_REMOVE}; END",
        "cases_open_due_count_update_old": "CREATE TRIGGER cases_open_due_count_update_old "
        f"AFTER UPDATE OF {DUE_WATCHED} ON cases_case "
        f"WHEN {OLD_WAS_OPEN} AND old.due_date IS NOT NULL BEGIN {SQLITE_DUE_REMOVE}; END",
        "cases_open_due_count_update_new": "CREATE TRIGGER cases_open_due_count_update_new "
        f"AFTER UPDATE OF {DUE_WATCHED} ON cases_case "
        f"WHEN {NEW_IS_OPEN} AND new.due_date IS NOT NULL BEGIN {SQLITE_DUE_ADD}; END",
    }
)

POSTGRES_SQL = [
    f"""CREATE FUNCTION cases_open_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND {OLD_WAS_OPEN} THEN
            UPDATE cases_opencasecount SET count = count - 1
            WHERE stream_id = OLD.stream_id AND status_name = OLD.status_name
            AND status_category = OLD.status_category AND priority_name = OLD.priority_name
            AND priority_color = OLD.priority_color AND priority_score = COALESCE(OLD.priority_score, 0);
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND {NEW_IS_OPEN} THEN
            INSERT INTO cases_opencasecount (stream_id, status_name, status_category,
                priority_name, priority_color, priority_score, count)
            VALUES (NEW.stream_id, NEW.status_name, NEW.status_category, NEW.priority_name,
                NEW.priority_color, COALESCE(NEW.priority_score, 0), 1)
            ON CONFLICT (stream_id, status_name, status_category, priority_name, priority_color,
                priority_score)
            DO UPDATE SET count = cases_opencasecount.count + 1;
        END IF;
        RETURN NULL;
    END
    $$""",  # noqa: S608 (built from this module's constants and open_case_sql only)
    f"CREATE TRIGGER cases_open_count AFTER INSERT OR DELETE OR UPDATE OF {WATCHED} "
    "ON cases_case FOR EACH ROW EXECUTE FUNCTION cases_open_count()",
]
# date_bin counts quarter hours from a UTC origin: the same slot whatever the session's zone.
POSTGRES_SQL += [
    """CREATE FUNCTION cases_created_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE cases_createdcount SET count = count - 1
            WHERE slot = date_bin('15 minutes', OLD.created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')
            AND stream_id = OLD.stream_id;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            INSERT INTO cases_createdcount (slot, stream_id, count)
            VALUES (date_bin('15 minutes', NEW.created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
                NEW.stream_id, 1)
            ON CONFLICT (slot, stream_id) DO UPDATE SET count = cases_createdcount.count + 1;
        END IF;
        RETURN NULL;
    END
    $$""",
    "CREATE TRIGGER cases_created_count AFTER INSERT OR DELETE OR UPDATE OF created_at, stream_id "
    "ON cases_case FOR EACH ROW EXECUTE FUNCTION cases_created_count()",
]
POSTGRES_SQL += [
    f"""CREATE FUNCTION cases_open_due_count() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.due_date IS NOT NULL AND {OLD_WAS_OPEN} THEN
            UPDATE cases_openduecount SET count = count - 1
            WHERE day = date_bin('1 day', OLD.due_date, TIMESTAMPTZ '2000-01-01 00:00:00+00')
            AND stream_id = OLD.stream_id;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.due_date IS NOT NULL AND {NEW_IS_OPEN} THEN
            INSERT INTO cases_openduecount (day, stream_id, count)
            VALUES (date_bin('1 day', NEW.due_date, TIMESTAMPTZ '2000-01-01 00:00:00+00'), NEW.stream_id, 1)
            ON CONFLICT (day, stream_id) DO UPDATE SET count = cases_openduecount.count + 1;
        END IF;
        RETURN NULL;
    END
    $$""",  # noqa: S608 (built from this module's constants and open_case_sql only)
    f"CREATE TRIGGER cases_open_due_count AFTER INSERT OR DELETE OR UPDATE OF {DUE_WATCHED} "
    "ON cases_case FOR EACH ROW EXECUTE FUNCTION cases_open_due_count()",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS cases_open_due_count ON cases_case",
    "DROP FUNCTION IF EXISTS cases_open_due_count()",
    "DROP TRIGGER IF EXISTS cases_open_count ON cases_case",
    "DROP FUNCTION IF EXISTS cases_open_count()",
    "DROP TRIGGER IF EXISTS cases_created_count ON cases_case",
    "DROP FUNCTION IF EXISTS cases_created_count()",
]

SQLITE_REVERSE = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]

RECOUNT_OPEN = [
    "DELETE FROM cases_opencasecount",
    f"""INSERT INTO cases_opencasecount
        (stream_id, status_name, status_category, priority_name, priority_color, priority_score, count)
    SELECT stream_id, status_name, status_category, priority_name, priority_color,
        COALESCE(priority_score, 0), COUNT(*)
    FROM cases_case WHERE {IS_OPEN}
    GROUP BY stream_id, status_name, status_category, priority_name, priority_color,
        COALESCE(priority_score, 0)""",  # noqa: S608 (constants only)
]


DUE_DAY = {
    "sqlite": SQLITE_DUE_DAY.format(row="cases_case"),
    "postgresql": "date_bin('1 day', due_date, TIMESTAMPTZ '2000-01-01 00:00:00+00')",
}
CREATED_SLOT = {
    "sqlite": SQLITE_SLOT.format(row="cases_case"),
    "postgresql": "date_bin('15 minutes', created_at, TIMESTAMPTZ '2000-01-01 00:00:00+00')",
}


def _recount_statements(vendor: str) -> list[str]:
    if vendor not in CREATED_SLOT:
        return []
    slot, day = CREATED_SLOT[vendor], DUE_DAY[vendor]
    return [
        *RECOUNT_OPEN,
        "DELETE FROM cases_createdcount",
        f"INSERT INTO cases_createdcount (slot, stream_id, count) "  # noqa: S608 (constants only)
        f"SELECT {slot}, stream_id, COUNT(*) FROM cases_case GROUP BY {slot}, stream_id",
        "DELETE FROM cases_openduecount",
        f"INSERT INTO cases_openduecount (day, stream_id, count) "  # noqa: S608 (constants only)
        f"SELECT {day}, stream_id, COUNT(*) FROM cases_case "
        f"WHERE {IS_OPEN} AND due_date IS NOT NULL "
        f"GROUP BY {day}, stream_id",
    ]


def install(schema_editor) -> None:
    """Create the triggers and count the cases already there (run by the migration adding the counts)."""
    vendor = schema_editor.connection.vendor
    statements = {"sqlite": list(SQLITE_TRIGGERS.values()), "postgresql": POSTGRES_SQL}.get(vendor, [])
    for statement in [*statements, *_recount_statements(vendor)]:
        schema_editor.execute(statement)


def uninstall(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    for statement in {"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE}.get(vendor, []):
        schema_editor.execute(statement)


def recount(connection=None) -> None:
    """Rebuild every count from the cases (inside the caller's transaction, if any)."""
    conn = connection or default_connection
    with conn.cursor() as cursor:
        for statement in _recount_statements(conn.vendor):
            cursor.execute(statement)


def ensure_sqlite_triggers(using=None, **kwargs) -> bool:
    """Recreate missing triggers and recount; True when something was repaired."""
    conn = connections[using] if using else default_connection
    if conn.vendor != "sqlite":
        return False
    with conn.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        present = {name for (name,) in cursor.fetchall()}
        if not {"cases_opencasecount", "cases_createdcount", "cases_openduecount"} <= present:
            return False  # the counts' tables are not migrated yet
        missing = [name for name in SQLITE_TRIGGERS if name not in present]
        for name in missing:
            cursor.execute(SQLITE_TRIGGERS[name])
    if missing:
        recount(conn)
    return bool(missing)
