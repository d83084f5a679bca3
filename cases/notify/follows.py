"""Who follows a case, and the bell: the changes to followed cases a person has not seen.

The submitter follows a case from the start (cases/delivery/submit.py); anyone who may see a
case may follow or unfollow it. The bell counts the events of followed cases newer than the
person's mark, only of the streams they may see now.
"""

from __future__ import annotations

from django.db.models import QuerySet

from cases.models import Case, CaseEvent, Follow, NotificationSettings
from cases.models.streams import within_visible_streams

# The bell shows "99+" beyond this: counting further costs more and tells nothing more.
UNREAD_CAP = 99


def settings_of(user) -> NotificationSettings:
    found, _ = NotificationSettings.objects.get_or_create(user=user)
    return found


def case_follow(*, user, case: Case) -> None:
    Follow.objects.get_or_create(user=user, case=case)


def case_unfollow(*, user, case: Case) -> None:
    Follow.objects.filter(user=user, case=case).delete()


def is_following(user, case: Case) -> bool:
    return Follow.objects.filter(user=user, case=case).exists()


def followed_events(user) -> QuerySet[CaseEvent]:
    """Events of the cases a person follows, of the streams they may see now."""
    events = CaseEvent.objects.filter(case__follows__user=user)
    return within_visible_streams(events, user)


def unread_count(user) -> int:
    mark = NotificationSettings.objects.filter(user=user).values_list("read_up_to", flat=True).first() or 0
    return followed_events(user).filter(id__gt=mark)[: UNREAD_CAP + 1].count()


def recent_events(user, *, limit: int = 50) -> tuple[list[CaseEvent], int]:
    """The newest events of followed cases, and the person's mark (what is older was seen)."""
    mark = settings_of(user).read_up_to
    events = list(followed_events(user).select_related("case").order_by("-id")[:limit])
    return events, mark


def mark_read(user, *, up_to: int) -> None:
    NotificationSettings.objects.filter(user=user, read_up_to__lt=up_to).update(read_up_to=up_to)
