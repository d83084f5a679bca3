"""Notifications in a real browser: following a case, the bell's number arriving after the page,
its list, the account page's choices, and an administrator's webhook endpoint with its secret
shown once and its delivery log."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from cases.models import CaseEvent, WebhookEndpoint
from cases.models.notify import record_case_event
from cases.notify import tasks
from tests.browser.pages import check_accessibility, screenshot, sign_in, visit
from tests.factories import CaseFactory


def test_a_person_follows_a_case_and_the_bell_shows_its_changes(page: Page, member_user):
    case = CaseFactory(ref_id="CS00000042", name="Printer jammed")
    sign_in(page, member_user)
    visit(page, case.get_absolute_url())
    page.get_by_role("button", name="Follow").click()
    expect(page.get_by_role("button", name="Following · stop")).to_be_visible()
    for status in ("In Progress", "Resolved"):
        record_case_event(
            CaseEvent.Kind.CHANGED, case, changes=[{"field": "status", "old": "Open", "new": status}]
        )
    visit(page, "/")
    bell = page.get_by_role("link", name=re.compile("Notifications"))
    expect(bell).to_contain_text("2")
    screenshot(page, "bell")
    bell.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Changes to cases you follow")
    expect(page.get_by_role("row").filter(has_text="Status: Open → Resolved")).to_contain_text("new")
    check_accessibility(page)
    screenshot(page, "notifications")
    visit(page, "/")
    expect(page.get_by_role("link", name=re.compile("Notifications"))).not_to_contain_text("2")

    visit(page, "/account/")
    page.get_by_label("Status, priority or assignee changed at Kore").uncheck()
    page.get_by_label("Daily digest of overdue cases").check()
    page.get_by_label("Time zone").select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save notification settings").click()
    expect(page.get_by_role("status").first).to_contain_text("saved")
    expect(page.get_by_label("Time zone")).to_have_value("Asia/Tokyo")
    check_accessibility(page)
    screenshot(page, "account-notifications")


def test_an_administrator_registers_a_webhook_and_reads_its_log(page: Page, staff_user, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    sign_in(page, staff_user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    page.get_by_role("link", name="Add endpoint").click()
    check_accessibility(page)
    page.get_by_label("Name").fill("CRM")
    page.get_by_label("URL").fill("http://127.0.0.1:9/hooks")  # nothing listens there
    page.get_by_role("button", name="Add and show the secret").click()
    expect(page.locator("code.secret-once")).to_contain_text("whsec_")
    screenshot(page, "webhook-secret")
    endpoint = WebhookEndpoint.objects.get()
    record_case_event(
        CaseEvent.Kind.DELIVERED, CaseFactory(ref_id="CS00000043", state="delivered", kore_id="ci-1")
    )
    tasks.tick()
    visit(page, f"/webhooks/{endpoint.pk}/log/")
    row = page.get_by_role("row").filter(has_text="case.delivered")
    expect(row).to_contain_text("Pending")
    row.locator("summary").first.click()
    expect(row).to_contain_text("Could not reach the receiver")
    check_accessibility(page)
    screenshot(page, "webhook-log")
