"""A status's ``lname`` as Kore answers it (getCases), to send back in updateCase's status
object. Statuses learned before keep it empty until the sync sees them again; until then the
lower-cased name is sent, which is what Kore's answers show."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0022_sync_dates_and_full_read_outcome"),
    ]

    operations = [
        migrations.AddField(
            model_name="korestatus",
            name="lname",
            field=models.CharField(blank=True, max_length=80),
        ),
    ]
