"""Telling people: follows and the bell, e-mail to followers through a real SMTP server on
loopback (batched, at most one per case per window, opt-outs and visibility judged when sent),
the account page's choices and the daily digest at 08:00 in each person's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from cases.models import Case, CaseEvent, Follow, NotificationSettings
from cases.models.notify import record_case_event
from cases.notify import digest, follows, mail
from cases.people import roles
from tests.factories import CaseFactory, CaseTemplateFactory, StreamFactory, UserFactory
from tests.receivers import html_of, text_of

pytestmark = pytest.mark.django_db
Kind = CaseEvent.Kind


def status_change(case, new: str, *, field: str = "status", old: str = "Open") -> CaseEvent:
    return record_case_event(Kind.CHANGED, case, changes=[{"field": field, "old": old, "new": new}])


@pytest.fixture
def world(db):
    """One stream; dana (an agent of it) submitted a case; eve (an agent of another stream)."""
    stream = StreamFactory(name="Support")
    dana = UserFactory(username="dana", role=roles.AGENT)
    dana.member_streams.add(stream)
    eve = UserFactory(username="eve", role=roles.AGENT)
    eve.member_streams.add(StreamFactory(name="Elsewhere"))
    case = CaseFactory(template=CaseTemplateFactory(stream=stream), submitted_by=dana, ref_id="CS00001234")
    Follow.objects.create(user=dana, case=case)
    return {"stream": stream, "dana": dana, "eve": eve, "case": case}


# --- Follows and the bell ------------------------------------------------------------------


def test_anyone_who_sees_a_case_may_follow_and_unfollow_it(client, world):
    viewer = UserFactory(username="vic", role=roles.VIEWER)
    viewer.member_streams.add(world["stream"])
    client.force_login(viewer)
    case = world["case"]
    assert "Follow" in client.get(case.get_absolute_url()).content.decode()
    client.post(reverse("case_follow", args=[case.pk]), {"follow": "1"})
    assert follows.is_following(viewer, case)
    assert "Following" in client.get(case.get_absolute_url()).content.decode()
    client.post(reverse("case_follow", args=[case.pk]), {"follow": "0"})
    assert not follows.is_following(viewer, case)


def test_nobody_follows_a_case_they_may_not_see(client, world):
    client.force_login(world["eve"])
    assert client.post(reverse("case_follow", args=[world["case"].pk]), {"follow": "1"}).status_code == 404
    assert not Follow.objects.filter(user=world["eve"]).exists()


def test_the_bell_counts_unread_changes_until_the_list_is_opened(client, world):
    client.force_login(world["dana"])
    case = world["case"]
    assert "unread" not in client.get(reverse("notification_count")).content.decode()
    record_case_event(Kind.DELIVERED, case)
    status_change(case, "In Progress")
    status_change(case, "Later", field="due_date", old="")
    record_case_event(Kind.DELIVERED, CaseFactory())  # a case dana does not follow
    bell = client.get(reverse("notification_count")).content.decode()
    assert ">3<span" in bell
    page = client.get(reverse("notifications")).content.decode()
    assert "Status: Open → In Progress" in page and "Due date" in page and page.count('class="unread"') == 3
    assert "unread" not in client.get(reverse("notification_count")).content.decode()
    assert follows.unread_count(world["dana"]) == 0


def test_the_bell_forgets_a_stream_the_person_lost(client, world):
    status_change(world["case"], "In Progress")
    assert follows.unread_count(world["dana"]) == 1
    world["dana"].member_streams.clear()
    assert follows.unread_count(world["dana"]) == 0


def test_the_header_has_the_bell_its_number_fetched_after_the_page(client, world):
    client.force_login(world["dana"])
    page = client.get(reverse("account")).content.decode()
    assert 'class="bell"' in page and 'hx-get="/notifications/count/"' in page


# --- E-mail --------------------------------------------------------------------------------


def test_followers_get_one_message_in_text_and_html_with_a_link(smtp_inbox, world, clock, settings):
    settings.PORTAL_BASE_URL = "https://cases.example.com"
    case = world["case"]
    record_case_event(Kind.DELIVERED, case)
    status_change(case, "In Progress")
    status_change(case, "Asha Rao", field="assignee", old="")  # was unassigned
    run = mail.mail_due()
    assert run.messages == 1
    [message] = smtp_inbox.to("dana@example.com")
    assert message["Subject"] == "[Case Portal] CS00001234: 3 updates"
    text, html = text_of(message), html_of(message)
    link = f"https://cases.example.com/cases/{case.pk}/"
    assert link in text and f'href="{link}"' in html
    assert "Status: Open → In Progress" in text and "Assignee: (none) → Asha Rao" in text
    assert "Delivered to Kore.ai as CS00001234" in html


def test_changes_within_the_window_are_batched_into_the_next_message(smtp_inbox, world, clock, settings):
    settings.NOTIFY_MAIL_WINDOW_SECONDS = 300
    case = world["case"]
    status_change(case, "In Progress")
    mail.mail_due()
    clock.advance(seconds=60)
    status_change(case, "On Hold", old="In Progress")
    clock.advance(seconds=60)
    status_change(case, "Resolved", old="On Hold")
    assert mail.mail_due().messages == 0  # within five minutes of the last one
    clock.advance(seconds=181)
    assert mail.mail_due().messages == 1
    first, second = smtp_inbox.to("dana@example.com")
    assert "On Hold" not in text_of(first)
    assert "Status: In Progress → On Hold" in text_of(second) and "Status: On Hold → Resolved" in text_of(
        second
    )
    assert mail.mail_due().messages == 0


def test_each_case_has_its_own_window(smtp_inbox, world, clock):
    other = CaseFactory(template=world["case"].template, submitted_by=world["dana"])
    Follow.objects.create(user=world["dana"], case=other)
    status_change(world["case"], "In Progress")
    mail.mail_due()
    status_change(other, "In Progress")
    assert mail.mail_due().messages == 1
    assert len(smtp_inbox.to("dana@example.com")) == 2


def test_a_person_turns_kinds_off_on_their_account_page(smtp_inbox, client, world, clock):
    client.force_login(world["dana"])
    assert "Daily digest of overdue cases" in client.get(reverse("account")).content.decode()
    client.post(
        reverse("account_notifications"),
        {
            "mail_delivered": "on",
            "mail_failed": "on",
            "mail_needs_review": "on",
            "time_zone": "Europe/Lisbon",
        },
    )
    prefs = NotificationSettings.objects.get(user=world["dana"])
    assert not prefs.mail_changed and prefs.time_zone == "Europe/Lisbon"
    status_change(world["case"], "In Progress")
    assert mail.mail_due().messages == 0 and smtp_inbox.messages == []
    assert not CaseEvent.objects.filter(mailed=False).exists()  # handled: not mailed later either
    record_case_event(Kind.DELIVERED, world["case"])
    assert mail.mail_due().messages == 1


def test_a_title_or_due_date_change_alone_sends_no_mail(smtp_inbox, world):
    status_change(world["case"], "Printer on fire", field="name", old="Printer jammed")
    assert mail.mail_due().messages == 0


def test_visibility_is_checked_when_the_message_is_sent(smtp_inbox, world):
    status_change(world["case"], "In Progress")
    world["dana"].member_streams.clear()  # lost the stream after the change
    assert mail.mail_due().messages == 0 and smtp_inbox.messages == []


def test_a_mail_server_that_fails_leaves_the_events_for_the_next_tick(world, settings, closed_port):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port
    status_change(world["case"], "In Progress")
    assert mail.mail_due().messages == 0
    assert CaseEvent.objects.filter(mailed=False).count() == 1


def test_the_mail_task_runs_through_celery(smtp_inbox, world):
    from cases.notify import tasks

    status_change(world["case"], "In Progress")
    assert tasks.send_mail.delay().get() == 1


# --- The daily digest ----------------------------------------------------------------------


@pytest.fixture
def overdue(world):
    """Two overdue open cases on dana's stream, one elsewhere, one not yet due."""
    template = world["case"].template
    past = datetime(2026, 3, 1, tzinfo=UTC)
    for n, due in enumerate([past, past + timedelta(days=1)]):
        CaseFactory(template=template, state=Case.State.DELIVERED, kore_id=f"ci-{n}", due_date=due,
                    name=f"Overdue {n}", status_name="Open", status_category="open")  # fmt: skip
    CaseFactory(state=Case.State.DELIVERED, kore_id="ci-x", due_date=past, name="Someone else's")
    CaseFactory(template=template, state=Case.State.DELIVERED, kore_id="ci-y", name="Not yet due",
                due_date=datetime(2030, 1, 1, tzinfo=UTC))  # fmt: skip
    NotificationSettings.objects.create(user=world["dana"], daily_digest=True, time_zone="Asia/Tokyo")
    return world


