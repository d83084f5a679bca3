"""The list's one-click views (Unresolved, Unassigned, My cases, Overdue, Closed, All), the origin
filter, the folding filter panel and the "made at Kore" marker: the same parameters on the list,
the exports and the read API."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from cases import browse
from cases.models import Case
from cases.people import roles
from tests.factories import CaseFactory, CaseTemplateFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db


def delivered(
    name: str, *, status: str = "Open", category: str = "open", assignee: str = "Asha Rao", **fields
):
    """A case Kore holds, made through the portal."""
    return CaseFactory(
        name=name,
        state=Case.State.DELIVERED,
        kore_id=f"ci-{name.lower().replace(' ', '-')}",
        status_name=status,
        status_category=category,
        assignee_name=assignee,
        **fields,
    )


def made_at_kore(
    name: str, *, stream, status: str = "Open", category: str = "open", assignee: str = "", **fields
):
    """A case made at Kore and found by the sync: no template, no body, no submitter."""
    return Case.objects.create(
        stream=stream,
        template=None,
        origin=Case.Origin.KORE,
        request_body={},
        name=name,
        state=Case.State.DELIVERED,
        kore_id=f"ci-{name.lower().replace(' ', '-')}",
        ref_id=f"CS{Case.objects.count() + 1:08d}",
        status_name=status,
        status_category=category,
        assignee_name=assignee,
        **fields,
    )


@pytest.fixture
def world(member_user):
    """One case of each kind that the views tell apart, in one stream bob (an agent) sees."""
    template = CaseTemplateFactory(name="IT support request")
    stream = template.stream
    now = timezone.now()
    cases = {
        "assigned": delivered("Assigned open", template=template),
        "unassigned": delivered(
            "Unassigned in progress",
            template=template,
            status="In Progress",
            category="in_progress",
            assignee="",
        ),
        "no category": delivered("No category yet", template=template, status="", category=""),
        "overdue": delivered("Overdue open", template=template, due_date=now - timedelta(hours=2)),
        "mine": delivered("Submitted by bob", template=template, submitted_by=member_user),
        "resolved": delivered("Resolved one", template=template, status="Resolved", category="resolved"),
        "closed": delivered("Closed one", template=template, status="Closed", category="closed", assignee=""),
        "kore unassigned": made_at_kore("Bot opened this", stream=stream),
        "kore assigned": made_at_kore("Agent opened this", stream=stream, assignee="Ben Okafor"),
        "kore closed": made_at_kore("Kore closed this", stream=stream, status="Closed", category="closed"),
        # Cases the portal is still delivering, or could not: no Kore status, no assignee yet.
        "queued": CaseFactory(name="Queued one", template=template, submitted_by=member_user),
        "retrying": CaseFactory(
            name="Retrying one",
            template=template,
            state=Case.State.RETRYING,
            due_date=now - timedelta(hours=1),
        ),
        "failed": CaseFactory(name="Failed one", template=template, state=Case.State.FAILED),
    }
    return cases


def names(user, query: str) -> set[str]:
    result = browse.browse_cases(user, QueryDict(query))
    assert result.ok, result.errors
    return {case.name for case in result.cases}


def expected(world, *keys) -> set[str]:
    return {world[key].name for key in keys}


# --- What each view holds ------------------------------------------------------------------


def test_unresolved_is_every_delivered_case_not_resolved_or_closed(member_user, world):
    assert names(member_user, "unresolved=1") == expected(
        world, "assigned", "unassigned", "no category", "overdue", "mine", "kore unassigned", "kore assigned"
    )


def test_unassigned_is_the_unresolved_cases_with_no_assignee(member_user, world):
    # Not the closed case without an assignee, nor the pending ones Kore has not assigned yet.
    assert names(member_user, "unassigned=1") == expected(world, "unassigned", "kore unassigned")


def test_my_cases_are_the_ones_i_submitted_in_any_state(member_user, world):
    assert names(member_user, "submitted_by=bob") == expected(world, "mine", "queued")


def test_overdue_is_the_unresolved_cases_past_their_due_date(member_user, world):
    # The retrying case is past due too, but Kore does not hold it yet.
    assert names(member_user, "overdue=1") == expected(world, "overdue")


def test_closed_is_the_resolved_and_closed_status_categories(member_user, world):
    assert names(member_user, "closed=1") == expected(world, "resolved", "closed", "kore closed")


def test_all_is_every_case(member_user, world):
    assert names(member_user, "") == {case.name for case in world.values()}


def test_the_origin_filter_tells_cases_made_at_kore_from_the_portals(member_user, world):
    made_there = expected(world, "kore unassigned", "kore assigned", "kore closed")
    assert names(member_user, "origin=kore") == made_there
    assert names(member_user, "origin=portal") == {case.name for case in world.values()} - made_there
    assert names(member_user, "origin=portal&origin=kore") == {case.name for case in world.values()}
    assert names(member_user, "origin=kore&unassigned=1") == expected(world, "kore unassigned")
    assert names(member_user, "origin=") == {case.name for case in world.values()}  # blank: no filter


def test_views_combine_with_other_filters_and_stay_within_the_streams_one_sees(member_user, world):
    agent = UserFactory(username="agnes", role=roles.AGENT)
    agent.member_streams.set([world["assigned"].stream])
    elsewhere = CaseTemplateFactory(stream=StreamFactory(name="Not agnes's"))
    Case.objects.filter(pk=world["unassigned"].pk).update(template=elsewhere, stream=elsewhere.stream)
    assert names(agent, "unassigned=1") == expected(world, "kore unassigned")
    assert names(member_user, "unassigned=1") == expected(world, "unassigned", "kore unassigned")
    assert names(agent, "unresolved=1&status=in_progress") == set()
    assert names(agent, "unresolved=1&assignee=Ben+Okafor") == expected(world, "kore assigned")
    assert names(agent, "unresolved=1&overdue=1") == expected(world, "overdue")


def test_views_page_through_every_match_in_every_sort(member_user):
    template = CaseTemplateFactory()
    now = timezone.now()
    unassigned = [
        delivered(
            f"Waiting {n}",
            template=template,
            assignee="",
            created_at=now - timedelta(minutes=n // 2),
            due_date=now + timedelta(hours=n % 4),
            priority_score=n % 3 or None,
            ref_id=f"CS{n % 7:08d}",
        )
        for n in range(30)
    ]
    Case.objects.filter(pk__in=[case.pk for case in unassigned[::3]]).update(due_date=None)  # sorted last
    for n in range(20):
        delivered(f"Taken {n}", template=template, created_at=now - timedelta(minutes=n))
        delivered(f"Done {n}", template=template, status="Closed", category="closed", assignee="")
    for sort in ("-created", "due", "-priority", "refId"):
        ids, cursor = [], None
        while True:
            query = QueryDict(f"unassigned=1&page_size=25&sort={sort}", mutable=True)
            if cursor:
                query["cursor"] = cursor
            result = browse.browse_cases(member_user, query)
            ids += [case.pk for case in result.cases]
            cursor = result.next_cursor
            if not cursor:
                break
        assert sorted(ids) == sorted(case.pk for case in unassigned), sort
    first = browse.browse_cases(member_user, QueryDict("unassigned=1&page_size=25"))
    assert (first.total, first.total_is_capped) == (30, False)
    assert browse.count_matches(member_user, first.params) == (30, False)


# --- Validation ----------------------------------------------------------------------------


def test_bad_view_and_origin_parameters_are_all_reported(member_user):
    result = browse.browse_cases(
        member_user, QueryDict("unresolved=maybe&unassigned=2&origin=mars&closed=yes&overdue=1")
    )
    assert not result.ok
    assert "unresolved: Use 1 or 0." in result.errors
    assert "unassigned: Use 1 or 0." in result.errors
    assert "origin: Unknown origin: mars. Use portal or kore." in result.errors
    assert "closed: Closed cases cannot also be overdue; choose one." in result.errors


def test_closed_cannot_be_combined_with_the_views_that_mean_unresolved(member_user):
    result = browse.browse_cases(member_user, QueryDict("closed=1&unresolved=1&unassigned=1"))
    assert result.errors == ["closed: Closed cases cannot also be unresolved or unassigned; choose one."]
    assert browse.browse_cases(member_user, QueryDict("closed=1&unresolved=0")).ok


def test_the_list_page_answers_a_bad_view_with_400_naming_it(member_client):
    response = member_client.get(reverse("case_list") + "?closed=1&unresolved=1&origin=elsewhere")
    assert response.status_code == 400
    content = response.content.decode()
    assert "closed: Closed cases cannot also be unresolved; choose one." in content
    assert "origin: Unknown origin: elsewhere. Use portal or kore." in content


# --- Exports and the read API --------------------------------------------------------------


@pytest.mark.parametrize(
    "query, keys",
    [
        ("unresolved=1&origin=kore", ["kore unassigned", "kore assigned"]),
        ("unassigned=1", ["unassigned", "kore unassigned"]),
        ("closed=1", ["resolved", "closed", "kore closed"]),
        ("origin=kore", ["kore unassigned", "kore assigned", "kore closed"]),
    ],
)
def test_exports_hold_the_views_cases(member_client, world, query, keys):
    csv_text = b"".join(
        member_client.get(reverse("case_export_csv") + "?" + query).streaming_content
    ).decode()
    assert {row["name"] for row in csv.DictReader(io.StringIO(csv_text))} == expected(world, *keys)
    jsonl = member_client.get(reverse("case_export_jsonl") + "?" + query)
    assert b"".join(jsonl.streaming_content).decode().count("\n") == len(keys)


def test_an_export_with_a_bad_view_is_a_400_naming_it(member_client):
    response = member_client.get(reverse("case_export_csv") + "?unassigned=1&closed=1")
    assert response.status_code == 400
    assert "closed: Closed cases cannot also be unassigned; choose one." in response.content.decode()


@pytest.mark.parametrize(
    "query, keys",
    [
        (
            "unresolved=true",
            ["assigned", "unassigned", "no category", "overdue", "mine", "kore unassigned", "kore assigned"],
        ),
        ("unassigned=1", ["unassigned", "kore unassigned"]),
        ("submitted_by=bob", ["mine", "queued"]),
        ("overdue=1", ["overdue"]),
        ("closed=1&origin=portal", ["resolved", "closed"]),
        ("origin=kore", ["kore unassigned", "kore assigned", "kore closed"]),
    ],
)
def test_the_read_api_takes_the_views_and_the_origin(member_client, world, query, keys):
    response = member_client.get("/api/v1/cases/?" + query)
    assert response.status_code == 200
    assert {row["name"] for row in response.json()["results"]} == expected(world, *keys)


def test_the_read_api_answers_bad_views_with_400_in_kores_form(member_client):
    response = member_client.get("/api/v1/cases/?origin=mars&closed=1&overdue=1&unassigned=x")
    assert response.status_code == 400
    assert {error["field"] for error in response.json()["errors"]} == {"origin", "closed", "unassigned"}


def test_the_schema_describes_the_views_and_the_origin(member_client):
    schema = member_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/cases/"]["get"]["parameters"]}
    for name in ("unresolved", "unassigned", "overdue", "closed"):
        assert parameters[name]["schema"]["type"] == "boolean"
    assert set(parameters["origin"]["schema"]["items"]["enum"]) == {"portal", "kore"}


# --- The list page -------------------------------------------------------------------------


def views_bar(content: str) -> str:
    return re.search(r'<nav class="case-views".*?</nav>', content, re.S).group(0)


def current_view(content: str) -> list[str]:
    return re.findall(r'aria-current="page">([^<]+)</a>', views_bar(content))


def test_the_list_offers_each_view_as_a_link_and_marks_the_active_one(member_client, world):
    content = member_client.get(reverse("case_list")).content.decode()
    bar = views_bar(content)
    for label, query in (
        ("Unresolved", "?unresolved=1"),
        ("Unassigned", "?unassigned=1"),
        ("My cases", "?submitted_by=bob"),
        ("Overdue", "?overdue=1"),
        ("Closed", "?closed=1"),
    ):
        assert f'<a href="/cases/{query}"' in bar and f">{label}</a>" in bar
    assert current_view(content) == ["All"]
    for query, label in (
        ("unassigned=1", "Unassigned"),
        ("submitted_by=bob", "My cases"),
        ("closed=1", "Closed"),
    ):
        assert current_view(member_client.get(f"/cases/?{query}").content.decode()) == [label]
    # Another filter on top: no view is exactly this list any more.
    assert current_view(member_client.get("/cases/?closed=1&priority=High").content.decode()) == []


def test_the_view_links_keep_the_sort_and_page_size_and_drop_the_other_filters(member_client, world):
    content = member_client.get("/cases/?sort=due&page_size=25&priority=High&unresolved=1").content.decode()
    assert 'href="/cases/?sort=due&amp;page_size=25&amp;closed=1"' in views_bar(content)
    assert 'href="/cases/?sort=due&amp;page_size=25"' in views_bar(content)  # All


def test_the_views_menu_lists_the_views_beside_the_saved_ones(member_client, world):
    content = member_client.get(reverse("home")).content.decode()
    menu = re.search(r'<li class="views-menu">.*?</details>', content, re.S).group(0)
    assert menu.index(">Unresolved</a>") < menu.index(">All</a>") < menu.index("Manage views")
    assert 'aria-current="page">All' not in menu  # not on the list: nothing is active
    on_list = member_client.get("/cases/?overdue=1").content.decode()
    menu = re.search(r'<li class="views-menu">.*?</details>', on_list, re.S).group(0)
    assert 'aria-current="page">Overdue</a>' in menu


def test_htmx_updates_the_views_bar_with_the_results(member_client, world):
    response = member_client.get(
        "/cases/?unassigned=1", headers={"HX-Request": "true", "HX-Target": "case-results"}
    )
    content = response.content.decode()
    assert "<html" not in content
    assert 'id="case-views" aria-label="Case views" hx-swap-oob="true"' in content
    assert current_view(content) == ["Unassigned"]


def test_the_filter_panel_is_folded_without_a_filter_and_open_with_one(member_client, world):
    def panel(query: str) -> str:
        content = member_client.get(f"/cases/{query}").content.decode()
        return re.search(r'<details class="filter-panel"[^>]*>', content).group(0)

    assert panel("") == '<details class="filter-panel">'
    assert panel("?sort=due&page_size=25") == '<details class="filter-panel">'  # shown outside it
    assert panel("?q=printer") == '<details class="filter-panel">'  # the search box is outside it too
    for query in ("?unresolved=1", "?origin=kore", "?priority=High", "?created_after=2026-01-01"):
        assert panel(query) == '<details class="filter-panel" open>', query


def test_the_filter_form_holds_every_view_so_htmx_changes_keep_it(member_client, world):
    content = member_client.get("/cases/?unresolved=1&unassigned=1&origin=kore").content.decode()
    for name in ("unresolved", "unassigned", "overdue", "closed"):
        assert f'name="{name}" value="1"' in content
    assert re.search(r'name="unresolved" value="1" checked', content)
    assert re.search(r'name="closed" value="1" >', content)
    assert '<option value="kore" selected>Made at Kore</option>' in content


def test_cases_made_at_kore_are_marked_in_the_list_and_on_their_page(member_client, world):
    content = member_client.get("/cases/?origin=kore").content.decode()
    assert content.count('<span class="badge origin-kore">made at Kore</span>') == 3
    portal = member_client.get("/cases/?origin=portal").content.decode()
    assert "made at Kore</span>" not in portal and "IT support request" in portal

    page = member_client.get(world["kore unassigned"].get_absolute_url()).content.decode()
    template_row = re.search(r"<dt>Template</dt><dd>(.*?)</dd>", page, re.S).group(1)
    assert template_row.strip() == '<span class="badge origin-kore">made at Kore</span>'
    page = member_client.get(world["assigned"].get_absolute_url()).content.decode()
    template_row = re.search(r"<dt>Template</dt><dd>(.*?)</dd>", page, re.S).group(1)
    assert "IT support request" in template_row and "made at Kore" not in template_row


def test_a_view_costs_the_list_no_more_queries(member_client, world, django_assert_max_num_queries):
    for n in range(60):
        delivered(f"Bulk {n}", template=world["assigned"].template, assignee="" if n % 2 else "Asha Rao")
    for query in ("unresolved=1", "unassigned=1", "closed=1", "origin=kore", "submitted_by=bob", "overdue=1"):
        with django_assert_max_num_queries(10):
            assert member_client.get(f"/cases/?{query}").status_code == 200
