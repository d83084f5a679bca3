"""Working a case in a real browser: a change shows as pending at Kore until the worker delivers
it and Kore confirms, a second person sees it pending too, and a change Kore refuses shows Kore's
message and leaves the case as Kore has it. The worker is held back (messages wait in an
in-memory queue) so that the page is seen in each state; the test then runs the worker's task."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from cases.actions.tasks import deliver_action
from cases.models import CaseAction, KoreStatus
from casesite.celery import app as celery_app
from tests.browser.pages import screenshot, sign_in, visit


@pytest.fixture
def worker_held_back():
    """Tasks wait in an in-memory queue nobody reads, as when the worker is busy elsewhere."""
    eager, broker = celery_app.conf.task_always_eager, celery_app.conf.broker_url
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = "memory://"
    yield
    celery_app.conf.task_always_eager, celery_app.conf.broker_url = eager, broker


def run_the_worker_for(action: CaseAction) -> None:
    deliver_action.run(action.pk)  # what the worker does with the message


def test_a_change_is_pending_at_kore_then_confirmed_and_another_person_sees_it(
    page: Page, browser, live_server, worked_case, member_user, staff_user, simulator, worker_held_back
):
    sign_in(page, member_user)
    visit(page, worked_case.get_absolute_url())
    work = page.locator("#case-work")
    work.get_by_role("group", name="Status").get_by_label("In Progress").check()
    work.get_by_role("group", name="Priority").get_by_label("High").check()
    work.get_by_role("button", name="Send the change to Kore").click()
    expect(page.get_by_role("status").first).to_contain_text("pending at Kore until Kore confirms")
    changes = page.locator("#case-changes")
    expect(changes).to_contain_text("pending at Kore")
    expect(changes).to_contain_text("Status: Open → In Progress; Priority: Medium → High")
    expect(page.locator("#case-status")).to_contain_text("Open")  # as Kore has it, until it confirms
    screenshot(page, "case-change-pending")

    # Someone else looking at the case sees the change pending, and who asked.
    other = browser.new_context(base_url=live_server.url).new_page()
    sign_in(other, staff_user)
    other.goto(worked_case.get_absolute_url())
    expect(other.locator("#case-changes")).to_contain_text(re.compile(r"pending at Kore.*asked by bob", re.S))

    run_the_worker_for(CaseAction.objects.get())
    expect(changes).to_contain_text("Confirmed by Kore")  # the page polls while a change is pending
    expect(page.locator("#case-status")).to_contain_text("In Progress")
    expect(page.locator("#case-status")).to_contain_text("High")
    expect(page.locator("#case-history")).to_contain_text(re.compile(r"Open\s+In Progress"))
    expect(other.locator("#case-changes")).to_contain_text("Confirmed by Kore")
    assert simulator.store.find(worked_case.kore_id).doc["status"]["name"] == "In Progress"
    screenshot(page, "case-change-confirmed")
    other.context.close()


def test_a_change_kore_refuses_shows_kores_message_and_keeps_the_case(
    page: Page, worked_case, member_user, simulator, worker_held_back
):
    # A status the portal learned once, which Kore no longer has.
    KoreStatus.objects.create(
        stream=worked_case.stream, kore_id="sts-retired", name="Escalated", category="open"
    )
    sign_in(page, member_user)
    visit(page, worked_case.get_absolute_url())
    page.locator("#case-work").get_by_role("group", name="Status").get_by_label("Escalated").check()
    page.locator("#case-work").get_by_role("button", name="Send the change to Kore").click()
    changes = page.locator("#case-changes")
    expect(changes).to_contain_text("pending at Kore")

    run_the_worker_for(CaseAction.objects.get())
    expect(changes).to_contain_text("Refused by Kore")
    expect(changes).to_contain_text("Kore said: status sts-retired is not a status of this stream.")
    expect(page.locator("#case-status")).to_contain_text("Open")
    screenshot(page, "case-change-refused")
