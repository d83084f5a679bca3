"""Where Kore's documentation is silent, the simulator answers by a *reading*, and tests run the
portal against each one: ``Simulator.set_readings(...)`` or ``POST /_simulator/readings``."""

from __future__ import annotations

from dataclasses import dataclass

PAGING_KEYS = ("page", "skip")
DATE_FILTERS = ("createdAt", "updatedAt", "dueDate")
SEARCH_MODES = ("substring", "words", "regex", "truncated")
SEARCHED_CHARS = 32  # "truncated": how much of a name searchText is matched against
SORT_DIRECTIONS = ("desc", "asc")
SORT_BY_MODES = ("any", "created_only", "ignored")
UNASSIGNED_MODES = ("no_agent", "unassigned_only")
DUE_DATE_FILTERS = ("exact", "day", "until")
QUEUE_SHAPES = ("ids", "objects")


@dataclass
class Readings:
    """The simulator's answers where Kore's documentation does not say."""

    paging: str = "page"  # "page": page and limit; "skip": skip and limit
    page_size: int | None = None  # None: honour ``limit`` (default 50); a number: always that many
    date_filter: str = "createdAt"  # the date startDate/endDate filter on
    # searchText: a part of the name, or every word of it; or, matching less than hoped, read as
    # an unescaped regular expression ("regex": a title with brackets or "+" may not find
    # itself), or matched against the name's first SEARCHED_CHARS characters only ("truncated":
    # a longer title finds nothing)
    search: str = "substring"
    rate_limit_status: int = 429  # the status of the rate-limit answer
    rate_limit_retry_after: bool = True  # the rate-limit answer carries Retry-After (not documented)
    sort_direction: str = "desc"  # a sortBy given as a string names no direction
    # Which sortBy fields are honoured: "any" (created, updated and due dates), "created_only" (the
    # documented example, createdDate), or "ignored" (always newest created first).
    sort_by: str = "any"
    unassigned: str = "no_agent"  # "no_agent": assigneeType unassigned or queues; or "unassigned_only"
    due_date_filter: str = "exact"  # the dueDate filter: that instant, that UTC day, or due until then
    queues: str = "ids"  # a case's ``queues``: queue ids, or ``{_id, name}`` objects
    not_found_status: int = 404  # updateCase/updateTask of an id Kore does not know
    tasks_by_case: bool = False  # getTasks honours a ``caseId`` filter (not documented)
    task_touches_case: bool = False  # createTask bumps the case's updatedAt (not documented)

    def __post_init__(self) -> None:
        for name, allowed in (
            ("paging", PAGING_KEYS),
            ("date_filter", DATE_FILTERS),
            ("search", SEARCH_MODES),
            ("sort_direction", SORT_DIRECTIONS),
            ("sort_by", SORT_BY_MODES),
            ("unassigned", UNASSIGNED_MODES),
            ("due_date_filter", DUE_DATE_FILTERS),
            ("queues", QUEUE_SHAPES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} is one of {allowed}")
