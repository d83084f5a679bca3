"""Reading cases: which cases a person sees and how they are read at any size.

``params`` (what the list and the API accept, validated), ``filter_options`` (what the
filter controls offer: what Kore uses in a person's streams, as learned), ``listing`` (the entry point:
filters, search, a keyset page, the count), ``search`` (word searches read in pages), ``pages``
(keyset paging), ``exports`` (CSV and JSON lines of any size), ``dashboard`` (figures from the
counts the database keeps), ``kept_counts`` and ``word_index`` (the triggers behind them).

"Which cases" itself is ``CaseQuerySet`` (cases/models/cases.py): visibility, filters and search
are its methods, so every reader shares them. Imports models only.
"""

from cases.browse.listing import (
    COUNT_CAP,
    BrowseResult,
    browse_cases,
    count_capped,
    count_matches,
    list_rows,
    matching_cases,
    reads_filter_first,
)
from cases.browse.pages import due_range_days, page_of
from cases.browse.params import (
    ALL_PARAMS,
    FILTER_PARAMS,
    PAGE_SIZES,
    SORT_CHOICES,
    SORTS,
    BrowseForm,
    Cursor,
    FilterChoices,
    filter_query_string,
)
from cases.browse.search import WORD_COUNT_CAP, cases_to_page

__all__ = [
    "ALL_PARAMS",
    "COUNT_CAP",
    "FILTER_PARAMS",
    "PAGE_SIZES",
    "SORTS",
    "SORT_CHOICES",
    "WORD_COUNT_CAP",
    "BrowseForm",
    "BrowseResult",
    "Cursor",
    "FilterChoices",
    "browse_cases",
    "cases_to_page",
    "count_capped",
    "count_matches",
    "due_range_days",
    "filter_query_string",
    "list_rows",
    "matching_cases",
    "page_of",
    "reads_filter_first",
]
