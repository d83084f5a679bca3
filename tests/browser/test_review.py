"""A case in review, in a real browser: the candidates Kore listed, Adopt and Send anyway; with no
candidate listed, Adopt by refId and Look up again; and who may decide (those who may manage the
delivery: its agent submitter, administrators)."""

from __future__ import annotations

from django.utils import timezone
from playwright.sync_api import Page, expect

from cases.delivery.deliver import case_deliver
from cases.models import Case, Stream
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
        expect(status.get_by_role("button", name="Look up again")).to_have_count(0)
        expect(status.get_by_role("button", name="Adopt by refId")).to_have_count(0)
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


def case_in_review_without_candidates(template, simulator, submitter) -> Case:
    """A lost answer on a stream without account id: nothing could be looked up or listed."""
    Stream.objects.filter(pk=template.stream.pk).update(account_id="")
    case = CaseFactory(template=template, submitted_by=submitter)
    simulator.inject("drop_after_create")
    for _ in range(3):
        Case.objects.filter(pk=case.pk, state=Case.State.RETRYING).update(next_attempt_at=timezone.now())
        case_deliver(case_id=case.pk)
    case.refresh_from_db()
    assert case.state == Case.State.NEEDS_REVIEW and not case.review_candidates, case.last_error
    return case


def test_with_no_candidate_listed_the_submitter_adopts_the_case_by_its_refid(
    page: Page, member_user, template, simulator
):
    case = case_in_review_without_candidates(template, simulator, member_user)
    sign_in(page, member_user)
    visit(page, f"/cases/{case.pk}/")
    status = page.locator("#case-status")
    expect(status).to_contain_text("no account id")
    expect(status.locator("table.candidates")).to_have_count(0)
    refid = status.get_by_label("refId found at Kore")
    refid.fill("CS00000001")
    status.get_by_role("button", name="Adopt by refId").click()
    expect(page.get_by_role("status").first).to_contain_text("cannot check CS00000001")
    screenshot(page, "case-review-adopt-by-refid")

    Stream.objects.filter(pk=template.stream.pk).update(account_id=template.stream.account_id)
    status.get_by_label("refId found at Kore").fill("CS00000042")
    status.get_by_role("button", name="Adopt by refId").click()
    expect(page.get_by_role("status").first).to_contain_text("Kore lists no case CS00000042")
    expect(status).to_contain_text("Needs review")

    status.get_by_label("refId found at Kore").fill("CS00000001")
    status.get_by_role("button", name="Adopt by refId").click()
    expect(page.get_by_role("status").first).to_contain_text("Adopted CS00000001")
    expect(status).to_contain_text("Delivered")
    expect(page.get_by_role("heading", level=1)).to_contain_text("CS00000001")
    case.refresh_from_db()
    assert case.kore_id == simulator.cases[0]["_id"] and case.attempts.last().outcome == "adopted"
    assert simulator.created_count == 1  # nothing sent again


def test_an_administrator_has_the_case_looked_up_again_once_the_account_id_is_set(
    page: Page, staff_user, member_user, template, simulator
):
    case = case_in_review_without_candidates(template, simulator, member_user)
    Stream.objects.filter(pk=template.stream.pk).update(account_id=template.stream.account_id)
    sign_in(page, staff_user)
    visit(page, f"/cases/{case.pk}/")
    status = page.locator("#case-status")
    status.get_by_role("button", name="Look up again").click()
    expect(status).to_contain_text("Delivered")
    case.refresh_from_db()
    assert case.ref_id == "CS00000001" and case.attempts.last().outcome == "adopted"
    assert simulator.created_count == 1
