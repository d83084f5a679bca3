"""Pages of notifications for everyone: following a case, the bell and its list of changes, and
what a person wants to hear (on their account page). The work is in cases/notify/."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from cases.models import NotificationSettings
from cases.notify import follows
from cases.notify.mail import lines_of
from cases.people.roles import ACT_ON_CASES, browse_permission_required
from cases.web.cases import get_visible_case


@lru_cache(maxsize=1)
def zone_choices() -> list[tuple[str, str]]:
    return [("", "The portal's own"), *((name, name) for name in sorted(zoneinfo.available_timezones()))]


class NotificationSettingsForm(forms.ModelForm):
    """What ``user`` wants to hear. The daily digest lists overdue cases to work on, so only
    people who act on cases (agents, administrators) are offered it, or may set it."""

    time_zone = forms.ChoiceField(
        choices=zone_choices,
        required=False,
        help_text="Times in your e-mail are shown in this time zone; the daily digest comes at 08:00 in it.",
    )

    class Meta:
        model = NotificationSettings
        fields = [
            "mail_delivered",
            "mail_failed",
            "mail_needs_review",
            "mail_changed",
            "mail_tasks",
            "daily_digest",
            "time_zone",
        ]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.offers_digest = user.has_perm(ACT_ON_CASES)
        if not self.offers_digest:
            del self.fields["daily_digest"]
            self.fields["time_zone"].help_text = "Times in your e-mail are shown in this time zone."


@require_POST
def account_notifications(request: HttpRequest) -> HttpResponse:
    prefs = follows.settings_of(request.user)
    form = NotificationSettingsForm(request.POST, instance=prefs, user=request.user)
    if form.is_valid():
        form.save()
        messages.success(request, "Your notification settings are saved.")
    else:
        messages.error(request, "Your notification settings were not saved: " + " ".join(
            error for errors in form.errors.values() for error in errors
        ))  # fmt: skip
    return redirect("account")


@browse_permission_required
@require_POST
def case_follow(request: HttpRequest, case_id: int) -> HttpResponse:
    """Follow (``follow=1``) or stop following a case one may see."""
    case = get_visible_case(request, case_id)
    if request.POST.get("follow") == "1":
        follows.case_follow(user=request.user, case=case)
        messages.success(request, "You follow this case: its changes come to you by e-mail and on the bell.")
    else:
        follows.case_unfollow(user=request.user, case=case)
        messages.success(request, "You no longer follow this case.")
    return redirect(case)


def notification_list(request: HttpRequest) -> HttpResponse:
    """The bell's page: the newest changes to followed cases; opening it marks them read."""
    events, mark = follows.recent_events(request.user)
    rows = [
        {"event": event, "unread": event.pk > mark,
         "lines": lines_of(event, every_field=True) or [event.get_kind_display()]}
        for event in events
    ]  # fmt: skip
    if events:
        follows.mark_read(request.user, up_to=events[0].pk)
    return render(request, "cases/notifications.html", {"rows": rows})


def notification_count(request: HttpRequest) -> HttpResponse:
    """The bell's number (htmx fetches it after the page, so no page waits for it)."""
    return render(request, "cases/_bell_count.html", {"unread": follows.unread_count(request.user)})
