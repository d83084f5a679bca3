"""Working cases from the portal, and the gateway for all six Kore endpoints.

Schema: changes of cases and tasks (CaseAction), tasks (CaseTask), task templates, bulk changes;
an API client's endpoints and weight; idempotency keys for every write; the act_on_case
permission; descriptions in a case's history.

Nobody loses or gains access on upgrade: API clients made before keep what they could do then
(createCase and the reads), and agents and administrators may act on the cases they see.
"""

import cases.models.streams
import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


# Frozen copies: migrations must not follow later code changes.
LEGACY_ENDPOINTS = ["createCase", "getCases", "getTasks"]
ACTING_GROUPS = ("Administrators", "Agents")


def keep_what_existing_clients_had(apps, schema_editor):
    ApiClient = apps.get_model("cases", "ApiClient")
    ApiClient.objects.update(endpoints=LEGACY_ENDPOINTS)


def let_agents_act(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    content_type, _ = ContentType.objects.get_or_create(app_label="cases", model="case")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="act_on_case",
        defaults={"name": "Can change cases and their tasks at Kore"},
    )
    for group in Group.objects.filter(name__in=ACTING_GROUPS):
        group.permissions.add(permission)


class Migration(migrations.Migration):

    dependencies = [
        ('cases', '0016_views_indexes'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('auth', '0012_alter_user_first_name_max_length'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='case',
            options={'ordering': ['-created_at', '-id'], 'permissions': [('act_on_case', 'Can change cases and their tasks at Kore')]},
        ),
        migrations.AddField(
            model_name='apiclient',
            name='endpoints',
            field=models.JSONField(blank=True, default=cases.models.streams.all_endpoints),
        ),
        migrations.AddField(
            model_name='apiclient',
            name='weight',
            field=models.PositiveSmallIntegerField(default=1, help_text='Its share of the rate limit against the other API clients waiting (2: twice as many calls).', validators=[django.core.validators.MinValueValidator(1)]),
        ),
        migrations.AlterField(
            model_name='casechange',
            name='field',
            field=models.CharField(choices=[('name', 'Title'), ('desc', 'Description'), ('status', 'Status'), ('priority', 'Priority'), ('assignee', 'Assignee'), ('due_date', 'Due date')], max_length=20),
        ),
        migrations.AlterField(
            model_name='casechange',
            name='source',
            field=models.CharField(default='sync', help_text='sync, refresh, full read, gateway (a read through the API), or portal or api (a change made there)', max_length=20),
        ),
        migrations.AlterField(
            model_name='idempotencykey',
            name='case',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='cases.case'),
        ),
        migrations.CreateModel(
            name='BulkAction',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('summary', models.CharField(max_length=300)),
                ('total', models.PositiveIntegerField()),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('requested_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                ('stream', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='cases.stream')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='CaseAction',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('attempt_count', models.PositiveIntegerField(default=0)),
                ('last_error', models.TextField(blank=True)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('sending_started_at', models.DateTimeField(blank=True, null=True)),
                ('lookup_required', models.BooleanField(default=False)),
                ('http_status', models.PositiveIntegerField(blank=True, null=True)),
                ('response_body', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('kind', models.CharField(choices=[('update_case', 'Change of the case'), ('update_task', 'Change of a task')], default='update_case', max_length=20)),
                ('body', models.JSONField()),
                ('changes', models.JSONField(blank=True, default=dict)),
                ('based_on', models.DateTimeField(blank=True, null=True)),
                ('sent_based_on', models.DateTimeField(blank=True, null=True)),
                ('state', models.CharField(choices=[('queued', 'Pending at Kore'), ('sending', 'Pending at Kore'), ('retrying', 'Pending at Kore (retrying)'), ('confirmed', 'Confirmed by Kore'), ('refused', 'Refused by Kore'), ('superseded', 'Not sent: changed at Kore meanwhile'), ('failed', 'Failed')], default='queued', max_length=20)),
                ('settled_at', models.DateTimeField(blank=True, null=True)),
                ('api_client', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='cases.apiclient')),
                ('bulk', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='actions', to='cases.bulkaction')),
                ('case', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='actions', to='cases.case')),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.AddField(
            model_name='idempotencykey',
            name='action',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='cases.caseaction'),
        ),
        migrations.CreateModel(
            name='CaseTask',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('attempt_count', models.PositiveIntegerField(default=0)),
                ('last_error', models.TextField(blank=True)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('sending_started_at', models.DateTimeField(blank=True, null=True)),
                ('lookup_required', models.BooleanField(default=False)),
                ('http_status', models.PositiveIntegerField(blank=True, null=True)),
                ('response_body', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('origin', models.CharField(choices=[('portal', 'Portal'), ('kore', 'Made at Kore')], default='portal', max_length=10)),
                ('request_body', models.JSONField(blank=True, default=dict)),
                ('state', models.CharField(choices=[('queued', 'Queued'), ('sending', 'Sending'), ('retrying', 'Retrying'), ('delivered', 'At Kore'), ('failed', 'Failed'), ('needs_review', 'Needs review')], default='queued', max_length=20)),
                ('review_candidates', models.JSONField(blank=True, default=list)),
                ('name', models.CharField(max_length=500)),
                ('desc', models.TextField(blank=True)),
                ('kore_id', models.CharField(blank=True, max_length=120, null=True, unique=True, verbose_name='Kore _id')),
                ('ref_id', models.CharField(blank=True, max_length=60, verbose_name='refId')),
                ('status_kore_id', models.CharField(blank=True, max_length=120)),
                ('status_name', models.CharField(blank=True, max_length=80)),
                ('status_category', models.CharField(blank=True, max_length=40)),
                ('priority_kore_id', models.CharField(blank=True, max_length=120)),
                ('priority_name', models.CharField(blank=True, max_length=80)),
                ('priority_color', models.CharField(blank=True, max_length=20)),
                ('kore_task', models.JSONField(blank=True, help_text='The task as Kore last answered it.', null=True)),
                ('kore_created_at', models.DateTimeField(blank=True, null=True)),
                ('kore_updated_at', models.DateTimeField(blank=True, null=True)),
                ('delivered_at', models.DateTimeField(blank=True, null=True)),
                ('api_client', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='cases.apiclient')),
                ('case', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='tasks', to='cases.case')),
                ('requested_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['case', 'created_at', 'id'],
            },
        ),
        migrations.AddField(
            model_name='caseaction',
            name='task',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='actions', to='cases.casetask'),
        ),
        migrations.AddField(
            model_name='idempotencykey',
            name='task',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='cases.casetask'),
        ),
        migrations.CreateModel(
            name='TaskTemplate',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('template_id', models.CharField(max_length=120, validators=[django.core.validators.RegexValidator('^ttm-[A-Za-z0-9-]+$', 'A Kore task template id looks like ttm-…')], verbose_name='Kore task template id')),
                ('name', models.CharField(max_length=120, verbose_name='Display name')),
                ('default_source', models.CharField(default='rtm', max_length=60)),
                ('is_active', models.BooleanField(default=True, verbose_name='Active')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('stream', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='task_templates', to='cases.stream')),
            ],
            options={
                'ordering': ['stream__name', 'name'],
            },
        ),
        migrations.AddField(
            model_name='casetask',
            name='template',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='tasks', to='cases.tasktemplate'),
        ),
        migrations.AddIndex(
            model_name='caseaction',
            index=models.Index(fields=['case', 'state'], name='action_case_state'),
        ),
        migrations.AddIndex(
            model_name='caseaction',
            index=models.Index(fields=['state', 'next_attempt_at'], name='action_state_next'),
        ),
        migrations.AddIndex(
            model_name='caseaction',
            index=models.Index(fields=['bulk', 'state'], name='action_bulk_state'),
        ),
        migrations.AddConstraint(
            model_name='tasktemplate',
            constraint=models.UniqueConstraint(fields=('stream', 'template_id'), name='unique_task_template_per_stream'),
        ),
        migrations.AddIndex(
            model_name='casetask',
            index=models.Index(fields=['state', 'next_attempt_at'], name='task_state_next'),
        ),
        migrations.AddIndex(
            model_name='casetask',
            index=models.Index(fields=['case', 'created_at'], name='task_case_created'),
        ),
        migrations.AddConstraint(
            model_name='casetask',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('state', 'delivered'), _negated=True), ('kore_id__isnull', False), _connector='OR'), name='delivered_task_has_kore_id'),
        ),
        migrations.RunPython(keep_what_existing_clients_had, migrations.RunPython.noop),
        migrations.RunPython(let_agents_act, migrations.RunPython.noop),
    ]
