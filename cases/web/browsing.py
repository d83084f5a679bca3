"""Browsing pages: the dashboard, the filtered case list, its CSV and JSON-lines exports, and
saved views. Which cases match lives in cases/browse.py; these views only present it."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from cases import browse
from cases.browse import exports
from cases.browse.dashboard import dashboard_figures
from cases.models import Case, CaseAction, SavedView, StreamSync, WebhookEndpoint
from cases.models.streams import within_visible_streams
from cases.models.words import search_kind
from cases.people.audit import audit_record
from cases.people.roles import browse_permission_required, is_administrator
from cases.web.bulk import bulk_choices

# --- Dashboard ---------------------------------------------------------------------------

# A minute-old figure is fine on the dashboard, and saves even its two small queries.
DASHBOARD_CACHE_SECONDS = 60


@browse_permission_required
def dashboard(request: HttpRequest) -> HttpResponse:
    figures = dashboard_figures(request.user, cache_seconds=DASHBOARD_CACHE_SECONDS)
    # A stream whose sync keeps failing: its figures no longer follow Kore.
    failing = within_visible_streams(
        StreamSync.objects.filter(
            failures__gte=StreamSync.FAILING_AFTER, enabled=True, stream__is_active=True
        ),
        request.user,
    ).select_related("stream")
    context = {"figures": figures, "chart": figures.chart, "failing_syncs": list(failing)}
    if is_administrator(request.user):  # webhook endpoints switched off after a day of failing
        context["switched_off_webhooks"] = list(WebhookEndpoint.objects.exclude(switched_off_at=None))
    return render(request, "cases/dashboard.html", context)


# --- The case list -----------------------------------------------------------------------


@browse_permission_required
def case_list(request: HttpRequest) -> HttpResponse:
    """Filters, search, sorting and keyset pages over the cases a user may see.

    A search for an exact refId or Kore _id opens that case. Requests from htmx (the filter form
    changing) get only the results block; without JavaScript the form submits as a normal GET.
    """
    jump = _exact_case(request)
    if jump is not None:
        return HttpResponseClientRedirect(jump.get_absolute_url()) if request.htmx else redirect(jump)

    partial = bool(request.htmx) and request.htmx.target == "case-results"
    choices = browse.FilterChoices.load(request.user, with_values=not partial)
    result = browse.browse_cases(request.user, request.GET, choices=choices)
    filters = set_filters(request.GET)
    bulk = bulk_choices(request)
    # Acting on one stream's cases, the list marks those with a change pending at Kore.
    shown = [case.pk for case in result.cases] if bulk and result.ok else []
    pending = CaseAction.objects.pending().filter(case__in=shown) if shown else None
    context = {
        "bulk": bulk,
        "pending_ids": set(pending.values_list("case_id", flat=True)) if pending is not None else set(),
        "partial": partial,
        "case_views": one_click_views(request),
        # The panel folds away when none of its filters is set (the search box stays outside).
        "panel_open": any(name != "q" for name in filters),
        "result": result,
        "form": result.form,
        "choices": choices,
        "cases": result.cases,
        "sort_choices": browse.SORT_CHOICES,
        "page_sizes": browse.PAGE_SIZES,
        "state_choices": Case.State.choices,
        "origin_choices": Case.Origin.choices,
        "selected": _selected(request),
        "is_first_page": not request.GET.get("cursor"),
        "filtered": bool(filters),
        "query_string": browse.filter_query_string(request.GET, cursor=None),
        "next_query": browse.filter_query_string(request.GET, cursor=result.next_cursor)
        if result.next_cursor
        else "",
        "first_query": browse.filter_query_string(request.GET, cursor=None),
        "save_form": SavedViewForm(
            initial={"query_string": browse.filter_query_string(request.GET, cursor=None)}, user=request.user
        ),
    }
    status = 200 if result.ok else 400
    template = "cases/_case_results.html" if partial else "cases/case_list.html"
    return render(request, template, context, status=status)


def _exact_case(request: HttpRequest) -> Case | None:
    q = " ".join(request.GET.get("q", "").split())
    if not q or search_kind(q) not in ("ref_id", "kore_id"):
        return None
    matches = list(Case.objects.visible_to(request.user).search(q).only("pk")[:2])
    return matches[0] if len(matches) == 1 else None


def _selected(request: HttpRequest) -> dict[str, list[str]]:
    return {name: request.GET.getlist(name) for name in browse.ALL_PARAMS}


def set_filters(params: QueryDict) -> dict[str, list[str]]:
    """The filters a query string sets (raw values, blanks left out), by name."""
    found = {}
    for name in browse.FILTER_PARAMS:
        values = [value for value in params.getlist(name) if value.strip()]
        if values:
            found[name] = values
    return found


# --- One-click views ---------------------------------------------------------------------

MINE = object()  # stands for the signed-in person's username
# Kore's own screen has these: each sets exactly these filters (what each parameter means is in
# cases/browse/params.py and README's Browsing).
ONE_CLICK_VIEWS = (
    ("Unresolved", {"unresolved": "1"}),
    ("Unassigned", {"unassigned": "1"}),
    ("My cases", {"submitted_by": MINE}),
    ("Overdue", {"overdue": "1"}),
    ("Closed", {"closed": "1"}),
    ("All", {}),
)


@dataclass(frozen=True)
class OneClickView:
    label: str
    url: str
    active: bool


def one_click_views(request: HttpRequest) -> list[OneClickView]:
    """The one-click views as links to the case list. On the list they keep its sort and page
    size, and the view whose filters are exactly the ones set is active."""
    on_list = bool(request.resolver_match) and request.resolver_match.url_name == "case_list"
    current = set_filters(request.GET) if on_list else None
    views = []
    for label, view_filters in ONE_CLICK_VIEWS:
        wanted = {
            name: request.user.get_username() if value is MINE else value
            for name, value in view_filters.items()
        }
        changes = {**dict.fromkeys(browse.FILTER_PARAMS), **wanted, "cursor": None}
        query = browse.filter_query_string(request.GET if on_list else {}, **changes)
        url = reverse("case_list") + (f"?{query}" if query else "")
        active = current == {name: [value] for name, value in wanted.items()}
        views.append(OneClickView(label=label, url=url, active=active))
    return views


# --- Exports -----------------------------------------------------------------------------


def _export_form(request: HttpRequest) -> browse.BrowseForm:
    choices = browse.FilterChoices.load(request.user, with_values=False)
    form = browse.BrowseForm(request.GET, choices=choices)
    if form.is_valid():
        audit_record(
            request=request,
            action="cases.exported",
            details={"path": request.path, "query": request.GET.urlencode()},
        )
    return form


def _bad_export(form: browse.BrowseForm) -> HttpResponse:
    return HttpResponseBadRequest(
        "The export parameters are not valid:\n" + "\n".join(form.error_list()) + "\n",
        content_type="text/plain; charset=utf-8",
    )


def _export(request: HttpRequest, chunks, *, content_type: str, extension: str) -> HttpResponse:
    """The filtered list streamed in keyset batches (constant memory at any size), or a 400."""
    form = _export_form(request)
    if not form.is_valid():
        return _bad_export(form)
    response = StreamingHttpResponse(chunks(request.user, form.cleaned_data), content_type=content_type)
    filename = f"cases-{timezone.localtime():%Y%m%d-%H%M%S}.{extension}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@browse_permission_required
def export_csv(request: HttpRequest) -> HttpResponse:
    """The filtered list as CSV."""
    return _export(request, exports.csv_chunks, content_type="text/csv; charset=utf-8", extension="csv")


@browse_permission_required
def export_jsonl(request: HttpRequest) -> HttpResponse:
    """The filtered list as JSON lines (one case per line)."""
    return _export(
        request, exports.jsonl_chunks, content_type="application/x-ndjson; charset=utf-8", extension="jsonl"
    )


# --- Saved views -------------------------------------------------------------------------


class SavedViewForm(forms.ModelForm):
    class Meta:
        model = SavedView
        fields = ["name", "shared", "query_string"]
        widgets = {"query_string": forms.HiddenInput}

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_query_string(self) -> str:
        """Keep only the browse parameters (never a page cursor), and only valid ones."""
        raw = QueryDict(self.cleaned_data.get("query_string") or "", mutable=True)
        raw.pop("cursor", None)
        form = browse.BrowseForm(raw, choices=browse.FilterChoices.load(self.user, with_values=False))
        if not form.is_valid():
            raise forms.ValidationError("These filters are not valid: " + "; ".join(form.error_list()))
        return browse.filter_query_string(raw, cursor=None)


@browse_permission_required
def saved_view_list(request: HttpRequest) -> HttpResponse:
    views = SavedView.objects.visible_to(request.user).select_related("owner")
    return render(request, "cases/saved_view_list.html", {"views": views})


@browse_permission_required
@require_POST
def saved_view_new(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST, user=request.user)
    if form.is_valid():
        view = form.save(commit=False)
        view.owner = request.user
        try:
            with transaction.atomic():
                view.save()
        except IntegrityError:
            messages.error(request, f"You already have a view named “{view.name}”.")
            return redirect(SavedView(query_string=view.query_string).get_absolute_url())
        messages.success(request, f"View “{view.name}” saved.")
        return redirect(view)
    for message in [m for errors in form.errors.values() for m in errors]:
        messages.error(request, message)
    return redirect("case_list")


def _changeable_view(request: HttpRequest, view_id: int) -> SavedView:
    view = get_object_or_404(SavedView.objects.visible_to(request.user), pk=view_id)
    if not view.can_change(request.user):
        raise PermissionDenied("Only the view's owner can change it.")
    return view


@browse_permission_required
def saved_view_edit(request: HttpRequest, view_id: int) -> HttpResponse:
    view = _changeable_view(request, view_id)
    form = SavedViewForm(request.POST or None, instance=view, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                form.save()
        except IntegrityError:
            form.add_error("name", "A view of yours already has this name.")
        else:
            messages.success(request, f"View “{view.name}” saved.")
            return redirect("saved_view_list")
    return render(request, "cases/saved_view_form.html", {"form": form, "view": view})


@browse_permission_required
@require_POST
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    view = _changeable_view(request, view_id)
    view.delete()
    messages.success(request, f"View “{view.name}” deleted.")
    return redirect("saved_view_list")
