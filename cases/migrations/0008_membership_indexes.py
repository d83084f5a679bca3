"""Indexes for people who see only some streams: their dashboard's delivery health and chart,
and their overdue filter and its count, stay index ranges that also give each case's stream,
instead of reading a row per case."""

from django.db import migrations, models


def analyze(apps, schema_editor):
    # SQLite's planner weighs new indexes only with fresh figures (sqlite_stat1).
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("ANALYZE cases_case")
        schema_editor.execute("ANALYZE cases_createdcount")


class Migration(migrations.Migration):
    dependencies = [("cases", "0007_browse_speed")]

    operations = [
        migrations.AddIndex(
            model_name="case",
            index=models.Index(fields=["state", "stream"], name="case_state_stream"),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(
                    ("state", "delivered"),
                    models.Q(("status_category__in", ("resolved", "closed")), _negated=True),
                ),
                fields=["created_at", "id", "due_date", "state", "status_category", "stream"],
                name="case_open_stream_newest",
            ),
        ),
        migrations.RemoveIndex(model_name="case", name="case_open_newest"),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(
                    ("state", "delivered"),
                    models.Q(("status_category__in", ("resolved", "closed")), _negated=True),
                ),
                fields=["due_date", "id", "stream"],
                name="case_open_due_stream",
            ),
        ),
        migrations.RemoveIndex(model_name="case", name="case_open_due"),
        migrations.AddIndex(
            model_name="createdcount",
            index=models.Index(fields=["stream", "slot"], name="created_count_stream_slot"),
        ),
        migrations.RunPython(analyze, migrations.RunPython.noop),
    ]
