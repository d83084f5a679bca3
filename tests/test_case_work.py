"""Working a case from its page and the list: the forms, what is sent, who sees what, bulk changes
with their progress, and the task templates administrators enter. Against the simulator over
real HTTP (Celery runs the deliveries in the test's process)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from cases.models import AuditEvent, BulkAction, CaseAction, CaseTask, KorePriority, KoreStatus, TaskTemplate
from cases.people import roles
from cases.sync import runs
from tests.conftest import learn_catalog
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def change_form(case, **changes) -> dict:
    """What the page's form posts: every field as shown, with ``changes`` made."""
    data = {
        "name": case.name,
        "desc": case.desc,
        "due_date": "",
        "assignee": "",
        "based_on": case.kore_updated_at.isoformat() if case.kore_updated_at else "",
    }
    data.update(changes)
    return data


def test_an_agent_changes_the_status_from_the_case_page(worked_case, member_client, simulator):
    in_progress = KoreStatus.objects.get(stream=worked_case.stream, name="In Progress")
    page = member_client.get(worked_case.get_absolute_url()).content.decode()
    assert "Send the change to Kore" in page and "In Progress" in page
    response = member_client.post(
        reverse("case_change", args=[worked_case.pk]), change_form(worked_case, status=in_progress.pk)
    )
    assert response.status_code == 302
    action = CaseAction.objects.get()
    assert action.body == {
        "status": {
            "_id": in_progress.kore_id,
            "name": "In Progress",
            "lname": "in progress",
            "statusCategory": "in_progress",
        }
    }
    assert action.state == CaseAction.State.CONFIRMED
    page = member_client.get(worked_case.get_absolute_url()).content.decode()
    assert "Confirmed by Kore" in page and "Status: Open → In Progress" in page
    assert AuditEvent.objects.filter(action="case.change_requested", actor__username="bob").exists()


def test_a_change_read_as_confirmed_is_read_applied_too(worked_case, member_client, simulator, monkeypatch):
    """The worker confirms the change while the panel is being read: the panel that shows it
    confirmed (and stops polling) shows the case as Kore now has it, not as it was."""
    from cases.actions import send
    from cases.actions.changes import Wanted, case_change, case_change_submit
    from cases.web import case_work

    in_progress = KoreStatus.objects.get(stream=worked_case.stream, name="In Progress")
    body, shown = case_change(worked_case, Wanted(status=in_progress))
    action = case_change_submit(case=worked_case, body=body, changes=shown, enqueue=False)
    read_changes = case_work.work_context

    def confirmed_meanwhile(request, case):
        send.action_deliver(action_id=action.pk)
        return read_changes(request, case)

    monkeypatch.setattr(case_work, "work_context", confirmed_meanwhile)
    panel = member_client.get(reverse("case_work", args=[worked_case.pk])).content.decode()
    assert "Confirmed by Kore" in panel
    status = panel[panel.index('id="case-status"') :]
    assert "In Progress" in status[: status.index("</section>")]


def test_a_page_with_nothing_changed_sends_nothing(worked_case, member_client, simulator):
    response = member_client.post(
        reverse("case_change", args=[worked_case.pk]), change_form(worked_case), follow=True
    )
    assert "Nothing to change" in response.content.decode()
    assert not CaseAction.objects.exists() and simulator.calls["updateCase"] == 0


def test_the_form_does_not_overwrite_what_kore_changed_since_the_page_was_opened(
    worked_case, member_client, simulator
):
    opened = change_form(worked_case)
    simulator.agent.set_priority(worked_case.kore_id, "Low")
    runs.sync_account(runs.lease_key(worked_case.stream), [worked_case.stream.pk])
    high = KorePriority.objects.get(stream=worked_case.stream, name="High")
    response = member_client.post(
        reverse("case_change", args=[worked_case.pk]), {**opened, "priority": high.pk}
    )
    assert response.status_code == 400
    assert "Kore changed priority of this case since you opened the page" in response.content.decode()
    assert not CaseAction.objects.exists()


def test_a_viewer_sees_the_changes_and_has_no_form(worked_case, client, simulator):
    viewer = UserFactory(username="vera", role=roles.VIEWER)
    worked_case.stream.members.add(viewer)
    CaseAction.objects.create(
        case=worked_case, body={"name": "x"}, changes={"name": {"old": "a", "new": "x"}}, requested_by=viewer
    )
    client.force_login(viewer)
    page = client.get(worked_case.get_absolute_url()).content.decode()
    assert "pending at Kore" in page and "Send the change to Kore" not in page
    assert (
        client.post(reverse("case_change", args=[worked_case.pk]), change_form(worked_case)).status_code
        == 403
    )


def test_an_agent_adds_a_task_and_moves_it_on(worked_case, member_client, simulator):
    template = TaskTemplate.objects.create(
        stream=worked_case.stream, template_id="ttm-call", name="Call back"
    )
    member_client.post(
        reverse("case_task_new", args=[worked_case.pk]),
        {"template": template.pk, "name": "Call the customer", "desc": "Before noon."},
    )
    task = CaseTask.objects.get()
    assert task.state == CaseTask.State.DELIVERED and task.request_body["taskTmp"] == "ttm-call"
    resolved = KoreStatus.objects.get(stream=worked_case.stream, name="Resolved")
    member_client.post(
        reverse("case_task_status", args=[worked_case.pk]), {"task": task.pk, "status": resolved.pk}
    )
    task.refresh_from_db()
    assert task.status_name == "Resolved"
    page = member_client.get(worked_case.get_absolute_url()).content.decode()
    assert "Call the customer" in page and task.ref_id in page


