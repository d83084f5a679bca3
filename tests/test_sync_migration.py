"""Migration 0015 (the sync from Kore) leaves every existing case as it was: made at the portal,
its template, dates, state and Kore's answer kept, and only reads the status and priority ids
updateCase needs out of the case Kore returned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("cases", "0014_oidc_identities")]
AFTER = [("cases", "0015_sync_from_kore")]
KEPT = ("name", "state", "created_at", "delivered_at", "template_id", "kore_id", "ref_id", "status_name",
        "priority_name", "due_date", "request_body", "kore_case")  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_existing_cases_stay_as_they_were():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    Stream, CaseTemplate, Case = (apps.get_model("cases", m) for m in ("Stream", "CaseTemplate", "Case"))
    stream = Stream.objects.create(
        name="Support", host="https://platform.kore.ai", stream_id="st-1", client_id="c"
    )
    template = CaseTemplate.objects.create(stream=stream, name="Hardware", template_id="ctm-1")
    long_ago = timezone.now() - timedelta(days=400)
    kore_case = {
        "_id": "ci-1",
        "status": {"_id": "sts-open", "name": "Open", "statusCategory": "open"},
        "priority": {"_id": "pr-high", "name": "High"},
    }
    delivered = Case.objects.create(
        stream=stream, template=template, name="Printer jam", desc="d", request_body={"name": "Printer jam"},
        state="delivered", kore_id="ci-1", ref_id="CS1", status_name="Open", priority_name="High",
        delivered_at=long_ago, due_date=long_ago + timedelta(days=2), kore_case=kore_case,
    )  # fmt: skip
    waiting = Case.objects.create(
        stream=stream, template=template, name="Still sending", desc="d", request_body={"name": "x"},
        state="retrying",
    )  # fmt: skip
    Case.objects.filter(pk=delivered.pk).update(created_at=long_ago)
    before = {row["id"]: row for row in Case.objects.values("id", *KEPT)}

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    Case = executor.loader.project_state(AFTER).apps.get_model("cases", "Case")
    after = {row["id"]: row for row in Case.objects.values("id", *KEPT)}
    assert after == before
    assert set(Case.objects.values_list("origin", flat=True)) == {"portal"}
    moved = Case.objects.get(pk=delivered.pk)
    assert (moved.status_kore_id, moved.priority_kore_id) == ("sts-open", "pr-high")
    assert moved.kore_seen_at is None and moved.kore_missing_since is None
    untouched = Case.objects.get(pk=waiting.pk)
    assert (untouched.status_kore_id, untouched.priority_kore_id) == ("", "")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