def test_the_digest_comes_at_eight_in_the_persons_time_zone_once_a_day(smtp_inbox, overdue, clock):
    clock.at = datetime(2026, 3, 10, 22, 59, tzinfo=UTC)  # 07:59 in Tokyo
    assert digest.digests_due().sent == 0
    clock.at = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)  # 08:00 in Tokyo
    assert digest.digests_due().sent == 1
    clock.advance(hours=3)
    assert digest.digests_due().sent == 0  # once a day
    [message] = smtp_inbox.to("dana@example.com")
    assert message["Subject"] == "[Case Portal] 2 cases are overdue"
    text = text_of(message)
    assert "Overdue 0" in text and "Overdue 1" in text
    assert "Someone else's" not in text and "Not yet due" not in text
    assert "overdue=1" in text and "Overdue 0" in html_of(message)
    clock.at = datetime(2026, 3, 11, 23, 0, tzinfo=UTC)  # the next morning in Tokyo
    assert digest.digests_due().sent == 1


def test_only_people_who_act_on_cases_are_offered_the_daily_digest(client, world):
    viewer = UserFactory(username="vic", role=roles.VIEWER)
    viewer.member_streams.add(world["stream"])
    client.force_login(viewer)
    page = client.get(reverse("account")).content.decode()
    assert "Daily digest of overdue cases" not in page and "Time zone" in page
    client.post(reverse("account_notifications"), {"daily_digest": "on", "time_zone": "Europe/Lisbon"})
    prefs = NotificationSettings.objects.get(user=viewer)
    assert not prefs.daily_digest and prefs.time_zone == "Europe/Lisbon"  # the rest is saved
    client.force_login(world["dana"])  # an agent
    assert "Daily digest of overdue cases" in client.get(reverse("account")).content.decode()
    client.post(reverse("account_notifications"), {"daily_digest": "on"})
    assert NotificationSettings.objects.get(user=world["dana"]).daily_digest


def test_someone_made_a_viewer_gets_no_digest_they_chose_as_an_agent(smtp_inbox, overdue, clock):
    clock.at = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)  # after 08:00 in Tokyo
    roles.set_role(overdue["dana"], roles.VIEWER)
    assert digest.digests_due().sent == 0 and smtp_inbox.messages == []
    roles.set_role(overdue["dana"], roles.AGENT)
    assert digest.digests_due().sent == 1


def test_no_digest_without_opting_in_or_without_overdue_cases(smtp_inbox, overdue, clock):
    clock.at = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    NotificationSettings.objects.filter(user=overdue["dana"]).update(daily_digest=False)
    assert digest.digests_due().sent == 0
    NotificationSettings.objects.filter(user=overdue["dana"]).update(daily_digest=True)
    Case.objects.filter(name__startswith="Overdue").update(status_category="resolved")
    assert digest.digests_due().empty == 1 and smtp_inbox.messages == []
