from django.db import migrations, models

PENDING_STATES = ("queued", "sending", "retrying")


def pending_changes_may_hold_next(apps, schema_editor):
    """Changes pending at the upgrade may have later changes waiting behind them, stored before
    anyone said so: they look for their next change when they settle, as every change did."""
    apps.get_model("cases", "CaseAction").objects.filter(state__in=PENDING_STATES).update(holds_next=True)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0019_task_events"),
    ]

    operations = [
        migrations.AddField(
            model_name="caseaction",
            name="holds_next",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(pending_changes_may_hold_next, migrations.RunPython.noop),
    ]
