"""Opening the gateway to all six endpoints takes nothing away and gives nothing unasked: API
clients made before keep what they could call then (createCase and the reads), new ones get all
six, and agents and administrators may act on the cases they see."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cases.models import ApiClient
from cases.models.streams import all_endpoints

BEFORE = [("cases", "0016_views_indexes")]
AFTER = [("cases", "0017_case_actions_and_gateway")]


@pytest.mark.django_db(transaction=True)
def test_existing_clients_keep_what_they_had_and_agents_may_act():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    old.get_model("cases", "ApiClient").objects.create(
        name="Old tool", client_id="cs-old", secret_encrypted="x"
    )
    Group = old.get_model("auth", "Group")
    for name in ("Administrators", "Agents", "Viewers"):
        Group.objects.get_or_create(name=name)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    assert new.get_model("cases", "ApiClient").objects.get(name="Old tool").endpoints == [
        "createCase",
        "getCases",
        "getTasks",
    ]
    acting = set(
        new.get_model("auth", "Group")
        .objects.filter(permissions__codename="act_on_case")
        .values_list("name", flat=True)
    )
    assert acting == {"Administrators", "Agents"}

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    made_after = ApiClient.objects.create(name="New tool", client_id="cs-new", secret_encrypted="x")
    assert made_after.endpoints == all_endpoints() and len(all_endpoints()) == 6
    assert ApiClient.objects.get(name="Old tool").endpoints == ["createCase", "getCases", "getTasks"]
