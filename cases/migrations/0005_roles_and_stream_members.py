"""Roles (Administrators, Agents, Viewers groups) and stream membership.

Nobody loses access on upgrade: staff become Administrators, and every other active person, who
saw every case before roles existed, becomes an Agent and a member of every stream.
"""

from django.conf import settings
from django.db import migrations, models

# A frozen copy of cases/roles.py's groups, as migrations must not follow later code changes.
GROUP_PERMISSIONS = {
    "Administrators": [
        ("stream", "manage_portal", "Can manage streams, templates, API clients and users"),
        ("stream", "view_all_streams", "Can see the cases of every stream"),
        ("case", "add_case", "Can add case"),
        ("case", "change_case", "Can change case"),
        ("case", "view_case", "Can view case"),
    ],
    "Agents": [("case", "add_case", "Can add case"), ("case", "view_case", "Can view case")],
    "Viewers": [("case", "view_case", "Can view case")],
}


def create_roles(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Stream = apps.get_model("cases", "Stream")

    groups = {}
    for group_name, permissions in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        for model, codename, name in permissions:
            content_type, _ = ContentType.objects.get_or_create(app_label="cases", model=model)
            permission, _ = Permission.objects.get_or_create(
                content_type=content_type, codename=codename, defaults={"name": name}
            )
            group.permissions.add(permission)
        groups[group_name] = group

    streams = list(Stream.objects.all())
    for user in User.objects.filter(is_superuser=False, is_active=True):
        if user.is_staff:
            user.groups.add(groups["Administrators"])
        else:
            user.groups.add(groups["Agents"])
            user.member_streams.add(*streams)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0004_audit_events"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="stream",
            options={
                "ordering": ["name"],
                "permissions": [
                    ("manage_portal", "Can manage streams, templates, API clients and users"),
                    ("view_all_streams", "Can see the cases of every stream"),
                ],
            },
        ),
        migrations.AddField(
            model_name="stream",
            name="members",
            field=models.ManyToManyField(
                blank=True, related_name="member_streams", to=settings.AUTH_USER_MODEL, verbose_name="Members"
            ),
        ),
        migrations.RunPython(create_roles, migrations.RunPython.noop),
    ]
