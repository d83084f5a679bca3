"""Browsing the cases: filters, search, sorting, keyset pages, and the list page around them."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from cases import browse
from cases.models import Case, KoreAssignee, KorePriority, KoreStatus
from cases.people import roles
from tests.factories import CaseFactory, CaseTemplateFactory, StreamFactory, UserFactory

pytestmark = pytest.mark.django_db


def delivered(number: int, **fields) -> Case:
    """A case as Kore delivered it, with refId CS + number."""
    defaults = {
        "state": Case.State.DELIVERED,
        "kore_id": f"ci-test-{number}",
        "ref_id": f"CS{number:08d}",
        "status_name": "Open",
        "status_category": "open",
        "priority_name": "Medium",
        "priority_score": 10,
        "assignee_name": "Asha Rao",
    }
    return CaseFactory(**{**defaults, **fields})


def browse_ids(user, query: str = "", **kwargs) -> list[int]:
    result = browse.browse_cases(user, QueryDict(query), **kwargs)
    assert result.ok, result.errors
    return [case.pk for case in result.cases]


def all_pages(user, query: str) -> list[int]:
    """Follow the cursor from the first page to the last."""
    ids, cursor = [], None
    while True:
        params = QueryDict(query, mutable=True)
        if cursor:
            params["cursor"] = cursor
        result = browse.browse_cases(user, params)
        assert result.ok, result.errors
        ids += [case.pk for case in result.cases]
        cursor = result.next_cursor
        if not cursor:
            return ids


@pytest.fixture
def user():
    """An administrator: these tests are about filters, not about who sees which stream."""
    return UserFactory(username="carol", role=roles.ADMINISTRATOR)


# --- Filters -------------------------------------------------------------------------------


def test_each_filter_keeps_only_the_matching_cases(user):
    now = timezone.now()
    stream_b = StreamFactory(name="Billing")
    template_b = CaseTemplateFactory(stream=stream_b)
    dave = UserFactory(username="dave")
    base = delivered(1, created_at=now - timedelta(days=10), due_date=now - timedelta(days=1))
    other = delivered(
        2,
        template=template_b,
        status_name="Resolved",
        status_category="resolved",
        priority_name="High",
        priority_score=20,
        assignee_name="Ben Okafor",
        source="email",
        submitted_by=dave,
        created_at=now - timedelta(days=2),
        due_date=now + timedelta(days=5),
    )
    failed = CaseFactory(
        state=Case.State.FAILED, created_at=now - timedelta(days=1), due_date=now - timedelta(days=2)
    )
    today = timezone.localdate()

    assert browse_ids(user, f"stream={stream_b.pk}") == [other.pk]
    assert browse_ids(user, f"template={template_b.pk}") == [other.pk]
    assert browse_ids(user, "status=Resolved") == [other.pk]
    assert browse_ids(user, "status=open") == [base.pk]  # a category
    assert browse_ids(user, "priority=High") == [other.pk]
    assert browse_ids(user, "state=failed") == [failed.pk]
    assert browse_ids(user, "source=email") == [other.pk]
    assert browse_ids(user, "submitted_by=dave") == [other.pk]
    assert browse_ids(user, "assignee=Ben+Okafor") == [other.pk]
    assert browse_ids(user, f"created_after={today - timedelta(days=3)}") == [failed.pk, other.pk]
    assert browse_ids(user, f"created_before={today - timedelta(days=3)}") == [base.pk]
    assert browse_ids(user, f"due_after={today + timedelta(days=1)}") == [other.pk]
    assert browse_ids(user, f"due_before={today}&state=delivered") == [base.pk]
    assert browse_ids(user, "overdue=1") == [base.pk]


def test_filters_combine_and_repeated_values_mean_either(user):
    high = delivered(1, priority_name="High", priority_score=20, source="email")
    low = delivered(2, priority_name="Low", priority_score=5, source="email")
    delivered(3, priority_name="High", priority_score=20, source="web")
    assert sorted(browse_ids(user, "priority=High&priority=Low&source=email")) == sorted([high.pk, low.pk])
    assert browse_ids(user, "priority=High&source=email") == [high.pk]


def test_date_ranges_include_both_end_days(user):
    day = timezone.localdate() - timedelta(days=5)
    start = timezone.make_aware(timezone.datetime.combine(day, timezone.datetime.min.time()))
    first_second = CaseFactory(created_at=start)
    last_second = CaseFactory(created_at=start + timedelta(days=1) - timedelta(microseconds=1))
    CaseFactory(created_at=start + timedelta(days=1))
    CaseFactory(created_at=start - timedelta(microseconds=1))
    ids = browse_ids(user, f"created_after={day}&created_before={day}")
    assert ids == [last_second.pk, first_second.pk]


def test_bad_parameters_are_all_reported_without_reading(user, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):  # the permissions (two), the streams and templates; no cases
        result = browse.browse_cases(
            user,
            QueryDict(
                "stream=999&state=lost&created_after=2026-13-01&page_size=7"
                "&overdue=maybe&due_after=2026-05-02&due_before=2026-05-01&cursor=%%%"
            ),
        )
    assert not result.ok
    problems = "\n".join(result.errors)
    for name in ("stream", "state", "created_after", "page_size", "overdue", "due_before", "cursor"):
        assert f"{name}:" in problems
    assert result.cases == []
    assert browse.browse_cases(user, QueryDict("sort=sideways")).errors == [
        "sort: Select a valid choice. sideways is not one of the available choices."
    ]


def test_the_list_page_answers_bad_parameters_with_400_and_the_message(member_client):
    response = member_client.get(reverse("case_list") + "?created_after=yesterday&sort=nope")
    assert response.status_code == 400
    assert b"created_after: Enter a valid date." in response.content


# --- Search --------------------------------------------------------------------------------


def test_search_matches_ref_id_kore_id_email_phone_and_words(user):
    printer = delivered(
        1234, name="Printer on floor 3 is jammed", desc="Grinding noise", requester_email="Ann@Example.com"
    )
    vpn = delivered(
        5678, name="Cannot reach the VPN", desc="Since the update", requester_phone="+44 20 7946 0958"
    )
    assert browse_ids(user, "q=CS00001234") == [printer.pk]
    assert browse_ids(user, "q=cs00005678") == [vpn.pk]
    assert browse_ids(user, f"q={vpn.kore_id}") == [vpn.pk]
    assert browse_ids(user, "q=ann%40example.com") == [printer.pk]
    assert browse_ids(user, "q=%2B44+20+7946+0958") == [vpn.pk]
    assert browse_ids(user, "q=printer+jammed") == [printer.pk]
    assert browse_ids(user, "q=grinding") == [printer.pk]  # the description
    assert browse_ids(user, "q=update+VPN") == [vpn.pk]
    assert browse_ids(user, "q=printer+vpn") == []  # every word must match
    assert browse_ids(user, 'q="%3B--') == []  # punctuation only: no error, no match


def test_word_search_follows_edits_and_deletions(user):
    case = delivered(1, name="Broken chair")
    assert browse_ids(user, "q=chair") == [case.pk]
    Case.objects.filter(pk=case.pk).update(name="Broken desk")
    assert browse_ids(user, "q=chair") == []
    assert browse_ids(user, "q=desk") == [case.pk]
    Case.objects.filter(pk=case.pk).delete()
    assert browse_ids(user, "q=desk") == []


@pytest.mark.parametrize("cap", [1000, 5], ids=["few matches", "many matches"])
def test_word_search_pages_hold_every_match_once_in_order_however_many_match(user, monkeypatch, cap):
    # Few matches: their ids go into the query; many: the list's index is walked (cases/browse/search.py).
    monkeypatch.setattr(browse.search, "WORD_COUNT_CAP", cap)
    now = timezone.now()
    template = CaseTemplateFactory()
    matching = [
        CaseFactory(
            template=template,
            name=f"Printer {n} jammed",
            created_at=now - timedelta(minutes=n // 3),  # ties, broken by id
            due_date=now + timedelta(hours=n % 5),
        )
        for n in range(40)
    ]
    for case in matching[::4]:  # some without a due date, which sort last
        case.due_date = None
        case.save(update_fields=["due_date"])
    CaseFactory.create_batch(15, template=template, name="Cannot log in", created_at=now)
    newest = sorted(matching, key=lambda case: (case.created_at, case.pk), reverse=True)
    assert all_pages(user, "q=printer+jammed&page_size=25") == [case.pk for case in newest]
    due_first = sorted(matching, key=lambda case: (case.due_date is None, case.due_date or now, case.pk))
    assert all_pages(user, "q=jammed&sort=due&page_size=25") == [case.pk for case in due_first]
    result = browse.browse_cases(user, QueryDict("q=printer&page_size=25"))
    assert (result.total, result.total_is_capped) == ((40, False) if cap > 40 else (cap, True))
    assert browse_ids(user, "q=printer+jammed+zebra") == []


def test_searching_an_exact_ref_id_opens_the_case(member_client):
    case = delivered(4321)
    response = member_client.get(reverse("case_list") + "?q=CS00004321")
    assert response.status_code == 302 and response.url == case.get_absolute_url()
    htmx = member_client.get(reverse("case_list") + "?q=CS00004321", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == case.get_absolute_url()


def test_an_unknown_ref_id_shows_an_empty_list(member_client):
    delivered(1)
    response = member_client.get(reverse("case_list") + "?q=CS99999999")
    assert response.status_code == 200 and b"No case matches these filters" in response.content


# --- Sorting and keyset pages --------------------------------------------------------------


def test_cursor_pages_walk_every_case_once_in_order_even_with_ties(user):
    moment = timezone.now() - timedelta(hours=1)
    template = CaseTemplateFactory()
    cases = [CaseFactory(template=template, created_at=moment) for _ in range(7)]  # all tied
    cases += [CaseFactory(template=template, created_at=moment - timedelta(minutes=n)) for n in range(1, 6)]
    expected = [c.pk for c in sorted(cases, key=lambda c: (c.created_at, c.pk), reverse=True)]
    assert all_pages(user, "page_size=25") == expected
    for size in (1, 2, 3, 5, 7):
        pages = all_pages(user, f"page_size={size}") if size in browse.PAGE_SIZES else None
        if pages is not None:
            assert pages == expected
    # page sizes the form does not offer are refused; the small ones come from the internal API
    queryset = Case.objects.all()
    for size in (1, 2, 3, 5, 7, 12, 13):
        walked, cursor = [], None
        while True:
            rows, next_cursor = browse.page_of(queryset, sort="-created", cursor=cursor, size=size)
            walked += [row.pk for row in rows]
            if next_cursor is None:
                break
            cursor = next_cursor
        assert walked == expected, size


@pytest.mark.parametrize("sort", [key for key, _ in browse.SORT_CHOICES])
def test_every_sort_pages_through_every_case_in_its_order(user, sort):
    now = timezone.now()
    template = CaseTemplateFactory()
    specs = [
        # (due in days or None, priority score or None, status, ref number)
        (1, 20, "Open", 5),
        (1, 20, "Open", 3),
        (None, None, "", None),
        (3, 5, "Resolved", 9),
        (None, 10, "Closed", 1),
        (2, None, "Open", 7),
        (None, None, "", None),
        (3, 5, "Pending", 2),
    ]
    cases = []
    for n, (due, score, status, ref) in enumerate(specs):
        case = CaseFactory(
            template=template,
            created_at=now - timedelta(minutes=n % 3),
            status_name=status,
            ref_id=f"CS{ref:08d}" if ref else "",
        )
        case.due_date = now + timedelta(days=due) if due is not None else None
        case.priority_score = score
        Case.objects.filter(pk=case.pk).update(due_date=case.due_date, priority_score=score)
        cases.append(case)
    spec = browse.SORTS[sort.lstrip("-")]
    descending = sort.startswith("-")
    valued = [c for c in cases if getattr(c, spec.field) is not None]
    empty = [c for c in cases if getattr(c, spec.field) is None]
    expected = [
        c.pk for c in sorted(valued, key=lambda c: (getattr(c, spec.field), c.pk), reverse=descending)
    ]
    expected += [c.pk for c in sorted(empty, key=lambda c: c.pk, reverse=descending)]  # empties last
    assert all_pages(user, f"sort={sort}&page_size=25") == expected
    # Small pages cross from valued to empty rows at every place, read in two steps or id-first.
    for size, load in itertools.product((1, 2, 3), (None, browse.list_rows)):
        walked, cursor = [], None
        while True:
            rows, cursor = browse.page_of(Case.objects.all(), sort=sort, cursor=cursor, size=size, load=load)
            walked += [row.pk for row in rows]
            if cursor is None:
                break
            cursor = browse.Cursor.decode(cursor.encode(), sort)  # through its text form
        assert walked == expected, (sort, size, load)


def test_a_word_search_sorted_by_a_column_some_lack_stays_within_ten_queries(
    member_client, django_assert_max_num_queries
):
    # The page crosses from cases with a due date to cases without one, and more follow.
    template = CaseTemplateFactory()
    cases = CaseFactory.create_batch(60, template=template, name="Printer jammed")
    Case.objects.filter(pk__in=[case.pk for case in cases[10:]]).update(due_date=None)
    with django_assert_max_num_queries(10):
        response = member_client.get(reverse("case_list") + "?q=printer&sort=due")
    assert response.status_code == 200 and response.context["next_query"]
    assert len(response.context["cases"]) == 50


def test_a_page_that_ends_exactly_on_the_last_case_has_no_next_page(user):
    CaseFactory.create_batch(25, template=CaseTemplateFactory())
    result = browse.browse_cases(user, QueryDict("page_size=25"))
    assert len(result.cases) == 25 and result.next_cursor is None
    assert result.total == 25 and not result.total_is_capped


def test_a_cursor_from_another_sort_is_refused(user):
    CaseFactory.create_batch(3, template=CaseTemplateFactory())
    queryset = Case.objects.all()
    _, cursor = browse.page_of(queryset, sort="-created", cursor=None, size=1)
    result = browse.browse_cases(user, QueryDict(f"sort=due&cursor={cursor.encode()}"))
    assert not result.ok and "another sort order" in result.errors[0]


def test_overdue_pages_hold_only_open_cases_though_newer_closed_ones_are_overdue_too(user):
    # The page's ids are read in a subquery (id-first): the open condition must apply to the
    # subquery's own rows, or the newest overdue ids (all closed here) would fill the page.
    now = timezone.now()
    late = now - timedelta(days=1)
    open_ones = [delivered(n, created_at=now - timedelta(days=30 + n), due_date=late) for n in range(1, 4)]
    for n in range(10, 40):
        delivered(
            n,
            status_name="Closed",
            status_category="closed",
            created_at=now - timedelta(hours=n),
            due_date=late,
        )
    assert browse_ids(user, "overdue=1&page_size=25") == [case.pk for case in open_ones]
    assert all_pages(user, "overdue=1&page_size=25&sort=due") == [case.pk for case in open_ones]


def test_a_first_page_holding_every_match_is_not_counted_again(user, django_assert_num_queries):
    template = CaseTemplateFactory()
    CaseFactory.create_batch(3, template=template)
    choices = browse.FilterChoices.load(user, with_values=False)
    with django_assert_num_queries(1):
        result = browse.browse_cases(user, QueryDict("page_size=25"), choices=choices)
    assert result.total == 3 and not result.total_is_capped
    CaseFactory.create_batch(25, template=template)
    with django_assert_num_queries(2):
        result = browse.browse_cases(user, QueryDict("page_size=25"), choices=choices)
    assert result.total == 28 and len(result.cases) == 25


def test_the_total_is_capped(user, monkeypatch):
    monkeypatch.setattr(browse.listing, "COUNT_CAP", 4)
    CaseFactory.create_batch(6, template=CaseTemplateFactory())
    assert browse.count_capped(Case.objects.all(), 4) == (4, True)
    assert browse.count_capped(Case.objects.all(), 6) == (6, False)


def test_a_word_search_by_someone_who_sees_no_stream_finds_nothing(user):
    CaseFactory.create_batch(3, template=CaseTemplateFactory(), name="Printer on fire")
    viewer = UserFactory(username="vera", role=roles.VIEWER)  # a member of no stream
    result = browse.browse_cases(viewer, QueryDict("q=printer"))
    assert result.ok and result.cases == [] and result.total == 0
    assert browse.browse_cases(user, QueryDict("q=printer")).total == 3


def test_a_status_filter_counts_each_case_once_whether_it_matches_by_name_or_category(user):
    # PostgreSQL counts the names and the categories apart and unites them (count_matches).
    template = CaseTemplateFactory()
    CaseFactory.create_batch(3, template=template, status_name="Open", status_category="open")
    CaseFactory.create_batch(2, template=template, status_name="Waiting", status_category="open")
    CaseFactory.create_batch(4, template=template, status_name="open", status_category="inProgress")
    CaseFactory.create_batch(2, template=template, status_name="open", status_category="open", source="email")
    assert browse.count_matches(user, {"status": ["open"]}) == (11, False)
    assert browse.count_matches(user, {"status": ["open"]}, cap=6) == (6, True)
    assert browse.count_matches(user, {"status": ["Waiting", "Open"]}) == (5, False)
    assert browse.count_matches(user, {"status": ["open"], "source": ["email"]}) == (2, False)
    assert browse.count_matches(user, {"status": ["closed"]}) == (0, False)


# --- The page ------------------------------------------------------------------------------


def test_the_list_page_costs_a_constant_number_of_queries(member_client, django_assert_max_num_queries):
    template = CaseTemplateFactory()
    CaseFactory.create_batch(60, template=template, submitted_by=UserFactory(username="erin"))
    urls = [
        reverse("case_list"),
        reverse("case_list") + "?sort=due",
        reverse("case_list") + "?q=printer&priority=High&overdue=1",
        reverse("case_list") + "?submitted_by=erin&page_size=25",
    ]
    for url in urls:
        with django_assert_max_num_queries(10):
            response = member_client.get(url)
        assert response.status_code == 200
        next_link = response.context["next_query"]
        if next_link:
            with django_assert_max_num_queries(10):
                assert member_client.get(reverse("case_list") + "?" + next_link).status_code == 200


def test_the_page_links_carry_the_filters_and_the_cursor(member_client):
    template = CaseTemplateFactory()
    cases = CaseFactory.create_batch(30, template=template, source="email")
    CaseFactory.create_batch(5, template=template, source="web")
    first = member_client.get(reverse("case_list") + "?source=email&page_size=25")
    assert "30 cases" in first.content.decode()
    second = member_client.get(reverse("case_list") + "?" + first.context["next_query"])
    shown = [c.pk for c in first.context["cases"]] + [c.pk for c in second.context["cases"]]
    assert shown == [c.pk for c in sorted(cases, key=lambda c: (c.created_at, c.pk), reverse=True)]
    assert second.context["next_query"] == ""
    assert "First page" in second.content.decode()


def test_htmx_filter_changes_get_only_the_results(member_client):
    delivered(1, name="Broken chair", priority_name="High", priority_color="#DC2626")
    response = member_client.get(
        reverse("case_list") + "?priority=High",
        headers={"HX-Request": "true", "HX-Target": "case-results"},
    )
    content = response.content.decode()
    assert "Broken chair" in content and "<html" not in content and 'name="stream"' not in content
    full = member_client.get(reverse("case_list")).content.decode()
    assert 'hx-get="/cases/"' in full and 'hx-push-url="true"' in full and "<html" in full
    assert 'class="badge status-open"' in full and 'data-color="#DC2626"' in full


def test_the_filter_form_offers_what_kore_uses_and_the_sources_cases_carry(member_client):
    # Statuses, priorities and assignees as the sync learned them (tests/test_browse_filter_options.py).
    case = delivered(1, source="voice")
    KoreStatus.objects.create(
        stream=case.stream, kore_id="sts-w", name="Waiting on Customer", category="in_progress"
    )
    KorePriority.objects.create(stream=case.stream, kore_id="pr-m", name="Medium", score=2)
    KoreAssignee.objects.create(stream=case.stream, kind="agent", kore_id="a-c", name="Chen Wei")
    content = member_client.get(reverse("case_list")).content.decode()
    for value in ("Waiting on Customer", "in_progress", "Chen Wei", "Medium", "voice"):
        assert f'value="{value}"' in content


def test_word_search_survives_sqlite_rebuilding_the_table(user):
    """A later migration that makes SQLite rebuild cases_case drops the triggers; post_migrate
    puts them back and reindexes."""

    from cases.browse.word_index import ensure_sqlite_triggers

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    case = delivered(1, name="Flooded basement")
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER cases_case_fts_insert")
        cursor.execute("DROP TRIGGER cases_case_fts_update")
    Case.objects.filter(pk=case.pk).update(name="Flooded garage")
    later = delivered(2, name="Garage door stuck")
    assert browse_ids(user, "q=garage") == []  # the index fell behind
    assert ensure_sqlite_triggers() is True
    assert sorted(browse_ids(user, "q=garage")) == sorted([case.pk, later.pk])
    assert ensure_sqlite_triggers() is False


def test_digits_that_are_not_ascii_are_unknown_ids_not_errors(user):
    # "¹" and "٣" are digits to str.isdigit() but not to int(): found by the API fuzz.
    result = browse.browse_cases(user, QueryDict("template=%C2%B9&stream=%D9%A3"))
    assert not result.ok
    assert "Unknown template: ¹." in " ".join(result.errors)


def test_a_word_search_is_counted_by_reading_its_first_ids(user, monkeypatch, django_assert_max_num_queries):
    # Up to WORD_COUNT_CAP matches the ids found through the word index are the total; beyond
    # it the total is capped. Other filters and stream membership count in both cases.
    monkeypatch.setattr(browse.search, "WORD_COUNT_CAP", 20)
    template = CaseTemplateFactory()
    other_stream = CaseTemplateFactory()
    CaseFactory.create_batch(30, template=template, name="Printer on fire")
    CaseFactory.create_batch(12, template=other_stream, name="Printer out of toner", source="email")
    CaseFactory.create_batch(5, template=template, name="Stapler missing")
    agent = UserFactory(username="agnes", role=roles.AGENT)
    template.stream.members.add(agent)
    choices = browse.FilterChoices.load(user, with_values=False)
    for who in (user, agent):
        roles.sees_every_stream(who)  # permissions are read once per person, before the counting
    expected = {
        (user, "q=printer&page_size=25"): (20, True),
        (user, "q=printer&source=email&page_size=25"): (12, False),
        (user, "q=stapler&page_size=25"): (5, False),
        (agent, "q=printer&page_size=25"): (20, True),
        (agent, "q=printer&source=email"): (0, False),
    }
    for (who, query), total in expected.items():
        with django_assert_max_num_queries(2):  # the ids, then the page (none when no id)
            result = browse.browse_cases(who, QueryDict(query), choices=choices)
        assert (result.total, result.total_is_capped) == total, query


def test_a_due_range_and_a_nullable_sort_page_through_every_match_in_order(user):
    now = timezone.now()
    template = CaseTemplateFactory()
    in_range = [
        CaseFactory(
            template=template,
            created_at=now - timedelta(hours=n),
            due_date=now + timedelta(days=3, hours=n % 7),
            priority_score=(n % 3) * 10 if n % 4 else None,
        )
        for n in range(60)
    ]
    CaseFactory.create_batch(10, template=template, due_date=now + timedelta(days=30))
    day = (now + timedelta(days=3)).date()
    query = f"due_after={day}&due_before={day + timedelta(days=1)}&page_size=25"
    expected = [c.pk for c in sorted(in_range, key=lambda c: (c.created_at, c.pk), reverse=True)]
    assert all_pages(user, query) == expected
    # Priority, highest first, the cases without one last, each part newest id first.
    by_priority = sorted(in_range, key=lambda c: (c.priority_score is None, -(c.priority_score or 0), -c.pk))
    assert all_pages(user, query + "&sort=-priority") == [c.pk for c in by_priority]


def test_a_due_range_of_some_days_pages_by_creation_day_by_day(user, settings):
    # Read a UTC due day at a time (browse.due_range_days); in New York three local days span
    # four UTC days, and the range's ends cut the first and the last of them.
    settings.TIME_ZONE = "America/New_York"
    template = CaseTemplateFactory()
    start = timezone.make_aware(datetime(2026, 2, 10))  # midnight in New York, 05:00 UTC
    cases = [
        CaseFactory(
            template=template,
            due_date=start + timedelta(hours=n * 5 - 8),  # from the day before to after the range
            created_at=start - timedelta(days=40) + timedelta(hours=(n * 7) % 50),  # ties too
            source="email" if n % 3 else "web",
        )
        for n in range(30)
    ]
    in_range = [c for c in cases if start <= c.due_date < start + timedelta(days=3)]
    assert 10 < len(in_range) < len(cases)
    query = "due_after=2026-02-10&due_before=2026-02-12&page_size=25"
    assert len(browse.due_range_days(browse.browse_cases(user, QueryDict(query)).params)) == 4
    newest = sorted(in_range, key=lambda c: (c.created_at, c.pk), reverse=True)
    for extra, keep in (("", newest), ("&source=email", [c for c in newest if c.source == "email"])):
        assert all_pages(user, query + extra) == [c.pk for c in keep]
        assert all_pages(user, query + extra + "&sort=created") == [c.pk for c in keep[::-1]]
    for sort in ("-due", "-priority"):  # other sorts read the range as before
        assert sorted(all_pages(user, f"{query}&sort={sort}")) == sorted(c.pk for c in in_range)
    long_range = browse.browse_cases(user, QueryDict("due_after=2026-01-01&due_before=2026-06-30")).params
    assert browse.due_range_days(long_range) is None


def test_a_null_character_in_a_filter_value_is_a_400_not_a_500(user, client):
    result = browse.browse_cases(user, QueryDict("status=Op%00en&assignee=%00"))
    assert not result.ok and "null character" in " ".join(result.errors)
    client.force_login(user)
    assert client.get("/api/v1/cases/", {"priority": "Hi\x00gh"}).status_code == 400


@pytest.mark.parametrize("q", ["zebra", "!!!", "CS123"])
def test_a_search_matching_nothing_with_a_due_range_of_some_days_is_an_empty_page(user, q):
    """Found by the API fuzz: the day-by-day read met a condition Django compiles to nothing."""
    CaseFactory(template=CaseTemplateFactory(), name="Printer jammed")
    result = browse.browse_cases(user, QueryDict(f"q={q}&due_after=2026-01-01&due_before=2026-01-03"))
    assert result.ok and result.cases == [] and result.total == 0
