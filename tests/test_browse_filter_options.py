"""The list's filters offer the statuses, priorities and assignees Kore uses in the streams a
person may see, as the sync learned them: a status no case has yet is offered, another stream's
is not, and one that only some of the person's streams use says which."""

from __future__ import annotations

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import browse
from cases.models import KoreAssignee, KorePriority, KoreStatus
from cases.people import roles
from tests.factories import CaseFactory, CaseTemplateFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(db):
    """An agent of the Service desk and Field work streams, not of Audit."""
    service, field, audit = (StreamFactory(name=name) for name in ("Service desk", "Field work", "Audit"))
    user = UserFactory(username="carla")
    roles.set_role(user, roles.AGENT)
    user.member_streams.set([service, field])
    for stream, kore_id, name, category in (
        (service, "sts-1", "Open", "open"),
        (field, "sts-2", "Open", "open"),
        (service, "sts-3", "Waiting on vendor", "on_hold"),
        (audit, "sts-4", "Under audit", "in_review"),
    ):
        KoreStatus.objects.create(stream=stream, kore_id=kore_id, name=name, category=category)
    for stream, kore_id, name, score in (
        (service, "pr-1", "Urgent", 9),
        (service, "pr-2", "Low", 1),
        (field, "pr-3", "Low", 1),
        (audit, "pr-4", "Audit only", 5),
    ):
        KorePriority.objects.create(stream=stream, kore_id=kore_id, name=name, score=score)
    KoreAssignee.objects.create(stream=service, kind="agent", kore_id="a-1", name="Ana Ruiz")
    KoreAssignee.objects.create(stream=audit, kind="agent", kore_id="a-2", name="Auditor Ames")
    # A case of a stream she may not see carries a status: its columns are not where options come from.
    CaseFactory(template=CaseTemplateFactory(stream=audit), status_name="Audit hold", assignee_name="Ames")
    return user


def options(page: str, select: str) -> list[tuple[str, str]]:
    found = re.search(rf'<select id="id_{select}"[^>]*>(.*?)</select>', page, re.S)
    assert found, select
    return [
        (html.unescape(value), html.unescape(label))
        for value, label in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', found[1])
    ]


def test_the_filters_offer_what_kore_uses_in_the_streams_one_may_see(client, agent):
    client.force_login(agent)
    page = client.get(reverse("case_list")).content.decode()
    assert options(page, "status") == [
        ("on_hold", "on_hold (Service desk)"),
        ("open", "open"),
        ("Open", "Open"),
        ("Waiting on vendor", "Waiting on vendor (Service desk)"),  # no case has it yet
    ]
    assert options(page, "priority") == [("Low", "Low"), ("Urgent", "Urgent (Service desk)")]  # by score
    assert options(page, "assignee") == [("Ana Ruiz", "Ana Ruiz")]
    for elsewhere in ("Under audit", "in_review", "Audit only", "Auditor Ames", "Audit hold", "Ames"):
        assert elsewhere not in page


def test_the_learned_options_cost_one_query(agent):
    browse.FilterChoices.load(agent, with_values=False)  # the person's role, read once
    with CaptureQueriesContext(connection) as without:
        browse.FilterChoices.load(agent, with_values=False)
    with CaptureQueriesContext(connection) as with_values:
        browse.FilterChoices.load(agent)
    # What Kore uses (the three learned tables) and the sources cases carry, together.
    assert len(with_values) - len(without) == 1
