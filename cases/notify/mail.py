"""E-mail to the followers of a case: at most one message per case per
``NOTIFY_MAIL_WINDOW_SECONDS``, every event since the last one batched into it, in plain text
and HTML with a link to the case.

Each tick mails the cases that have unmailed events and were not mailed within the window.
Whether a follower still may see the case, is active, has an address and wants each kind is
judged at that moment: losing a stream stops its mail. Events nobody wants are marked mailed
without a message. When the mail server fails, nothing is marked and the next tick tries again
(a follower may then get a message twice, never none).
"""

from __future__ import annotations

import logging
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, CaseEvent, CaseMailMark, Follow, NotificationSettings
from cases.models.streams import visible_streams
from cases.notify import clock
from cases.notify.payloads import case_url

logger = logging.getLogger(__name__)
Kind = CaseEvent.Kind
# The changes at Kore followers are mailed about (titles and due dates only show on the bell);
# of a task, its status and priority (a new name only shows on the bell).
MAILED_FIELDS = {"status", "priority", "assignee"}
MAILED_TASK_FIELDS = {"status", "priority"}
CASES_PER_BATCH = 100
FIELD_LABELS = {"name": "Title", "status": "Status", "priority": "Priority", "assignee": "Assignee",
                "due_date": "Due date"}  # fmt: skip


def absolute(path: str) -> str:
    return settings.PORTAL_BASE_URL.rstrip("/") + path


def user_zone(prefs: NotificationSettings | None):
    try:
        return (
            zoneinfo.ZoneInfo(prefs.time_zone)
            if prefs and prefs.time_zone
            else timezone.get_default_timezone()
        )
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return timezone.get_default_timezone()


def lines_of(event: CaseEvent, *, every_field: bool = False) -> list[str]:
    """What a message says about one event (the bell shows changes of every field)."""
    data = event.data or {}
    case = data.get("case") or {}
    if event.kind == Kind.DELIVERED:
        return [f"Delivered to Kore.ai as {case.get('refId') or 'a new case'}."]
    if event.kind == Kind.FAILED:
        return [f"Delivery failed for good: {case.get('last_error') or 'no reason given'}"]
    if event.kind == Kind.NEEDS_REVIEW:
        return [f"Needs review: {case.get('last_error') or 'a person must decide'}"]
    if event.kind == Kind.CHANGED:
        return [
            f"{FIELD_LABELS.get(change['field'], change['field'])}: {change['old'] or '(none)'} → "
            f"{change['new'] or '(none)'}"
            for change in data.get("changes", [])
            if every_field or change["field"] in MAILED_FIELDS
        ]
    if event.kind in (Kind.TASK_CREATED, Kind.TASK_CHANGED):
        return task_lines(event, every_field=every_field)
    return []


def task_lines(event: CaseEvent, *, every_field: bool = False) -> list[str]:
    data = event.data or {}
    task = data.get("task") or {}
    named = f"“{task.get('name') or 'a task'}”" + (f" ({task['refId']})" if task.get("refId") else "")
    if event.kind == Kind.TASK_CREATED:
        status = f", {task['status_name']}" if task.get("status_name") else ""
        return [f"Task added: {named}{status}."]
    return [
        f"Task {named}: {FIELD_LABELS.get(change['field'], change['field'])}: {change['old'] or '(none)'} → "
        f"{change['new'] or '(none)'}"
        for change in data.get("changes", [])
        if every_field or change["field"] in MAILED_TASK_FIELDS
    ]


def wanted(prefs: NotificationSettings, event: CaseEvent) -> bool:
    return prefs.wants(event.kind) and bool(lines_of(event))


@dataclass
class MailRun:
    cases: int = 0
    messages: int = 0


class Visibility:
    """Which streams each person may see, read once per run."""

    def __init__(self):
        self.known: dict[int, set[int] | None] = {}

    def sees(self, user, stream_id: int) -> bool:
        if user.pk not in self.known:
            streams = visible_streams(user)
            self.known[user.pk] = None if streams is None else set(streams.values_list("pk", flat=True))
        streams = self.known[user.pk]
        return streams is None or stream_id in streams


