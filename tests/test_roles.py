"""Roles and stream membership: for every page and API endpoint, each kind of person gets exactly
what they should, and sees only the cases of their streams."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from cases.browse.dashboard import dashboard_figures
from cases.models import (
    BulkAction,
    Case,
    CaseAction,
    CaseTask,
    ImportBatch,
    KorePriority,
    KoreStatus,
    SavedView,
)
from cases.people import roles
from tests.factories import CaseFactory, CaseTemplateFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db

PEOPLE = ["anonymous", "no_role", "viewer", "agent", "administrator"]


@dataclass
class World:
    """Two streams; the viewer and the agent are members of "Support" only."""

    support_case: Case
    billing_case: Case
    batch: ImportBatch
    people: dict


@pytest.fixture
def world():
    support = StreamFactory(name="Support")
    billing = StreamFactory(name="Billing")
    support_template = CaseTemplateFactory(stream=support, name="Support request")
    billing_template = CaseTemplateFactory(stream=billing, name="Billing question")
    people = {
        "no_role": UserFactory(username="nora"),
        "viewer": UserFactory(username="vera", role=roles.VIEWER),
        "agent": UserFactory(username="abel", role=roles.AGENT),
        "administrator": UserFactory(username="ada", role=roles.ADMINISTRATOR),
    }
    support.members.add(people["viewer"], people["agent"])
    support_case = CaseFactory(
        template=support_template,
        state=Case.State.DELIVERED,
        ref_id="CS00000101",
        kore_id="ci-support",
        submitted_by=people["agent"],
    )
    billing_case = CaseFactory(
        template=billing_template, state=Case.State.DELIVERED, ref_id="CS00000202", kore_id="ci-billing"
    )
    batch = ImportBatch.objects.create(
        template=support_template, created_by=people["agent"], filename="cases.csv", total=0
    )
    return World(support_case, billing_case, batch, people)


def sign_in_as(client, world: World, who: str):
    if who != "anonymous":
        client.force_login(world.people[who])
    return client


# Who gets what: the status for each person, in PEOPLE's order.
SIGN_IN = 302
BROWSE = (SIGN_IN, 403, 200, 200, 200)
SUBMIT = (SIGN_IN, 403, 403, 200, 200)
ADMINISTER = (SIGN_IN, 403, 403, 403, 200)
OWN_ACCOUNT = (SIGN_IN, 200, 200, 200, 200)

PAGES = [
    ("home", BROWSE),
    ("case_list", BROWSE),
    ("case_export_csv", BROWSE),
    ("case_export_jsonl", BROWSE),
    ("saved_view_list", BROWSE),
    ("case_detail:support", BROWSE),
    ("case_detail:billing", (SIGN_IN, 403, 404, 404, 200)),
    ("case_new", SUBMIT),
    ("import_new", SUBMIT),
    ("import_example", SUBMIT),
    ("import_detail", SUBMIT),
    ("deliveries", ADMINISTER),
    ("stream_list", ADMINISTER),
    ("stream_new", ADMINISTER),
    ("stream_edit", ADMINISTER),
    ("template_list", ADMINISTER),
    ("template_new", ADMINISTER),
    ("template_edit", ADMINISTER),
    ("task_template_list", ADMINISTER),
    ("task_template_new", ADMINISTER),
    ("api_client_list", ADMINISTER),
    ("api_client_new", ADMINISTER),
    ("user_list", ADMINISTER),
    ("user_new", ADMINISTER),
    ("user_edit", ADMINISTER),
    ("audit_list", ADMINISTER),
    ("account", OWN_ACCOUNT),
    ("password_change", OWN_ACCOUNT),
    # The read API: anonymous callers get 401 (no session, no JWT), in Kore's error form.
    ("api_case_list", (401, 403, 200, 200, 200)),
    ("api_case_detail:support", (401, 403, 200, 200, 200)),
    ("api_case_detail:billing", (401, 403, 404, 404, 200)),
    ("api_stream_list", (401, 403, 200, 200, 200)),
    ("api_template_list", (401, 403, 200, 200, 200)),
]


def url_of(page: str, world: World) -> str:
    name, _, which = page.partition(":")
    case = world.billing_case if which == "billing" else world.support_case
    args = {
        "case_detail": [case.pk],
        "api_case_detail": [case.pk],
        "import_detail": [world.batch.pk],
        "stream_edit": [case.stream_id],
        "template_edit": [case.template_id],
        "user_edit": [world.people["viewer"].pk],
    }.get(name, [])
    return reverse(name, args=args)


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize(("page", "expected"), PAGES, ids=[page for page, _ in PAGES])
def test_role_matrix(client, world, who, page, expected):
    response = sign_in_as(client, world, who).get(url_of(page, world))
    assert response.status_code == expected[PEOPLE.index(who)]
    if response.status_code == 302:
        assert response.url.startswith(reverse("login"))


# Acting on a case at Kore: agents and administrators on the cases they see; viewers see, and
# cannot act. (The change is stored; in these tests nothing is sent.)
ACT = (SIGN_IN, 404, 403, 302, 302)
ACTIONS = [
    ("case_change:support", ACT, {"name": "A new title"}),
    ("case_change:billing", (SIGN_IN, 404, 404, 404, 302), {"name": "A new title"}),
    ("case_task_new:support", (SIGN_IN, 404, 403, 400, 400), {"name": "no template chosen"}),
    ("case_work:support", (SIGN_IN, 403, 200, 200, 200), None),
]


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize(("action", "expected", "data"), ACTIONS, ids=[action for action, _, _ in ACTIONS])
def test_who_may_act_on_a_case(client, world, who, action, expected, data):
    name, _, which = action.partition(":")
    case = world.billing_case if which == "billing" else world.support_case
    url = reverse(name, args=[case.pk])
    client = sign_in_as(client, world, who)
    response = client.get(url) if data is None else client.post(url, data)
    assert response.status_code == expected[PEOPLE.index(who)]
    if response.status_code == 302 and who == "anonymous":
        assert response.url.startswith(reverse("login"))


@pytest.fixture
def work(world):
    """What working cases needs besides: each stream's learned status and priority, a task of
    each case (one at Kore, one held for review, both asked by the agent) and the agent's bulk
    change."""
    agent = world.people["agent"]
    for case in (world.support_case, world.billing_case):
        KoreStatus.objects.create(
            stream=case.stream, kore_id=f"sts-{case.pk}", name="Resolved", category="resolved"
        )
        KorePriority.objects.create(stream=case.stream, kore_id=f"pr-{case.pk}", name="High")
        CaseTask.objects.create(
            case=case,
            name="Call back",
            state=CaseTask.State.DELIVERED,
            kore_id=f"ti-{case.pk}",
            requested_by=agent,
        )
        CaseTask.objects.create(case=case, name="Held", state=CaseTask.State.NEEDS_REVIEW, requested_by=agent)
    BulkAction.objects.create(
        stream=world.support_case.stream, requested_by=agent, summary="Priority → High", total=0
    )
    return world


def work_request(page: str, world: World) -> tuple[str, dict | None]:
    """The URL of a bulk or task page of the world, and what to post (None: a GET)."""
    name, _, which = page.partition(":")
    case = world.billing_case if which == "billing" else world.support_case
    task = case.tasks.get(state=CaseTask.State.DELIVERED)
    if name == "bulk_change":
        priority = KorePriority.objects.get(stream=case.stream)
        return reverse(name), {"stream": case.stream_id, "case": [case.pk], "priority": priority.pk}
    if name == "bulk_detail":
        return reverse(name, args=[BulkAction.objects.get().pk]), None
    if name == "case_task_status":
        status = KoreStatus.objects.get(stream=case.stream)
        return reverse(name, args=[case.pk]), {"task": task.pk, "status": status.pk}
    held = case.tasks.get(state=CaseTask.State.NEEDS_REVIEW)
    return reverse(name, args=[case.pk, held.pk]), {}


# (page, statuses in PEOPLE's order, whose 302 did the work). A bulk change of cases one may
# not see is sent back to the list (302), undone.
WORK = [
    ("bulk_change:support", (SIGN_IN, 403, 403, 302, 302), ("agent", "administrator")),
    ("bulk_change:billing", (SIGN_IN, 403, 403, 302, 302), ("administrator",)),
    ("bulk_detail", (SIGN_IN, 404, 404, 200, 200), ()),
    ("case_task_status:support", (SIGN_IN, 404, 403, 302, 302), ("agent", "administrator")),
    ("case_task_status:billing", (SIGN_IN, 404, 404, 404, 302), ("administrator",)),
    ("case_task_decide:support", (SIGN_IN, 404, 403, 302, 302), ("agent", "administrator")),
    ("case_task_decide:billing", (SIGN_IN, 404, 404, 404, 302), ("administrator",)),
]


def work_done(page: str) -> int:
    name = page.partition(":")[0]
    if name == "bulk_change":
        return BulkAction.objects.count() - 1  # the fixture's own
    if name == "case_task_status":
        return CaseAction.objects.count()
    return CaseTask.objects.filter(state=CaseTask.State.QUEUED).count()  # sent anyway


@pytest.mark.parametrize("who", PEOPLE)
@pytest.mark.parametrize(("page", "expected", "doers"), WORK, ids=[page for page, _, _ in WORK])
def test_who_may_work_in_bulk_and_on_tasks(client, work, who, page, expected, doers):
    url, data = work_request(page, work)
    client = sign_in_as(client, work, who)
    response = client.get(url) if data is None else client.post(url, data)
    assert response.status_code == expected[PEOPLE.index(who)]
    if response.status_code == 302 and who == "anonymous":
        assert response.url.startswith(reverse("login"))
    if data is not None:
        assert work_done(page) == (1 if who in doers else 0)


def test_the_admin_api_client_edit_page_and_posts_are_administrators_only(client, world):
    sign_in_as(client, world, "agent")
    for name, args in [
        ("stream_toggle", [world.support_case.stream_id]),
        ("stream_check", [world.support_case.stream_id]),
        ("deliveries_retry", []),
        ("user_sign_out_everywhere", [world.people["viewer"].pk]),
    ]:
        assert client.post(reverse(name, args=args)).status_code == 403


def test_lists_search_export_and_api_show_only_the_streams_of_a_member(client, world):
    sign_in_as(client, world, "viewer")
    listing = client.get(reverse("case_list")).content.decode()
    assert "CS00000101" in listing and "CS00000202" not in listing
    # The filter offers only the streams and templates the viewer may see.
    assert "Support request" in listing and "Billing question" not in listing
    # A refId of another stream's case is not found, not opened.
    response = client.get(reverse("case_list"), {"q": "CS00000202"})
    assert response.status_code == 200 and response.context["result"].cases == []
    # Filtering by a stream one may not see is refused like any unknown stream.
    billing = world.billing_case.stream_id
    assert client.get(reverse("case_list"), {"stream": billing}).status_code == 400
    exported = b"".join(client.get(reverse("case_export_csv")).streaming_content).decode()
    assert "CS00000101" in exported and "CS00000202" not in exported
    lines = b"".join(client.get(reverse("case_export_jsonl")).streaming_content).decode().splitlines()
    assert [json.loads(line)["refId"] for line in lines] == ["CS00000101"]
    api = client.get(reverse("api_case_list")).json()
    assert [row["refId"] for row in api["results"]] == ["CS00000101"]
    assert [row["name"] for row in client.get(reverse("api_stream_list")).json()] == ["Support"]
    assert [row["name"] for row in client.get(reverse("api_template_list")).json()] == ["Support request"]


def test_the_dashboard_counts_only_the_streams_of_a_member(world):
    viewer_figures = dashboard_figures(world.people["viewer"])
    assert [row["name"] for row in viewer_figures.open_by_stream] == ["Support"]
    admin_figures = dashboard_figures(world.people["administrator"])
    assert sorted(row["name"] for row in admin_figures.open_by_stream) == ["Billing", "Support"]
    nobody = dashboard_figures(world.people["no_role"])
    assert nobody.open_total == 0 and sum(count for _, count in nobody.created_per_day) == 0


def test_an_agent_submits_only_to_templates_of_their_streams(client, world):
    sign_in_as(client, world, "agent")
    form = client.get(reverse("case_new")).content.decode()
    assert "Support request" in form and "Billing question" not in form
    response = client.post(
        reverse("case_new"),
        {"template": world.billing_case.template_id, "name": "Sneaky", "requester_email": "a@example.com"},
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Case.objects.filter(name="Sneaky").exists()


def test_agents_retry_and_cancel_their_own_cases_administrators_any(client, world):
    queued = CaseFactory(template=world.support_case.template, submitted_by=world.people["agent"])
    someone_elses = CaseFactory(template=world.support_case.template)
    sign_in_as(client, world, "viewer")
    assert client.post(reverse("case_cancel", args=[queued.pk])).status_code == 403
    sign_in_as(client, world, "agent")
    assert client.post(reverse("case_cancel", args=[someone_elses.pk])).status_code == 403
    assert client.post(reverse("case_cancel", args=[queued.pk])).status_code == 302
    queued.refresh_from_db()
    assert queued.state == Case.State.CANCELLED
    sign_in_as(client, world, "administrator")
    assert client.post(reverse("case_cancel", args=[someone_elses.pk])).status_code == 302


def test_shared_saved_views_apply_within_what_each_person_may_see(client, world):
    SavedView.objects.create(owner=world.people["administrator"], name="Everything", shared=True)
    sign_in_as(client, world, "viewer")
    listing = client.get(SavedView.objects.get().get_absolute_url()).content.decode()
    assert "CS00000101" in listing and "CS00000202" not in listing


def test_roles_are_groups_with_exactly_their_permissions(world):
    for role in roles.ROLES.values():
        group = Group.objects.get(name=role.group)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert held == set(role.permissions)
    assert [roles.role_of(world.people[who]) for who in PEOPLE[1:]] == [
        None,
        roles.VIEWER,
        roles.AGENT,
        roles.ADMINISTRATOR,
    ]


def test_a_superuser_is_an_administrator_without_a_group(client, world):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    assert roles.role_of(root) == roles.ADMINISTRATOR and roles.sees_every_stream(root)
    client.force_login(root)
    assert client.get(reverse("user_list")).status_code == 200


def test_the_users_page_judges_roles_by_permission_not_group_name(
    staff_client, django_assert_max_num_queries
):
    """A company's own group holding an agent's permissions makes an agent, on every page."""
    roles.sync_role_groups()
    leads = Group.objects.create(name="Support leads")
    leads.permissions.set(Group.objects.get(name="Agents").permissions.all())
    for n in range(5):
        UserFactory(username=f"lead{n}").groups.add(leads)
    with django_assert_max_num_queries(12):  # as many for five people as for one
        page = staff_client.get(reverse("user_list")).content.decode()
    assert page.count("Agent") >= 5
