"""A case in review, in a real browser: the candidates Kore listed, Adopt and Send anyway, and who
may decide (those who may manage the delivery: its agent submitter, administrators)."""

from __future__ import annotations

from django.utils import timezone
from playwright.sync_api import Page, expect

from cases.delivery.deliver import case_deliver
from cases.models import Case
from cases.people import roles
from tests.browser.pages import screenshot, sign_in, visit
from tests.factories import CaseFactory, UserFactory


def case_in_review(template, simulator, submitter) -> Case:
    """A submission whose answer was lost while a twin with its title was made at Kore."""
    case = CaseFactory(template=template, submitted_by=submitter)
    simulator.create_case_directly(stream_id=template.stream.stream_id, body=case.request_body)
    simulator.inject("drop_after_create")
    for _ in range(3):
        Case.objects.filter(pk=case.pk, state=Case.State.RETRYING).update(next_attempt_at=timezone.now())
        case_deliver(case_id=case.pk)
    case.refresh_from_db()
    assert case.state == Case.State.NEEDS_REVIEW, case.last_error
    return case


def test_the_submitter_adopts_one_of_the_candidates(page: Page, member_user, template, simulator):
    case = case_in_review(template, simulator, member_user)
    sign_in(page, member_user)
    visit(page, f"/cases/{case.pk}/")
    status = page.locator("#case-status")
    expect(status).to_contain_text("Needs review")
    expect(status).to_contain_text("Several Kore cases match")
    candidates = status.locator("table.candidates")
    expect(candidates.get_by_role("row")).to_have_count(3)  # header + the twin + this submission's
    screenshot(page, "case-needs-review")

    status.get_by_role("button", name="Adopt CS00000002").click()
    expect(page.get_by_role("status").first).to_contain_text("Adopted CS00000002")
    expect(status).to_contain_text("Delivered")
    expect(page.get_by_role("heading", level=1)).to_contain_text("CS00000002")
    case.refresh_from_db()
    assert case.ref_id == "CS00000002" and case.attempts.last().outcome == "adopted"
    assert simulator.created_count == 2  # nothing sent again
    screenshot(page, "case-adopted")


def test_an_administrator_sends_anyway(page: Page, staff_user, member_user, template, simulator):
    case = case_in_review(template, simulator, member_user)
    sign_in(page, staff_user)
    visit(page, f"/cases/{case.pk}/")
    status = page.locator("#case-status")
    status.get_by_role("button", name="Send anyway").click()
    expect(status).to_contain_text("Delivered")
    case.refresh_from_db()
    assert case.ref_id == "CS00000003" and case.attempts.last().outcome == "delivered"
    assert simulator.created_count == 3


def test_people_who_may_not_manage_the_delivery_see_the_candidates_but_cannot_decide(
    page: Page, member_user, template, simulator
):
    case = case_in_review(template, simulator, member_user)
    other_agent = UserFactory(username="carol", role=roles.AGENT)
    other_agent.member_streams.add(template.stream)
    viewer = UserFactory(username="vic", role=roles.VIEWER)
    viewer.member_streams.add(template.stream)
    for person in (other_agent, viewer):
        page.context.clear_cookies()
        sign_in(page, person)
        visit(page, f"/cases/{case.pk}/")
        status = page.locator("#case-status")
        expect(status.locator("table.candidates")).to_contain_text("CS00000002")
        expect(status.get_by_role("button", name="Adopt CS00000002")).to_have_count(0)
        expect(status.get_by_role("button", name="Send anyway")).to_have_count(0)
    # Nor may they by hand: the server refuses the decision itself.
    csrf = next(cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "csrftoken")
    response = page.request.post(
        f"/cases/{case.pk}/adopt/",
        form={"kore_id": case.review_candidates[0]["_id"]},
        headers={"X-CSRFToken": csrf},
    )
    assert response.status == 403
    case.refresh_from_db()
    assert case.state == Case.State.NEEDS_REVIEW
