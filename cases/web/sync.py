"""The Sync page (administrators): per stream the last pass, the next one, a switch and an
interval, "Sync now" and a full re-read with its progress. And the case page's "Refresh from
Kore" (anyone who sees the case: it reads, it never writes to Kore)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from cases.models import Stream, StreamSync
from cases.people.audit import audit_record
from cases.people.roles import administrator_required, browse_permission_required
from cases.sync import runs
from cases.sync.refresh import case_refresh
from cases.sync.tasks import full_read, sync_account
from cases.web.cases import get_visible_case


class SyncSettingsForm(forms.ModelForm):
    class Meta:
        model = StreamSync
        fields = ["enabled", "interval_seconds"]
        widgets = {"interval_seconds": forms.NumberInput(attrs={"min": 15, "step": 15})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Empty means the default: show it.
        self.fields["interval_seconds"].widget.attrs["placeholder"] = str(settings.KORE_SYNC_INTERVAL_SECONDS)

    def clean_interval_seconds(self):
        value = self.cleaned_data["interval_seconds"]
        if value is not None and value < 15:
            raise forms.ValidationError("At least 15 seconds: each pass uses Kore's rate limit.")
        return value


def _states() -> list[StreamSync]:
    for stream in Stream.objects.filter(sync__isnull=True):
        runs.sync_state(stream)
    return list(StreamSync.objects.select_related("stream").order_by("-stream__is_active", "stream__name"))


@administrator_required
def sync_overview(request: HttpRequest) -> HttpResponse:
    states = _states()
    rows = [
        {"state": state, "form": SyncSettingsForm(instance=state, prefix=f"s{state.pk}")} for state in states
    ]
    context = {"rows": rows, "any_full_read": any(state.full_read_running for state in states)}
    if request.htmx:
        return render(request, "cases/_sync_table.html", context)
    return render(request, "cases/sync.html", context)


@administrator_required
@require_POST
def sync_settings(request: HttpRequest, state_id: int) -> HttpResponse:
    state = get_object_or_404(StreamSync.objects.select_related("stream"), pk=state_id)
    form = SyncSettingsForm(request.POST, instance=state, prefix=f"s{state.pk}")
    if form.is_valid():
        form.save()
        audit_record(
            request=request, action="sync.changed", target=state.stream, details={"fields": form.changed_data}
        )
        messages.success(request, f"Sync of “{state.stream.name}” saved.")
    else:
        messages.error(request, "; ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("sync_overview")


@administrator_required
@require_POST
def sync_now(request: HttpRequest, state_id: int) -> HttpResponse:
    state = get_object_or_404(StreamSync.objects.select_related("stream"), pk=state_id)
    StreamSync.objects.filter(pk=state.pk).update(next_pass_at=timezone.now())
    sync_account.delay(runs.lease_key(state.stream), [state.stream_id])
    audit_record(request=request, action="sync.requested", target=state.stream)
    messages.success(request, f"A pass of “{state.stream.name}” is on its way.")
    return redirect("sync_overview")


@administrator_required
@require_POST
def sync_full_read(request: HttpRequest, state_id: int) -> HttpResponse:
    state = get_object_or_404(StreamSync.objects.select_related("stream"), pk=state_id)
    runs.ask_for_full_read(state)
    # Now if the account's lease is free; otherwise the account's next run (each tick) takes it.
    full_read.delay(state.stream_id)
    audit_record(request=request, action="sync.full_read_requested", target=state.stream)
    messages.success(
        request, f"Reading every case of “{state.stream.name}” at Kore; the progress shows below."
    )
    return redirect("sync_overview")


@browse_permission_required
@require_POST
def case_refresh_view(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_visible_case(request, case_id)
    result = case_refresh(case=case)
    (messages.success if result.found else messages.warning)(request, result.message)
    return redirect(case)
