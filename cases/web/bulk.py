"""Bulk actions on the case list: the same change of status, priority or assignee for many cases
of one stream (statuses and priorities are per stream), each case's change paced by the rate
limit like any other, with a progress page (like an import's)."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cases.actions.changes import UNASSIGNED, Wanted, cases_change_bulk
from cases.delivery import fair, pacing
from cases.models import BulkAction, Case, CaseAction, KoreAssignee, KorePriority, KoreStatus, Stream
from cases.people import roles
from cases.people.audit import audit_record
from cases.people.roles import act_permission_required, is_administrator

MAX_BULK = 1000


@dataclass(frozen=True)
class BulkChoices:
    """What the list offers to change for the cases of one stream."""

    stream: Stream
    statuses: list[KoreStatus]
    priorities: list[KorePriority]
    assignees: list[KoreAssignee]


def bulk_choices(request: HttpRequest) -> BulkChoices | None:
    """The list's bulk actions, offered when it shows one stream the person may act on."""
    if not request.user.has_perm(roles.ACT_ON_CASES):
        return None
    ids = [value for value in request.GET.getlist("stream") if value.strip()]
    if len(ids) != 1 or not ids[0].isascii() or not ids[0].isdigit():
        return None
    stream = Stream.objects.visible_to(request.user).filter(pk=ids[0]).first()
    if stream is None:
        return None
    return BulkChoices(
        stream=stream,
        statuses=list(KoreStatus.objects.filter(stream=stream).order_by("name")),
        priorities=list(KorePriority.objects.filter(stream=stream).order_by("score", "name")),
        assignees=list(KoreAssignee.objects.filter(stream=stream).order_by("kind", "name")),
    )


class BulkForm(forms.Form):
    stream = forms.ModelChoiceField(queryset=Stream.objects.none())
    case = forms.ModelMultipleChoiceField(
        queryset=Case.objects.none(), error_messages={"required": "Select cases."}
    )
    status = forms.ModelChoiceField(queryset=KoreStatus.objects.none(), required=False)
    priority = forms.ModelChoiceField(queryset=KorePriority.objects.none(), required=False)
    assignee = forms.CharField(required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stream"].queryset = Stream.objects.visible_to(user)
        self.fields["case"].queryset = Case.objects.visible_to(user)
        self.fields["status"].queryset = KoreStatus.objects.all()
        self.fields["priority"].queryset = KorePriority.objects.all()

    def clean(self):
        cleaned = super().clean()
        stream, cases = cleaned.get("stream"), cleaned.get("case") or []
        if stream is None or not cases:
            return cleaned
        if any(case.stream_id != stream.pk for case in cases):
            raise forms.ValidationError("Select cases of one stream: statuses and priorities are per stream.")
        if len(cases) > MAX_BULK:
            raise forms.ValidationError(f"At most {MAX_BULK} cases at once.")
        for name in ("status", "priority"):
            if cleaned.get(name) is not None and cleaned[name].stream_id != stream.pk:
                self.add_error(name, "Not a choice of this stream.")
        value = cleaned.get("assignee") or ""
        if value and value != UNASSIGNED:
            found = KoreAssignee.objects.filter(stream=stream, pk=value.partition(":")[2] or 0).first()
            if found is None:
                self.add_error("assignee", "Not an agent or queue of this stream.")
            cleaned["assignee"] = found
        if not (cleaned.get("status") or cleaned.get("priority") or cleaned.get("assignee")):
            raise forms.ValidationError("Choose a status, a priority or an assignee to set.")
        return cleaned


@act_permission_required
@require_POST
def bulk_change(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST, user=request.user)
    if not form.is_valid():
        for error in form.errors.values():
            messages.error(request, " ".join(error))
        return redirect(request.POST.get("back") or "case_list")
    data = form.cleaned_data
    cases = [case for case in data["case"] if case.state == Case.State.DELIVERED and case.kore_id]
    wanted = Wanted(
        status=data.get("status"), priority=data.get("priority"), assignee=data.get("assignee") or None
    )
    parts = [
        f"Status → {wanted.status.name}" if wanted.status else "",
        f"Priority → {wanted.priority.name}" if wanted.priority else "",
        "Assignee → no one"
        if wanted.assignee == UNASSIGNED
        else (f"Assignee → {wanted.assignee.name}" if wanted.assignee else ""),
    ]
    bulk = cases_change_bulk(
        cases=cases, wanted=wanted, user=request.user, summary="; ".join(part for part in parts if part)
    )
    audit_record(request=request, action="cases.bulk_changed", target=bulk, details={"count": bulk.total})
    messages.success(request, f"{bulk.summary}: {bulk.total} case(s) to change at Kore.")
    return redirect("bulk_detail", bulk.pk)


def bulk_detail(request: HttpRequest, bulk_id: int) -> HttpResponse:
    bulk = get_object_or_404(BulkAction.objects.select_related("stream"), pk=bulk_id)
    if not (is_administrator(request.user) or bulk.requested_by_id == request.user.pk):
        raise Http404("No such bulk change.")
    counts = bulk.actions.count_by_state()
    pending = sum(counts[state] for state in CaseAction.PENDING_STATES)
    # The changes drain at the account's pace (shared by its streams), at least at the bulk
    # floor's share of it.
    limit = pacing.account_limit(bulk.stream)
    per_second = (limit - 1) / settings.KORE_RATE_WINDOW_SECONDS if limit > 1 else None
    context = {
        "bulk": bulk,
        "counts": counts,
        "pending": pending,
        "percent": int(100 * (bulk.total - pending) / bulk.total) if bulk.total else 100,
        "eta_seconds": int(pending / per_second) if per_second and pending else 0,
        "eta_floor_seconds": int(pending / (per_second * fair.floors()["bulk"]))
        if per_second and pending
        else 0,
        "problems": bulk.actions.filter(
            state__in=[CaseAction.State.REFUSED, CaseAction.State.SUPERSEDED, CaseAction.State.FAILED]
        ).select_related("case")[:50],
    }
    if request.htmx:
        return render(request, "cases/_bulk_progress.html", context)
    return render(request, "cases/bulk_detail.html", context)
