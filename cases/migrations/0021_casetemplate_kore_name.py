from collections import Counter

from django.db import migrations, models

RECENT = 50  # delivered cases read per template: enough to see Kore's name, bounded on big tables


def learn_kore_names(apps, schema_editor):
    """Templates that already have cases at Kore learn Kore's name for them from those cases
    (``caseTmp`` of the case as Kore last answered it), so that a look-up right after the upgrade
    recognises them too. The name most of the recent cases carry wins: a case a person adopted
    despite another template does not decide it."""
    CaseTemplate = apps.get_model("cases", "CaseTemplate")
    Case = apps.get_model("cases", "Case")
    for template in CaseTemplate.objects.all().only("pk", "template_id"):
        answers = (
            Case.objects.filter(template=template, origin="portal", state="delivered")
            .exclude(kore_case=None)
            .order_by("-pk")
            .values_list("kore_case", flat=True)[:RECENT]
        )
        names = Counter(
            answer["caseTmp"].strip()
            for answer in answers
            if isinstance(answer, dict) and isinstance(answer.get("caseTmp"), str) and answer["caseTmp"].strip()
        )
        names.pop(template.template_id, None)
        if names:
            name = names.most_common(1)[0][0][:120]
            CaseTemplate.objects.filter(pk=template.pk).update(kore_name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0020_caseaction_holds_next"),
    ]

    operations = [
        migrations.AddField(
            model_name="casetemplate",
            name="kore_name",
            field=models.CharField(blank=True, editable=False, max_length=120, verbose_name="Name at Kore"),
        ),
        migrations.RunPython(learn_kore_names, migrations.RunPython.noop),
    ]
