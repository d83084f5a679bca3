"""The case list's one-click views and its folding filter panel, in a real browser."""

from __future__ import annotations

import re
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import Page, expect

from cases.models import Case
from tests.browser.pages import check_accessibility, screenshot, sign_in, visit
from tests.factories import CaseFactory, CaseTemplateFactory


def delivered(number: int, name: str, **fields) -> Case:
    """A case the portal delivered to Kore, refId CS + number."""
    defaults = {
        "state": Case.State.DELIVERED,
        "kore_id": f"ci-journey-{number}",
        "ref_id": f"CS{number:08d}",
        "status_name": "Open",
        "status_category": "open",
        "assignee_name": "Asha Rao",
    }
    return CaseFactory(name=name, **{**defaults, **fields})


def rows(page: Page):
    return page.locator("table.cases tbody tr")


def expect_cases(page: Page, *names: str) -> None:
    expect(rows(page)).to_have_count(len(names))
    for name in names:
        expect(rows(page).filter(has_text=name)).to_have_count(1)


def expect_active_view(page: Page, label: str) -> None:
    views = page.get_by_role("navigation", name="Case views")
    expect(views.locator('[aria-current="page"]')).to_have_count(1)
    expect(views.get_by_role("link", name=label, exact=True)).to_have_attribute("aria-current", "page")


def test_one_click_views_show_their_cases_and_the_panel_folds_without_a_filter(page, member_user):
    template = CaseTemplateFactory(name="IT support request")
    now = timezone.now()
    delivered(1, "Printer jammed", template=template, submitted_by=member_user)
    delivered(
        2,
        "Nobody took this",
        template=template,
        assignee_name="",
        status_name="In Progress",
        status_category="in_progress",
    )
    delivered(3, "Late answer", template=template, due_date=now - timedelta(hours=3))
    delivered(4, "Fixed already", template=template, status_name="Resolved", status_category="resolved")
    Case.objects.create(
        stream=template.stream,
        template=None,
        origin=Case.Origin.KORE,
        name="Opened by a Kore bot",
        request_body={},  # a case made at Kore has no body (the column takes no NULL)
        state=Case.State.DELIVERED,
        kore_id="ci-journey-5",
        ref_id="CS00000005",
        status_name="Closed",
        status_category="closed",
    )
    CaseFactory(template=template, name="Still being sent", submitted_by=member_user)  # queued

    sign_in(page, member_user)
    visit(page, "/cases/")
    panel = page.locator("details.filter-panel")
    expect(panel).not_to_have_attribute("open", "")
    expect(page.get_by_label("Priority")).to_be_hidden()  # folded: the cases come first
    expect(page.get_by_label("Search")).to_be_visible()
    expect_active_view(page, "All")
    expect(rows(page)).to_have_count(6)
    screenshot(page, "case-views-folded")

    views = page.get_by_role("navigation", name="Case views")
    for label, names in (
        ("Unresolved", ["Printer jammed", "Nobody took this", "Late answer"]),
        ("Unassigned", ["Nobody took this"]),
        ("My cases", ["Printer jammed", "Still being sent"]),
        ("Overdue", ["Late answer"]),
        ("Closed", ["Fixed already", "Opened by a Kore bot"]),
    ):
        views.get_by_role("link", name=label, exact=True).click()
        expect_cases(page, *names)
        expect_active_view(page, label)
        expect(panel).to_have_attribute("open", "")  # a filter is set: the panel shows it
        check_accessibility(page)
        if label == "Unassigned":
            expect(page.get_by_label("Unassigned only")).to_be_checked()
            screenshot(page, "case-views-unassigned")

    # On the Closed view, the case made at Kore is marked so.
    expect(rows(page).filter(has_text="Opened by a Kore bot")).to_contain_text("made at Kore")
    expect(rows(page).filter(has_text="Fixed already")).not_to_contain_text("made at Kore")

    # The filter form still updates the list in place (htmx), and the marked view follows it.
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_label("Closed only").uncheck()
    expect(rows(page)).to_have_count(6)
    expect_active_view(page, "All")
    expect(page).not_to_have_url(re.compile(r"closed=1"))
    page.get_by_label("Origin").select_option("kore")
    expect_cases(page, "Opened by a Kore bot")
    expect(views.locator('[aria-current="page"]')).to_have_count(0)  # no one-click view is this list
    expect(page).to_have_url(re.compile(r"origin=kore"))
    assert page.evaluate("window.stillTheSamePage") is True

    rows(page).get_by_role("link", name="Opened by a Kore bot").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("CS00000005")
    template_fact = page.locator("dl.facts dt:text-is('Template') + dd")
    expect(template_fact).to_have_text("made at Kore")
