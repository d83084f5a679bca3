"""A status's ``lname`` as Kore answers it (getCases), to send back in updateCase's status
object. Statuses learned before keep it empty until the sync sees them again; until then the
lower-cased name is sent, which is what Kore's answers show."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0020_caseaction_holds_next"),
    ]

    operations = [
        migrations.AddField(
            model_name="korestatus",
            name="lname",
            field=models.CharField(blank=True, max_length=80),
        ),
    ]
