"""Browse parameters: what the list, its exports and the read API accept, validated in one form.

    q stream template status priority state source submitted_by assignee origin
    created_after created_before due_after due_before overdue unresolved unassigned closed
    sort cursor page_size

Every multi-valued filter (stream … origin) may repeat (``status=Open&status=Pending``); values
of one parameter are OR-ed, parameters are AND-ed. Dates are ``YYYY-MM-DD`` in the user's time
zone and both ends are inclusive days. ``status`` matches a status name or a status category.
A cursor holds the last row's sort value and id (see cases/browse/pages.py).

The list's one-click views are these parameters (cases/web/browsing.py): Unresolved is
``unresolved=1`` (delivered and not in a resolved or closed status category: ``Case.objects.open()``),
Unassigned ``unassigned=1`` (unresolved, no assignee), My cases ``submitted_by=<username>``,
Overdue ``overdue=1`` (unresolved, past due), Closed ``closed=1`` (status category resolved or
closed), All none of them. Closed excludes the other three, so combining them is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.dateparse import parse_datetime

from cases.browse.filter_options import FilterOption, filter_options
from cases.models import Case, CaseTemplate, Stream

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
MAX_VALUES_PER_FILTER = 50


@dataclass(frozen=True)
class Sort:
    """A sort order the list offers: a column, and whether empty values exist (kept last)."""

    key: str
    field: str
    label: str
    nullable: bool = False


SORTS = {
    "created": Sort("created", "created_at", "Created"),
    "due": Sort("due", "due_date", "Due date", nullable=True),
    "priority": Sort("priority", "priority_score", "Priority", nullable=True),
    "status": Sort("status", "status_name", "Status"),
    "refId": Sort("refId", "ref_id", "refId"),
}
DEFAULT_SORT = "-created"
SORT_CHOICES = [
    ("-created", "Newest first"),
    ("created", "Oldest first"),
    ("due", "Due soonest"),
    ("-due", "Due latest"),
    ("-priority", "Highest priority"),
    ("priority", "Lowest priority"),
    ("status", "Status A–Z"),
    ("-status", "Status Z–A"),
    ("-refId", "refId, newest"),
    ("refId", "refId, oldest"),
]
FILTER_PARAMS = (
    "q",
    "stream",
    "template",
    "status",
    "priority",
    "state",
    "source",
    "submitted_by",
    "assignee",
    "origin",
    "created_after",
    "created_before",
    "due_after",
    "due_before",
    "overdue",
    "unresolved",
    "unassigned",
    "closed",
)
ALL_PARAMS = (*FILTER_PARAMS, "sort", "cursor", "page_size")


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: just after the row with this sort value and id."""

    sort: str
    value: Any
    id: int

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = json.dumps([self.sort, value, self.id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, sort: str) -> Cursor:
        """Read a cursor made by :meth:`encode` for ``sort``; ValueError for anything else."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            cursor_sort, value, row_id = json.loads(raw)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise ValueError("This page link is damaged; start again from the first page.") from None
        if cursor_sort != sort:
            raise ValueError("This page link belongs to another sort order; start again from the first page.")
        if not isinstance(row_id, int) or isinstance(row_id, bool):
            raise ValueError("This page link is damaged; start again from the first page.")
        spec = SORTS[sort.lstrip("-")]
        if value is not None:
            value = _parse_sort_value(spec, value)
        elif not spec.nullable:
            raise ValueError("This page link is damaged; start again from the first page.")
        return cls(sort=sort, value=value, id=row_id)


def _parse_sort_value(spec: Sort, value: Any) -> Any:
    if spec.field in ("created_at", "due_date"):
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise ValueError("This page link is damaged; start again from the first page.")
        return parsed
    if spec.field == "priority_score":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("This page link is damaged; start again from the first page.")
        return value
    if not isinstance(value, str):
        raise ValueError("This page link is damaged; start again from the first page.")
    return value


class MultipleValuesField(forms.Field):
    """A parameter that may repeat; blank values are dropped."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[str]:
        if value in (None, ""):
            return []
        values = [value] if isinstance(value, str) else list(value)
        cleaned = [str(v).strip() for v in values if str(v).strip()]
        if len(cleaned) > MAX_VALUES_PER_FILTER:
            raise forms.ValidationError(f"Choose at most {MAX_VALUES_PER_FILTER} values.")
        if any(len(v) > 200 for v in cleaned):
            raise forms.ValidationError("A value is longer than 200 characters.")
        if any("\x00" in v for v in cleaned):
            # No text column can hold one (PostgreSQL refuses the query); found by the API fuzz.
            raise forms.ValidationError("A value contains a null character.")
        return list(dict.fromkeys(cleaned))


class ChoicesField(MultipleValuesField):
    """Repeated values out of a fixed set (blank values dropped, unlike MultipleChoiceField)."""

    def __init__(self, *, choices, noun: str = "value", **kwargs):
        super().__init__(**kwargs)
        self.choices = list(choices)
        self.noun = noun

    def to_python(self, value) -> list[str]:
        values = super().to_python(value)
        known = [choice for choice, _label in self.choices]
        for text in values:
            if text not in known:
                raise forms.ValidationError(f"Unknown {self.noun}: {text}. Use {' or '.join(known)}.")
        return values


class IdsField(MultipleValuesField):
    """Repeated ids of rows the form knows (streams, templates)."""

    def __init__(self, *, known: Mapping[int, str] | None = None, noun: str = "item", **kwargs):
        super().__init__(**kwargs)
        self.known = known or {}
        self.noun = noun

    def to_python(self, value) -> list[int]:
        ids = []
        for text in super().to_python(value):
            if not (text.isascii() and text.isdigit()) or int(text) not in self.known:
                raise forms.ValidationError(f"Unknown {self.noun}: {text}.")
            ids.append(int(text))
        return ids


class FlagField(forms.Field):
    """A yes/no parameter: 1/true/on/yes or 0/false/off/no (empty means no)."""

    widget = forms.TextInput  # not CheckboxInput, which reads any text as True

    def to_python(self, value) -> bool:
        if value in (None, "", False):
            return False
        if value is True:
            return True
        text = str(value).strip().lower()
        if text in {"1", "true", "on", "yes"}:
            return True
        if text in {"0", "false", "off", "no"}:
            return False
        raise forms.ValidationError("Use 1 or 0.")


@dataclass
class FilterChoices:
    """What the filter controls offer: streams, templates, and the values to pick from
    (cases/browse/filter_options.py)."""

    streams: list[tuple[int, str]] = field(default_factory=list)
    templates: list[CaseTemplate] = field(default_factory=list)
    values: dict[str, list[FilterOption]] = field(default_factory=dict)

    @classmethod
    def load(cls, user, *, with_values: bool = True) -> FilterChoices:
        """The streams ``user`` may see (a stream may hold cases made at Kore and no template),
        their templates, and with ``with_values`` one query more: what Kore uses in those
        streams, as learned, and the sources cases carry."""
        streams = list(Stream.objects.visible_to(user).order_by("name").values_list("pk", "name"))
        templates = list(
            CaseTemplate.objects.visible_to(user).select_related("stream").order_by("stream__name", "name")
        )
        values = filter_options(streams) if with_values else {}
        return cls(streams=streams, templates=templates, values=values)


class BrowseForm(forms.Form):
    """Validates the browse parameters; every problem is reported beside its parameter."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    stream = IdsField(required=False, noun="stream")
    template = IdsField(required=False, noun="template")
    status = MultipleValuesField(required=False)
    priority = MultipleValuesField(required=False)
    state = forms.MultipleChoiceField(required=False, choices=Case.State.choices, label="Delivery")
    source = MultipleValuesField(required=False)
    submitted_by = MultipleValuesField(required=False, label="Submitted by")
    assignee = MultipleValuesField(required=False)
    origin = ChoicesField(required=False, choices=Case.Origin.choices, noun="origin")
    created_after = forms.DateField(required=False, label="Created from")
    created_before = forms.DateField(required=False, label="Created until")
    due_after = forms.DateField(required=False, label="Due from")
    due_before = forms.DateField(required=False, label="Due until")
    overdue = FlagField(required=False, label="Overdue only")
    unresolved = FlagField(required=False, label="Unresolved only")
    unassigned = FlagField(required=False, label="Unassigned only")
    closed = FlagField(required=False, label="Closed only")
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES)
    cursor = forms.CharField(required=False, max_length=500)
    page_size = forms.TypedChoiceField(
        required=False,
        coerce=int,
        choices=[(str(size), str(size)) for size in PAGE_SIZES],
        empty_value=DEFAULT_PAGE_SIZE,
        label="Per page",
    )

    def __init__(self, data=None, *, choices: FilterChoices | None = None, **kwargs):
        super().__init__(data, **kwargs)
        self.choices = choices or FilterChoices()
        self.fields["stream"].known = dict(self.choices.streams)
        self.fields["template"].known = {t.pk: t.name for t in self.choices.templates}

    def clean_q(self) -> str:
        return " ".join(self.cleaned_data["q"].split())

    def clean_sort(self) -> str:
        return self.cleaned_data["sort"] or DEFAULT_SORT

    def clean(self):
        cleaned = super().clean()
        for start, end in (("created_after", "created_before"), ("due_after", "due_before")):
            if cleaned.get(start) and cleaned.get(end) and cleaned[start] > cleaned[end]:
                self.add_error(end, "The end date is before the start date.")
        if cleaned.get("closed"):
            # Each of these means unresolved: together with closed nothing could match.
            clashing = [name for name in ("unresolved", "unassigned", "overdue") if cleaned.get(name)]
            if clashing:
                self.add_error("closed", f"Closed cases cannot also be {' or '.join(clashing)}; choose one.")
        if cleaned.get("cursor") and "sort" in cleaned:
            try:
                cleaned["cursor"] = Cursor.decode(cleaned["cursor"], cleaned["sort"])
            except ValueError as exc:
                self.add_error("cursor", str(exc))
        else:
            cleaned["cursor"] = None
        return cleaned

    def error_list(self) -> list[str]:
        """Every problem as one sentence naming its parameter (for a 400 answer)."""
        return [f"{name}: {message}" for name, messages in self.errors.items() for message in messages]


def filter_query_string(params: Mapping[str, Any], **changes: Any) -> str:
    """The query string of the given (raw) parameters with some changed; None removes one."""

    query = QueryDict(mutable=True)
    for name in ALL_PARAMS:
        if name in changes:
            continue
        values = params.getlist(name) if hasattr(params, "getlist") else _as_list(params.get(name))
        values = [v for v in values if v not in ("", None)]
        if values:
            query.setlist(name, values)
    for name, value in changes.items():
        if value not in (None, ""):
            query.setlist(name, _as_list(value))
    return query.urlencode()


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
