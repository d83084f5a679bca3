"""The sync in a real browser: the Sync page with its switches and figures, a case's history of
changes at Kore, Refresh from Kore, and the dashboard's warning for a stream out of step."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from cases.delivery.deliver import case_deliver
from cases.models import Case, StreamSync
from tests.browser.pages import screenshot, sign_in, visit
from tests.factories import CaseFactory


def delivered_case(template) -> Case:
    case = CaseFactory(template=template)
    case_deliver(case_id=case.pk)
    case.refresh_from_db()
    time.sleep(0.005)
    return case


def test_an_administrator_runs_and_tunes_the_sync(page: Page, staff_user, template, simulator):
    delivered_case(template)
    simulator.agent.create_case(template.stream.stream_id, name="Opened by the chat bot")
    sign_in(page, staff_user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sync").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sync from Kore.ai")
    row = page.get_by_role("row").filter(has_text=template.stream.name)
    row.get_by_role("button", name="Sync now").click()
    expect(page.get_by_role("status").first).to_contain_text("is on its way")
    row = page.get_by_role("row").filter(has_text=template.stream.name)
    expect(row).to_contain_text("2 · 0 · 1 · 0")  # both cases seen, the bot's one new
    screenshot(page, "sync-page")

    row.get_by_label("Sync on").uncheck()
    row.get_by_label("Interval (s)").fill("300")
    row.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("saved")
    state = StreamSync.objects.get(stream=template.stream)
    assert not state.enabled and state.interval_seconds == 300
    expect(page.get_by_role("row").filter(has_text=template.stream.name)).to_contain_text("off")

    made_at_kore = Case.objects.get(origin=Case.Origin.KORE)
    visit(page, f"/cases/{made_at_kore.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(made_at_kore.ref_id)


def test_a_full_re_read_shows_its_progress_until_it_ends(page: Page, staff_user, template, simulator):
    from cases.sync import runs
    from cases.sync.lease import Lease

    for _ in range(2):
        delivered_case(template)
    StreamSync.objects.get_or_create(stream=template.stream, defaults={"enabled": False})
    sign_in(page, staff_user)
    visit(page, "/sync/")
    row = page.get_by_role("row").filter(has_text=template.stream.name)
    with Lease(runs.lease_key(template.stream)) as a_pass:  # the account's sync is busy
        assert a_pass.held
        row.get_by_role("button", name="Full re-read").click()
        expect(page.get_by_role("status").first).to_contain_text("the progress shows below")
        row = page.get_by_role("row").filter(has_text=template.stream.name)
        expect(row).to_contain_text("Full re-read: waiting to start")
    runs.sync_account(runs.lease_key(template.stream), [template.stream.pk])  # its next run
    expect(row).to_contain_text("Full re-read: done, 2 cases", timeout=5000)  # the page polled
    expect(page.locator("#sync-table")).not_to_have_attribute("hx-trigger", "every 2s")
    screenshot(page, "sync-full-read")


def test_a_case_page_shows_its_history_and_refreshes_from_kore(page: Page, member_user, template, simulator):
    case = delivered_case(template)
    StreamSync.objects.get_or_create(stream=template.stream)
    from cases.sync import runs

    runs.sync_account(runs.lease_key(template.stream), [template.stream.pk])
    simulator.agent.set_status(case.kore_id, "In Progress")
    StreamSync.objects.filter(stream=template.stream).update(next_pass_at=None)
    runs.sync_account(runs.lease_key(template.stream), [template.stream.pk])

    sign_in(page, member_user)
    visit(page, f"/cases/{case.pk}/")
    history = page.locator("#case-history")
    expect(history.get_by_role("row").filter(has_text="Status")).to_contain_text(
        re.compile(r"Open\s+In Progress")
    )

    simulator.agent.set_priority(case.kore_id, "Critical")
    page.get_by_role("button", name="Refresh from Kore").click()
    expect(page.get_by_role("status").first).to_contain_text("Refreshed from Kore")
    expect(history.get_by_role("row").filter(has_text="Priority")).to_contain_text("Critical")
    expect(page.locator("#case-status")).to_contain_text("Critical")
    screenshot(page, "case-history")


def test_the_dashboard_warns_of_a_stream_whose_sync_keeps_failing(page: Page, member_user, template):
    StreamSync.objects.create(
        stream=template.stream, failures=StreamSync.FAILING_AFTER, last_error="Invalid SDK credentials"
    )
    sign_in(page, member_user)
    warning = page.get_by_role("alert")
    expect(warning).to_contain_text(f"The sync of {template.stream.name} keeps failing")
    expect(warning).to_contain_text("Invalid SDK credentials")
