"""Upgrading to roles takes nobody's access away: staff become administrators, everyone else an
agent of every stream (before roles, every signed-in person saw every case)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("cases", "0004_audit_events")]
AFTER = [("cases", "0005_roles_and_stream_members")]


@pytest.mark.django_db(transaction=True)
def test_existing_people_keep_their_access():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    # Before roles there were no groups: the ones later migrations made in the test database
    # (e.g. agents' act_on_case) are not what an upgrade from here finds.
    old.get_model("auth", "Group").objects.all().delete()
    User = old.get_model("auth", "User")
    Stream = old.get_model("cases", "Stream")
    for n in range(2):
        Stream.objects.create(
            name=f"Stream {n}", host="https://platform.kore.ai", stream_id=f"st-{n}", client_id=f"cs-{n}"
        )
    User.objects.create(username="staffer", is_staff=True)
    User.objects.create(username="member")
    User.objects.create(username="root", is_staff=True, is_superuser=True)
    User.objects.create(username="gone", is_active=False)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    User = new.get_model("auth", "User")

    def groups(name):
        return sorted(User.objects.get(username=name).groups.values_list("name", flat=True))

    assert groups("staffer") == ["Administrators"]
    assert groups("member") == ["Agents"]
    assert groups("root") == [] and groups("gone") == []
    assert User.objects.get(username="member").member_streams.count() == 2
    admin_permissions = set(
        new.get_model("auth", "Group")
        .objects.get(name="Administrators")
        .permissions.values_list("codename", flat=True)
    )
    assert {"manage_portal", "view_all_streams", "add_case", "view_case", "change_case"} == admin_permissions

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
