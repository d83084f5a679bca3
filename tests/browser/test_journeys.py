"""What people do with the portal, in a real browser: each journey asserts what a person sees
and leaves a screenshot of its key page in test-artifacts/."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect

from cases.delivery.submit import build_case_body, case_submit
from cases.delivery.tasks import deliver_case
from cases.models import Case, CaseTemplate, Stream
from cases.people import roles
from tests.browser.pages import check_accessibility, screenshot, sign_in, visit
from tests.factories import TEST_CLIENT_SECRET, CaseFactory, CaseTemplateFactory, StreamFactory, UserFactory

REF_ID = re.compile(r"CS\d+")


def create_case_in_form(page: Page, template: CaseTemplate, title: str) -> None:
    visit(page, "/cases/new/")
    page.get_by_label("Template").select_option(label=str(template))
    page.get_by_label("Title").fill(title)
    page.get_by_label("Description").fill("The printer on floor 3 makes a grinding noise.")
    page.get_by_label("Requester email").fill("dana@example.com")
    page.get_by_role("button", name="Create case").click()


def test_signing_in(page, member_user):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    check_accessibility(page)

    page.get_by_label("Username").fill(member_user.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct username and password")

    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name=re.compile(r"^Dashboard"))).to_be_visible()
    expect(page.get_by_text(member_user.username)).to_be_visible()
    check_accessibility(page)
    screenshot(page, "sign-in")


def test_adding_a_stream_and_testing_its_connection(page, staff_user, simulator):
    simulator.register_app("cs-browser-app", "browser-app-secret-0123456789abcdefghij", ["st-browser-1"])
    sign_in(page, staff_user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Streams").click()
    check_accessibility(page)
    page.get_by_role("link", name="Add stream").click()
    check_accessibility(page)

    page.get_by_label("Name").fill("Support bot")
    page.get_by_label("Host").fill(simulator.url)
    page.get_by_label("Kore stream id").fill("st-browser-1")
    page.get_by_label("Account id").fill("6639f7bd58c97ffac03b0001")
    page.get_by_label("JWT app client id").fill("cs-browser-app")
    page.get_by_label("JWT app client secret").fill("browser-app-secret-0123456789abcdefghij")
    page.get_by_role("button", name="Save stream").click()
    expect(page.get_by_role("status")).to_contain_text("Stream “Support bot” saved")
    # The secret is write-only: the page never shows it again.
    expect(page.get_by_label("JWT app client secret")).to_have_value("")
    assert "browser-app-secret-0123456789abcdefghij" not in page.content()

    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Connected: Kore.ai answered and accepted the credentials."
    )
    screenshot(page, "stream-connection")
    assert Stream.objects.get().host == simulator.url


def test_a_stream_with_wrong_credentials_says_so_on_test_connection(page, staff_user, stream):
    stream.set_client_secret("not-what-the-simulator-knows")
    stream.save()
    sign_in(page, staff_user)
    visit(page, f"/streams/{stream.pk}/edit/")
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("status")).to_contain_text("Connection failed")
    screenshot(page, "stream-connection-failed")


def test_adding_a_template(page, staff_user, stream):
    sign_in(page, staff_user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Templates", exact=True).click()
    page.get_by_role("link", name="Add template").click()
    check_accessibility(page)

    page.get_by_label("Stream").select_option(label=str(stream))
    page.get_by_label("Kore template id").fill("not-a-template-id")
    page.get_by_label("Display name").fill("Printer trouble")
    page.get_by_role("button", name="Save template").click()
    expect(page.get_by_text("A Kore template id looks like ctm-…")).to_be_visible()

    page.get_by_label("Kore template id").fill("ctm-printer-1")
    page.get_by_role("button", name="Save template").click()
    expect(page.get_by_role("status")).to_contain_text("Template “Printer trouble” saved")
    expect(page.get_by_role("row").filter(has_text="Printer trouble")).to_contain_text("ctm-printer-1")
    screenshot(page, "template-list")


def test_creating_a_case_and_watching_it_become_delivered(page, member_user, template, simulator):
    # Kore is briefly unavailable, so the case page first shows the case waiting to retry, then
    # (polling, without a reload) the delivered case once the worker's retry goes through.
    simulator.inject("503")
    sign_in(page, member_user)
    create_case_in_form(page, template, "Printer on floor 3 is jammed")

    status = page.locator("#case-status")
    expect(status).to_contain_text("Retrying")
    check_accessibility(page)
    page.evaluate("window.stillTheSamePage = true")

    case = Case.objects.get()
    Case.objects.filter(pk=case.pk).update(next_attempt_at=timezone.now())
    deliver_case.delay(case.pk)  # what the worker does when the retry is due

    expect(status).to_contain_text("Delivered", timeout=15_000)
    case.refresh_from_db()
    expect(status).to_contain_text(case.ref_id)
    expect(status).to_contain_text(case.assignee_name)
    assert REF_ID.fullmatch(case.ref_id)
    assert page.evaluate("window.stillTheSamePage") is True
    screenshot(page, "case-delivered")
    assert simulator.created_count == 1


def test_a_refused_delivery_and_its_retry(page, member_user, template, simulator):
    simulator.inject("400")
    sign_in(page, member_user)
    create_case_in_form(page, template, "Badge reader offline")

    status = page.locator("#case-status")
    expect(status).to_contain_text("Failed")
    expect(status).to_contain_text("caseTmp is invalid: no such case template.")
    screenshot(page, "case-failed")
    assert simulator.created_count == 0

    status.get_by_role("button", name="Retry delivery").click()
    expect(page.get_by_role("status").first).to_contain_text("Sending the case again.")
    expect(status).to_contain_text("Delivered")
    expect(status.get_by_role("row")).to_have_count(3)  # header + the refused and the delivered attempt
    screenshot(page, "case-retried")
    assert simulator.created_count == 1


def test_a_case_that_gave_up_on_an_unavailable_kore_is_sent_anyway_from_the_page(
    page, member_user, template, simulator, settings
):
    settings.KORE_MAX_ATTEMPTS = 2
    simulator.inject("503", times=2)
    sign_in(page, member_user)
    create_case_in_form(page, template, "Laptop will not boot")
    case = Case.objects.get()
    Case.objects.filter(pk=case.pk).update(next_attempt_at=timezone.now())
    deliver_case.delay(case.pk)  # the second and last attempt, as the worker would run it

    status = page.locator("#case-status")
    expect(status).to_contain_text("Gave up after 2 attempts", timeout=15_000)
    # The last attempt may have reached Kore, so a person checks and then sends anyway.
    status.get_by_role("button", name="Send anyway").click()
    expect(status).to_contain_text("Delivered")
    screenshot(page, "case-sent-anyway")
    assert simulator.created_count == 1


def test_creating_a_case_with_the_keyboard_only(page, member_user, template):
    page.goto("/accounts/login/")
    expect(page.get_by_label("Username")).to_be_focused()  # the sign-in form starts there
    page.keyboard.type(member_user.username)
    page.keyboard.press("Tab")
    page.keyboard.type("correct horse battery staple")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1, name=re.compile(r"^Dashboard"))).to_be_visible()

    page.goto("/cases/new/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Template")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Template")).to_have_value(str(template.pk))
    page.keyboard.press("Tab")
    page.keyboard.type("Monitor flickers")
    page.keyboard.press("Tab")
    page.keyboard.type("The monitor on desk 12 flickers every few seconds.")
    page.keyboard.press("Tab")
    page.keyboard.type("Dana Smith")
    page.keyboard.press("Tab")  # requester user id: left empty
    page.keyboard.press("Tab")
    page.keyboard.type("dana@example.com")
    expect(page.get_by_label("Requester email")).to_have_value("dana@example.com")

    submit = page.get_by_role("button", name="Create case")
    for _ in range(20):  # through the phone, the due date's parts and the source
        page.keyboard.press("Tab")
        if submit.evaluate("el => el === document.activeElement"):
            break
    expect(submit).to_be_focused()
    page.keyboard.press("Enter")

    status = page.locator("#case-status")
    expect(status).to_contain_text("Delivered")
    case = Case.objects.get()
    assert case.name == "Monitor flickers" and case.requester_name == "Dana Smith"
    expect(page.get_by_role("heading", level=1)).to_contain_text(case.ref_id)
    screenshot(page, "case-by-keyboard")


def test_a_member_cannot_reach_the_configuration(page, member_user, stream):
    sign_in(page, member_user)
    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation.get_by_role("link", name="Cases")).to_be_visible()
    for link in ("Streams", "Templates", "Deliveries", "Admin"):
        expect(navigation.get_by_role("link", name=link)).to_have_count(0)
    for path in ("/streams/", f"/streams/{stream.pk}/edit/", "/templates/new/"):
        response = page.goto(path)
        assert response.status == 403
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
        expect(page.get_by_text("Only administrators can change")).to_be_visible()
    assert TEST_CLIENT_SECRET not in page.content()
    screenshot(page, "member-forbidden")


# --- Journeys on pages other issues are building (lists, search, export, viewer role) ------


def submit_cases(template: CaseTemplate, titles: list[str]) -> list[Case]:
    cases = [
        case_submit(
            template=template,
            body=build_case_body(
                template=template, data={"name": title, "desc": "From a journey", "emailId": "a@example.com"}
            ),
        )
        for title in titles
    ]
    for case in cases:
        case.refresh_from_db()
    return cases


def test_finding_a_case_by_its_ref_id_on_the_list_page(page, member_user, template):
    wanted, other = submit_cases(template, ["Projector has no signal", "Coffee machine leaks"])
    sign_in(page, member_user)
    visit(page, "/cases/")
    rows = page.get_by_role("row")
    expect(rows.filter(has_text=wanted.ref_id)).to_have_count(1)
    rows.filter(has_text=wanted.ref_id).get_by_role("link", name=wanted.ref_id).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(wanted.ref_id)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Projector has no signal")
    screenshot(page, "case-found-in-list")


def test_searching_cases_by_ref_id_and_by_words(page, member_user, template):
    wanted, other = submit_cases(template, ["Projector has no signal", "Coffee machine leaks"])
    sign_in(page, member_user)
    visit(page, "/cases/")
    page.get_by_label("Search").fill(wanted.ref_id)
    page.get_by_label("Search").press("Enter")
    # An exact refId goes straight to its case.
    expect(page.get_by_role("heading", level=1)).to_contain_text(wanted.ref_id)

    visit(page, "/cases/?q=coffee")
    rows = page.get_by_role("row")
    expect(rows.filter(has_text=other.ref_id)).to_have_count(1)
    expect(rows.filter(has_text=wanted.ref_id)).to_have_count(0)
    screenshot(page, "case-search")


def test_filtering_cases_by_delivery_state(page, member_user, template, simulator):
    simulator.inject("400")
    failed, delivered = submit_cases(template, ["Refused by Kore", "Accepted by Kore"])
    assert failed.state == Case.State.FAILED and delivered.state == Case.State.DELIVERED
    sign_in(page, member_user)
    visit(page, "/cases/?state=failed")
    rows = page.get_by_role("row")
    expect(rows.filter(has_text="Refused by Kore")).to_have_count(1)
    expect(rows.filter(has_text="Accepted by Kore")).to_have_count(0)
    screenshot(page, "case-filter")


def test_exporting_the_found_cases_as_csv(page, member_user, template):
    wanted, other = submit_cases(template, ["Projector has no signal", "Coffee machine leaks"])
    sign_in(page, member_user)
    response = page.request.get(f"/cases/export.csv?q={wanted.ref_id}")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/csv")
    text = response.text()
    assert wanted.ref_id in text and other.ref_id not in text


def test_a_viewer_reads_their_streams_cases_but_cannot_create_or_configure(page, template):
    (case,) = submit_cases(template, ["Visible to viewers"])
    elsewhere = CaseTemplateFactory(stream=StreamFactory(name="Elsewhere"))
    hidden = CaseFactory(template=elsewhere, name="On a stream vera is not a member of")
    viewer = UserFactory(username="vera", role=roles.VIEWER)
    template.stream.members.add(viewer)
    sign_in(page, viewer)
    visit(page, "/cases/")
    expect(page.get_by_role("row").filter(has_text=case.ref_id)).to_have_count(1)
    expect(page.get_by_role("row").filter(has_text=hidden.name)).to_have_count(0)
    expect(page.get_by_role("link", name="New case")).to_have_count(0)
    expect(page.get_by_role("link", name="Streams")).to_have_count(0)
    assert page.goto(f"/cases/{hidden.pk}/").status == 404
    for path in ("/cases/new/", "/streams/", "/templates/", "/users/"):
        assert page.goto(path).status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    screenshot(page, "viewer-forbidden")


def test_an_administrator_gives_a_new_agent_one_stream(page, staff_user, template):
    elsewhere = CaseTemplateFactory(stream=StreamFactory(name="Elsewhere"))
    hidden = CaseFactory(template=elsewhere, name="Only for the Elsewhere team")
    sign_in(page, staff_user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    page.get_by_role("link", name="Add user").click()
    check_accessibility(page)
    page.get_by_label("Username").fill("ahmed")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Password confirmation").fill("short")
    page.get_by_label("Role").select_option(label="Agent")
    page.get_by_label(template.stream.name).check()
    page.get_by_role("button", name="Add user").click()
    expect(page.locator(".error").first).to_contain_text("too short")
    page.get_by_label("Password", exact=True).fill("a long enough passphrase 7")
    page.get_by_label("Password confirmation").fill("a long enough passphrase 7")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status")).to_contain_text("ahmed can now sign in")
    expect(page.get_by_role("row").filter(has_text="ahmed")).to_contain_text("Agent")
    screenshot(page, "users")

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, get_user_model().objects.get(username="ahmed"), password="a long enough passphrase 7")
    visit(page, "/cases/new/")
    options = page.get_by_label("Template").locator("option").all_inner_texts()
    assert str(template) in options and str(elsewhere) not in options
    visit(page, "/cases/")
    expect(page.get_by_role("row").filter(has_text=hidden.name)).to_have_count(0)


def test_signing_out_everywhere_ends_the_other_sessions(page, browser, live_server, member_user):
    other_device = browser.new_context(base_url=live_server.url)
    other_page = other_device.new_page()
    sign_in(other_page, member_user)
    sign_in(page, member_user)
    page.get_by_role("link", name=member_user.username).click()
    check_accessibility(page)
    page.get_by_role("button", name="Sign out everywhere").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    other_page.goto("/cases/")
    expect(other_page).to_have_url(re.compile(r"/accounts/login/"))
    other_device.close()
