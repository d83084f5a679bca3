"""The dashboard's figures for the cases a user may see, and the per-day chart laid out as
server-rendered SVG (no chart library, no script).

The figures take two queries: one statement of scalar counts (cases per day summed from the
quarter hours CreatedCount keeps, overdue cases from the due days OpenDueCount keeps, delivery
states as index ranges), and the open cases by status, priority and stream from OpenCaseCount.
The database keeps these tables counted (cases/case_counts.py), so the dashboard reads neither
every open case nor 30 days of cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.core.cache import caches
from django.db import connection
from django.utils import timezone

from cases.models import Case, CreatedCount, OpenCaseCount, OpenDueCount
from cases.models.streams import sees_every_stream, visible_streams

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


def on_slot(moment: datetime) -> bool:
    """Whether a moment starts a quarter hour (UTC), the unit CreatedCount counts in."""
    utc = moment.astimezone(UTC)
    return utc.minute % 15 == 0 and utc.second == 0 and utc.microsecond == 0


def scalars(parts: list[tuple[str, object, str]]) -> list[int]:
    """Each (function, queryset, column) as one number, ``COUNT`` or ``SUM`` of the column over
    the queryset's rows, all in one statement of scalar subqueries: one query however many
    figures, each an index range of its own."""
    sql_parts, params = [], []
    for n, (function, queryset, column) in enumerate(parts):
        assert function in ("COUNT", "SUM")
        sql, part_params = queryset.order_by().values(column).query.sql_with_params()
        # Compiled by Django; the function and the column are names from this module.
        sql_parts.append(f"(SELECT {function}({column}) FROM ({sql}) AS part{n})")  # noqa: S608
        params.extend(part_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(sql_parts), params)
        return [value or 0 for value in cursor.fetchone()]


def dashboard_figures(user, *, now: datetime | None = None, cache_seconds: int = 0) -> Figures:
    """Everything the dashboard shows, for the cases ``user`` may see: two queries of figures
    and the user's recent cases. With ``cache_seconds`` the figures are kept that long per
    user, or once for all administrators; the recent cases are always fresh."""
    now = now or timezone.now()
    streams = _stream_scope(user)
    visible = _within(Case.objects.all(), streams)
    if cache_seconds:
        # Administrators share one set of figures; anyone limited to some streams has their own.
        scope = "all" if sees_every_stream(user) else f"user{user.pk}"
        key = f"dashboard:v2:{scope}:{timezone.get_current_timezone_name()}"
        cache = caches["dashboard"]
        figures = cache.get(key)
        if figures is None:
            figures = _aggregates(streams, visible, now)
            cache.set(key, figures, cache_seconds)
    else:
        figures = _aggregates(streams, visible, now)
    figures.my_recent = list(
        visible.filter(submitted_by=user)
        .select_related("stream", "template")
        .defer("request_body", "kore_case", "last_error")
        .order_by("-created_at", "-id")[:10]
    )
    return figures


HEALTH_STATES = (*Case.PENDING_STATES, Case.State.FAILED, Case.State.NEEDS_REVIEW)


def _stream_scope(user) -> list[int] | None:
    """The ids of the streams a user may see, read once (None: every stream). The figures
    filter by this list rather than by the membership subquery the lists use: PostgreSQL
    answers "stream IN (list)" from the (state, stream) index, but joins a subquery to every
    case in a state."""
    streams = visible_streams(user)
    if streams is None:
        return None
    return [] if streams.query.is_empty() else list(streams.values_list("pk", flat=True))


def _within(queryset, streams: list[int] | None):
    if streams is None:
        return queryset
    return queryset.filter(stream_id__in=streams) if streams else queryset.none()


def _aggregates(streams: list[int] | None, visible, now: datetime) -> Figures:
    figures = Figures(computed_at=now)
    if visible.query.is_empty():  # someone who may see no stream: nothing to count
        bounds = _day_bounds(timezone.localdate(now), CHART_DAYS)
        figures.created_per_day = [(start.date(), 0) for start in bounds[:-1]]
        figures.delivery = {"queued": 0, "retrying": 0, "failed": 0}
        return figures

    # One statement: the cases created on each day of the chart, the open cases past their due
    # date, and the cases in each delivery state that needs watching. A local day is a range
    # between midnights, so exact in every time zone; its cases are summed from the quarter
    # hours CreatedCount keeps, or counted when the zone is not a whole number of quarter hours
    # from UTC (no zone today).
    bounds = _day_bounds(timezone.localdate(now), CHART_DAYS)
    days = list(zip(bounds, bounds[1:], strict=False))
    if all(on_slot(moment) for moment in bounds):
        slots = _within(CreatedCount.objects.all(), streams)
        day_parts = [("SUM", slots.filter(slot__gte=start, slot__lt=end), "count") for start, end in days]
    else:
        day_parts = [
            ("COUNT", visible.filter(created_at__gte=start, created_at__lt=end), "id") for start, end in days
        ]
    # Overdue: the open cases due on days before today (UTC), kept counted by OpenDueCount,
    # and today's open cases due before now, an index range of at most a day.
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    numbers = scalars(
        [
            *day_parts,
            ("SUM", _within(OpenDueCount.objects.all(), streams).filter(day__lt=midnight), "count"),
            ("COUNT", visible.overdue(now).filter(due_date__gte=midnight), "id"),
            # stream_id, not id: the (state, stream) index then answers alone, without reading
            # each case (PostgreSQL otherwise reads every failed case for an agent's figures).
            *(("COUNT", visible.filter(state=state), "stream_id") for state in HEALTH_STATES),
        ]
    )
    figures.created_per_day = [(start.date(), n) for (start, _), n in zip(days, numbers, strict=False)]
    figures.overdue = numbers[len(days)] + numbers[len(days) + 1]
    health = dict(zip(HEALTH_STATES, numbers[len(days) + 2 :], strict=True))
    figures.delivery = {
        "queued": health[Case.State.QUEUED] + health[Case.State.SENDING],
        "retrying": health[Case.State.RETRYING],
        "failed": health[Case.State.FAILED] + health[Case.State.NEEDS_REVIEW],
    }

    # Open cases by status, priority and stream, summed from the few groups the database keeps
    # counted (OpenCaseCount) rather than from every open case.
    by_status: dict[tuple, int] = {}
    by_priority: dict[tuple, int] = {}
    by_stream: dict[tuple, int] = {}
    for group in _within(OpenCaseCount.objects.all(), streams).filter(count__gt=0).select_related("stream"):
        n = group.count
        figures.open_total += n
        status_key = (group.status_name, group.status_category)
        by_status[status_key] = by_status.get(status_key, 0) + n
        priority_key = (group.priority_name, group.priority_color, group.priority_score)
        by_priority[priority_key] = by_priority.get(priority_key, 0) + n
        stream_key = (group.stream_id, group.stream.name)
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
    return figures