def cases_due(now, *, limit: int) -> list[int]:
    """Cases with unmailed events whose last message is older than the window."""
    window = timedelta(seconds=settings.NOTIFY_MAIL_WINDOW_SECONDS)
    recent = CaseMailMark.objects.filter(last_sent_at__gt=now - window).values("case_id")
    return list(
        CaseEvent.objects.filter(mailed=False, case__isnull=False)
        .exclude(case_id__in=recent)
        .order_by()
        .values_list("case_id", flat=True)
        .distinct()[:limit]
    )


def mail_due(*, max_cases: int = 5000) -> MailRun:
    """Mail every case that is due now (a tick of ``cases.notify.tasks.send_mail``)."""
    run, visibility = MailRun(), Visibility()
    now = clock.now()
    due = cases_due(now, limit=max_cases)
    for start in range(0, len(due), CASES_PER_BATCH):
        batch = due[start : start + CASES_PER_BATCH]
        if not mail_cases(batch, now=now, visibility=visibility, run=run):
            break  # the mail server failed: the next tick tries again
    return run


def mail_cases(case_ids: list[int], *, now, visibility: Visibility, run: MailRun) -> bool:
    events = list(CaseEvent.objects.filter(case_id__in=case_ids, mailed=False).order_by("id"))
    by_case = defaultdict(list)
    for event in events:
        by_case[event.case_id].append(event)
    cases = Case.objects.select_related("stream").in_bulk(list(by_case))
    followers = defaultdict(list)
    follows = Follow.objects.filter(case_id__in=list(by_case), user__is_active=True).exclude(user__email="")
    for follow in follows.select_related("user", "user__notification_settings"):
        followers[follow.case_id].append(follow.user)
    messages, mailed = [], set()
    for case_id, case_events in by_case.items():
        case = cases.get(case_id)
        for user in followers.get(case_id, []) if case else []:
            prefs = getattr(user, "notification_settings", None) or NotificationSettings(user=user)
            told = [event for event in case_events if wanted(prefs, event)]
            if told and visibility.sees(user, case.stream_id):
                messages.append(case_message(user, prefs, case, told))
                mailed.add(case_id)
    if messages:
        try:
            get_connection().send_messages(messages)
        except Exception:  # noqa: BLE001 - any mail server failure; nothing is marked, so it is retried
            logger.exception("could not send %s case e-mail(s); the next tick tries again", len(messages))
            return False
    with transaction.atomic():
        CaseEvent.objects.filter(id__in=[event.id for event in events]).update(mailed=True)
        for case_id in mailed:
            CaseMailMark.objects.update_or_create(case_id=case_id, defaults={"last_sent_at": now})
    run.cases += len(mailed)
    run.messages += len(messages)
    return True


def case_message(
    user, prefs: NotificationSettings, case: Case, events: list[CaseEvent]
) -> EmailMultiAlternatives:
    name = str(case)
    lines = [(event, line) for event in events for line in lines_of(event)]
    summary = lines[0][1] if len(lines) == 1 else f"{len(lines)} updates"
    context = {
        "user": user,
        "case": case,
        "name": name,
        "lines": lines,
        "case_url": case_url(case.pk),
        "account_url": absolute(reverse("account")),
    }
    with timezone.override(user_zone(prefs)):
        text = render_to_string("notify/case_mail.txt", context)
        html = render_to_string("notify/case_mail.html", context)
    subject = f"[Case Portal] {name}: {summary}"[:200]
    message = EmailMultiAlternatives(subject, text, to=[user.email])
    message.attach_alternative(html, "text/html")
    return message


def tell_administrators(*, subject: str, text: str, endpoint=None) -> int:
    """A notice to every active administrator with an address (a switched-off endpoint)."""
    admins = (
        get_user_model()
        .objects.with_perm(
            "cases.manage_portal", is_active=True, backend="django.contrib.auth.backends.ModelBackend"
        )
        .exclude(email="")
    )
    link = absolute(reverse("webhook_log", args=[endpoint.pk])) if endpoint else absolute("/")
    body = f"{text}\n\n{link}\n"
    messages = [
        EmailMultiAlternatives(f"[Case Portal] {subject}", body, to=[admin.email]) for admin in admins
    ]
    try:
        return get_connection().send_messages(messages) or 0
    except Exception:  # noqa: BLE001 - the page shows the notice anyway
        logger.exception("could not tell the administrators: %s", subject)
        return 0
