"""PostgreSQL: the words of a case's name and description kept in a stored column.

Until now the GIN index of migration 0003 was on an expression, so a word search read in the
list's order computed ``to_tsvector`` again for every case it walked. ``search_words`` is a
generated column the database fills on every insert and update, with the GIN index on it;
cases/browse/search.py searches it. SQLite keeps its FTS5 table.

Adding the column rewrites the table (locked meanwhile; docs/deploy.md says for how long), which
also empties its visibility map, so the migration ends with VACUUM ANALYZE; VACUUM cannot run
in a transaction, hence ``atomic = False`` and statements that can be run again.
"""

from django.db import migrations

FORWARD = [
    """ALTER TABLE cases_case ADD COLUMN IF NOT EXISTS search_words tsvector
        GENERATED ALWAYS AS (
            to_tsvector('simple'::regconfig, COALESCE("name", '') || ' ' || COALESCE("desc", ''))
        ) STORED""",
    "CREATE INDEX IF NOT EXISTS case_search_words ON cases_case USING GIN (search_words)",
    "DROP INDEX IF EXISTS cases_case_search",
    "VACUUM (ANALYZE) cases_case",
]
BACKWARD = [
    """CREATE INDEX IF NOT EXISTS cases_case_search ON cases_case USING GIN (
        to_tsvector('simple'::regconfig, COALESCE("name", '') || ' ' || COALESCE("desc", '')))""",
    "ALTER TABLE cases_case DROP COLUMN IF EXISTS search_words",
]


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("cases", "0008_membership_indexes")]

    operations = [migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD))]
