"""Filters of the read API's case list (the list page's parameter names)."""

from __future__ import annotations

import django_filters
from django.db.models import Q

from cases.models import Case


class CaseFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        method="search", label="refId, Kore _id, requester email or phone, or words"
    )
    stream = django_filters.CharFilter(field_name="stream__stream_id")
    template = django_filters.CharFilter(field_name="template__template_id")
    status = django_filters.CharFilter(method="by_status", label="Status name or category")
    priority = django_filters.CharFilter(field_name="priority_name", lookup_expr="iexact")
    state = django_filters.ChoiceFilter(choices=Case.State.choices)
    source = django_filters.CharFilter()
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    due_after = django_filters.IsoDateTimeFilter(field_name="due_date", lookup_expr="gte")
    due_before = django_filters.IsoDateTimeFilter(field_name="due_date", lookup_expr="lt")

    class Meta:
        model = Case
        fields: list[str] = []

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(ref_id=value)
            | Q(kore_id=value)
            | Q(requester_email__iexact=value)
            | Q(requester_phone=value)
            | Q(name__icontains=value)
        )

    def by_status(self, queryset, name, value):
        return queryset.filter(Q(status_name__iexact=value) | Q(status_category__iexact=value))
