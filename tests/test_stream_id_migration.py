"""Making the Kore stream id unique among active streams never blocks a deploy: duplicates are
deactivated, the most recently changed one stays, and the audit trail says so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("cases", "0011_due_day_index")]
AFTER = [("cases", "0012_delivery_fidelity")]


@pytest.mark.django_db(transaction=True)
def test_duplicate_active_stream_ids_keep_the_most_recently_changed():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    Stream = executor.loader.project_state(BEFORE).apps.get_model("cases", "Stream")
    now = timezone.now()
    for name, stream_id, age in (("Old", "st-dup", 3), ("New", "st-dup", 1), ("Other", "st-other", 5)):
        stream = Stream.objects.create(
            name=name, host="https://platform.kore.ai", stream_id=stream_id, client_id="c"
        )
        Stream.objects.filter(pk=stream.pk).update(updated_at=now - timedelta(days=age))

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps
    Stream, AuditEvent = apps.get_model("cases", "Stream"), apps.get_model("cases", "AuditEvent")
    assert dict(Stream.objects.values_list("name", "is_active")) == {"Old": False, "New": True, "Other": True}
    event = AuditEvent.objects.get()
    assert event.action == "stream.deactivated" and event.target_repr == "Old"
    assert "same Kore stream id" in event.details["reason"]

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