def test_the_list_offers_bulk_actions_for_one_stream(worked_case, member_client):
    listing = member_client.get(reverse("case_list")).content.decode()
    assert "Apply to selected" not in listing and "Filter the list to one stream" in listing
    listing = member_client.get(reverse("case_list"), {"stream": worked_case.stream_id}).content.decode()
    assert "Apply to selected" in listing and f'value="{worked_case.pk}" form="bulk-form"' in listing


def test_a_bulk_change_sets_the_priority_of_several_cases_with_progress(template, member_client, simulator):
    from cases.delivery.deliver import case_deliver

    cases = [CaseFactory(template=template) for _ in range(3)]
    for case in cases:
        case_deliver(case_id=case.pk)
    learn_catalog(template.stream)
    high = KorePriority.objects.get(stream=template.stream, name="High")
    response = member_client.post(
        reverse("bulk_change"),
        {"stream": template.stream_id, "case": [case.pk for case in cases], "priority": high.pk},
    )
    bulk = BulkAction.objects.get()
    assert response.url == reverse("bulk_detail", args=[bulk.pk])
    assert bulk.total == 3 and bulk.summary == "Priority → High"
    assert all(doc["priority"]["name"] == "High" for doc in simulator.cases)
    # Each case got one updateCase with the priority object as the table gives it.
    assert simulator.bodies("updateCase") == [{"priority": {"_id": high.kore_id, "name": "High"}}] * 3
    progress = member_client.get(response.url).content.decode()
    assert "100%" in progress and "3 confirmed" in progress


def test_a_bulk_change_takes_cases_of_one_stream_only(worked_case, member_client, simulator):
    from tests.factories import CaseTemplateFactory

    other = CaseFactory(template=CaseTemplateFactory(), state="delivered", kore_id="ci-other", ref_id="CS9")
    high = KorePriority.objects.get(stream=worked_case.stream, name="High")
    response = member_client.post(
        reverse("bulk_change"),
        {"stream": worked_case.stream_id, "case": [worked_case.pk, other.pk], "priority": high.pk},
        follow=True,
    )
    assert "Select cases of one stream" in response.content.decode()
    assert not BulkAction.objects.exists()


def test_administrators_enter_task_templates_per_stream(staff_client, stream):
    response = staff_client.post(
        reverse("task_template_new"),
        {
            "stream": stream.pk,
            "template_id": "ttm-1234",
            "name": "Site visit",
            "default_source": "rtm",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    assert TaskTemplate.objects.get().name == "Site visit"
    assert "ttm-1234" in staff_client.get(reverse("task_template_list")).content.decode()
    refused = staff_client.post(
        reverse("task_template_new"), {"stream": stream.pk, "template_id": "ctm-1", "name": "Wrong"}
    )
    assert "A Kore task template id looks like ttm-" in refused.content.decode()


def test_every_status_category_of_kore_has_its_colours(worked_case, member_client):
    """The badges' class is status-{{ category|slugify }}, and slugify keeps Kore's underscores:
    each of Kore's default categories is styled under the class the page really uses."""
    import re
    from pathlib import Path

    from django.conf import settings
    from django.utils.text import slugify

    from cases.kore.simulator.catalog import STATUSES

    css = (Path(settings.BASE_DIR) / "static" / "css" / "portal.css").read_text()
    styled = set(re.findall(r"\.status-([\w-]+)", css))
    assert {slugify(category) for _, category, _ in STATUSES} <= styled
    page = member_client.get(worked_case.get_absolute_url()).content.decode()
    on_hold = f'class="badge status-{slugify("on_hold")}"'
    assert on_hold in page  # the panel's On Hold choice


def test_the_learned_colour_of_a_status_is_shown(worked_case, member_client, task_template, simulator):
    from cases.actions.new_tasks import task_body, task_submit

    body = task_body(case=worked_case, template=task_template, name="Call back", desc="Soon.")
    task_submit(case=worked_case, template=task_template, body=body)
    KoreStatus.objects.filter(stream=worked_case.stream, name="Open").update(color="#0EA5E9")
    page = member_client.get(worked_case.get_absolute_url()).content.decode()
    # The case's status, its choice in the panel, and the task's status (Open too).
    assert page.count('<span class="dot" data-color="#0EA5E9"></span>') == 3
    assert "colours.js" in page  # which paints the dots (no inline style under the CSP)


def test_a_bulk_change_estimates_its_end_at_the_accounts_shared_pace(
    worked_case, member_user, member_client, settings
):
    from cases.actions.changes import Wanted, case_change
    from tests.factories import StreamFactory

    settings.KORE_RATE_WINDOW_SECONDS = 60.0
    stream = worked_case.stream
    stream.rate_limit = 61
    stream.save()
    # Another stream of the same account, with a lower limit: the account's calls a minute.
    StreamFactory(host=stream.host, account_id=stream.account_id, rate_limit=11)
    bulk = BulkAction.objects.create(
        stream=stream, requested_by=member_user, summary="Priority → High", total=1
    )
    body, shown = case_change(
        worked_case, Wanted(priority=KorePriority.objects.get(stream=stream, name="High"))
    )
    CaseAction.objects.create(case=worked_case, bulk=bulk, body=body, changes=shown)  # pending
    page = member_client.get(reverse("bulk_detail", args=[bulk.pk]))
    assert page.context["eta_seconds"] == 6  # ten calls a minute, not sixty
