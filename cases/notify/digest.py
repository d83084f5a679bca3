"""The daily digest: at 08:00 in each person's own time zone (their account page), the unresolved
cases of their streams past their due date, for those who opted in and act on cases (agents and
administrators; viewers are not offered it).

Each tick (``cases.notify.tasks.send_digests``) sends the digests whose hour has come today and
that were not sent today; the day is claimed before the message goes (a conditional update), so
two ticks never send one twice, and given back if the mail server fails. A day whose 08:00 was
missed (workers down) is sent when they come back, that same day; no overdue case, no message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import time

from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, NotificationSettings
from cases.notify import clock
from cases.notify.mail import absolute, user_zone
from cases.notify.payloads import case_url
from cases.people.roles import ACT_ON_CASES

logger = logging.getLogger(__name__)
DIGEST_AT = time(8, 0)
# The most cases a digest lists; the link to the Overdue view shows them all.
LISTED = 100


@dataclass
class DigestRun:
    sent: int = 0
    empty: int = 0


def digests_due() -> DigestRun:
    run = DigestRun()
    now = clock.now()
    # Judged when it is sent, as the account page judges the opt-in: someone who no longer acts
    # on cases (made a viewer) gets no digest, whatever they chose before.
    workers = get_user_model().objects.with_perm(
        ACT_ON_CASES, is_active=True, backend="django.contrib.auth.backends.ModelBackend"
    )
    subscribers = (
        NotificationSettings.objects.filter(daily_digest=True, user__in=workers)
        .exclude(user__email="")
        .select_related("user")
    )
    for prefs in subscribers:
        local = now.astimezone(user_zone(prefs))
        if local.time() < DIGEST_AT or (prefs.last_digest_on and prefs.last_digest_on >= local.date()):
            continue
        claimed = NotificationSettings.objects.filter(
            pk=prefs.pk, last_digest_on=prefs.last_digest_on
        ).update(last_digest_on=local.date())
        if not claimed:
            continue  # another tick has it
        overdue = Case.objects.visible_to(prefs.user).overdue(now)
        cases = list(overdue.select_related("stream").order_by("due_date", "id")[:LISTED])
        if not cases:
            run.empty += 1
            continue
        total = len(cases) if len(cases) < LISTED else overdue.count()
        try:
            digest_message(prefs, cases, total=total, day=local.date()).send()
        except Exception:  # noqa: BLE001 - any mail server failure: give the day back, try next tick
            logger.exception("could not send the digest of %s", prefs.user)
            NotificationSettings.objects.filter(pk=prefs.pk).update(last_digest_on=prefs.last_digest_on)
            continue
        run.sent += 1
    return run


def digest_message(
    prefs: NotificationSettings, cases: list[Case], *, total: int, day
) -> EmailMultiAlternatives:
    context = {
        "user": prefs.user,
        "rows": [(case, case_url(case.pk)) for case in cases],
        "total": total,
        "more": total - len(cases),
        "day": day,
        "overdue_url": absolute(reverse("case_list") + "?overdue=1&sort=due"),
        "account_url": absolute(reverse("account")),
    }
    with timezone.override(user_zone(prefs)):
        text = render_to_string("notify/digest_mail.txt", context)
        html = render_to_string("notify/digest_mail.html", context)
    noun = "case is" if total == 1 else "cases are"
    message = EmailMultiAlternatives(f"[Case Portal] {total} {noun} overdue", text, to=[prefs.user.email])
    message.attach_alternative(html, "text/html")
    return message
