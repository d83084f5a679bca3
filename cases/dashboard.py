"""The dashboard's figures, each read in one aggregate query over the cases a user may see,
and the per-day chart laid out as server-rendered SVG (no chart library, no script)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.core.cache import caches
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from cases import roles
from cases.models import Case

CHART_DAYS = 30
CHART_WIDTH, CHART_HEIGHT, CHART_BOTTOM = 720, 180, 20


@dataclass
class Bar:
    day: date
    count: int
    x: float
    y: float
    width: float
    height: float


@dataclass
class Figures:
    created_per_day: list[tuple[date, int]] = field(default_factory=list)
    open_by_status: list[dict] = field(default_factory=list)
    open_by_priority: list[dict] = field(default_factory=list)
    open_by_stream: list[dict] = field(default_factory=list)
    open_total: int = 0
    overdue: int = 0
    delivery: dict[str, int] = field(default_factory=dict)
    my_recent: list[Case] = field(default_factory=list)
    computed_at: datetime | None = None

    @property
    def chart(self) -> dict:
        """Bars of the per-day chart in SVG user units, with the scale's top value."""
        top = max((count for _, count in self.created_per_day), default=0) or 1
        slot = CHART_WIDTH / max(len(self.created_per_day), 1)
        plot = CHART_HEIGHT - CHART_BOTTOM
        bars = []
        for index, (day, count) in enumerate(self.created_per_day):
            height = plot * count / top
            bars.append(Bar(day, count, index * slot + 2, plot - height, max(slot - 4, 1), height))
        return {
            "bars": bars,
            "top": top,
            "width": CHART_WIDTH,
            "height": CHART_HEIGHT,
            "baseline": plot,
            "total": sum(count for _, count in self.created_per_day),
        }


def _day_bounds(today: date, days: int) -> list[datetime]:
    """Midnights in the current time zone from ``days - 1`` days ago to tomorrow."""
    first = today - timedelta(days=days - 1)
    return [
        timezone.make_aware(datetime.combine(first + timedelta(days=n), time.min)) for n in range(days + 1)
    ]


def created_per_day(cases, *, today: date, days: int = CHART_DAYS) -> list[tuple[date, int]]:
    """Cases created on each of the last ``days`` days (local days), zeros included.

    One query made of one count per day, each an index range of created_at: exact in every time
    zone, and no per-row date conversion.
    """
    bounds = _day_bounds(today, days)
    if cases.query.is_empty():  # someone who may see no stream: nothing to compile or count
        return [(bounds[n].date(), 0) for n in range(days)]
    parts, params = [], []
    for n in range(days):
        day = cases.filter(created_at__gte=bounds[n], created_at__lt=bounds[n + 1]).order_by().values("id")
        sql, day_params = day.query.sql_with_params()
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS day{n})")  # noqa: S608 (compiled by Django)
        params.extend(day_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        counts = cursor.fetchone()
    return [(bounds[n].date(), counts[n] or 0) for n in range(days)]


def dashboard_figures(user, *, now: datetime | None = None, cache_seconds: int = 0) -> Figures:
    """Everything the dashboard shows, for the cases ``user`` may see: four aggregate queries
    and the user's recent cases. With ``cache_seconds`` the aggregates are kept that long per
    user, or once for all administrators (they scan every open case and the last 30 days); the recent cases
    are always fresh."""
    now = now or timezone.now()
    visible = Case.objects.visible_to(user)
    if cache_seconds:
        # Administrators share one set of figures; anyone limited to some streams has their own.
        scope = "all" if roles.sees_every_stream(user) else f"user{user.pk}"
        key = f"dashboard:v2:{scope}:{timezone.get_current_timezone_name()}"
        cache = caches["dashboard"]
        figures = cache.get(key)
        if figures is None:
            figures = _aggregates(visible, now)
            cache.set(key, figures, cache_seconds)
    else:
        figures = _aggregates(visible, now)
    figures.my_recent = list(
        visible.filter(submitted_by=user)
        .select_related("stream", "template")
        .defer("request_body", "kore_case", "last_error")
        .order_by("-created_at", "-id")[:10]
    )
    return figures


def _aggregates(visible, now: datetime) -> Figures:
    figures = Figures(computed_at=now)
    figures.created_per_day = created_per_day(visible, today=timezone.localdate(now))

    # Open cases grouped by every dimension at once; the few groups are summed here.
    groups = (
        visible.open()
        .order_by()
        .values(
            "status_name",
            "status_category",
            "priority_name",
            "priority_color",
            "priority_score",
            "stream_id",
            "stream__name",
        )
        .annotate(n=Count("id"), late=Count("id", filter=Q(due_date__lt=now)))
    )
    by_status: dict[tuple, int] = {}
    by_priority: dict[tuple, int] = {}
    by_stream: dict[tuple, int] = {}
    for group in groups:
        n = group["n"]
        figures.open_total += n
        figures.overdue += group["late"]
        status_key = (group["status_name"], group["status_category"])
        by_status[status_key] = by_status.get(status_key, 0) + n
        priority_key = (group["priority_name"], group["priority_color"], group["priority_score"] or 0)
        by_priority[priority_key] = by_priority.get(priority_key, 0) + n
        stream_key = (group["stream_id"], group["stream__name"])
        by_stream[stream_key] = by_stream.get(stream_key, 0) + n
    figures.open_by_status = [
        {"name": name or "—", "value": name, "category": category, "count": n}
        for (name, category), n in sorted(by_status.items(), key=lambda item: (-item[1], item[0][0]))
    ]
    figures.open_by_priority = [
        {"name": name or "—", "value": name, "color": color, "count": n}
        for (name, color, _), n in sorted(by_priority.items(), key=lambda item: (-item[0][2], item[0][0]))
    ]
    figures.open_by_stream = [
        {"id": stream_id, "name": name, "count": n}
        for (stream_id, name), n in sorted(by_stream.items(), key=lambda item: (-item[1], item[0][1]))
    ]

    health = dict(
        visible.filter(state__in=[*Case.PENDING_STATES, Case.State.FAILED, Case.State.NEEDS_REVIEW])
        .order_by()
        .values_list("state")
        .annotate(n=Count("id"))
    )
    figures.delivery = {
        "queued": health.get(Case.State.QUEUED, 0) + health.get(Case.State.SENDING, 0),
        "retrying": health.get(Case.State.RETRYING, 0),
        "failed": health.get(Case.State.FAILED, 0) + health.get(Case.State.NEEDS_REVIEW, 0),
    }
    return figures
