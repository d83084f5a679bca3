"""Pages about delivery: the staff Deliveries overview and bulk import with its live progress."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cases.delivery import actions, imports
from cases.models import Case, CaseTemplate, ImportBatch
from cases.people.audit import audit_record
from cases.people.roles import administrator_required, is_administrator, submit_permission_required

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


@administrator_required
def deliveries(request: HttpRequest) -> HttpResponse:
    cases = Case.objects.select_related("stream", "template")
    context = {
        "counts": Case.objects.count_by_state(),
        "state_labels": dict(Case.State.choices),
        "queue": cases.filter(state__in=Case.PENDING_STATES).order_by("created_at", "id")[:50],
        "failures": cases.filter(state__in=[Case.State.FAILED, Case.State.NEEDS_REVIEW]).order_by(
            "-updated_at", "-id"
        )[:100],
        "flagged": Case.objects.filter(is_flagged=True).count(),
    }
    if request.htmx:
        return render(request, "cases/_deliveries_panel.html", context)
    return render(request, "cases/deliveries.html", context)


@administrator_required
@require_POST
def deliveries_retry(request: HttpRequest) -> HttpResponse:
    """Retry the selected failed cases, or every failed one when none is selected."""
    ids = [int(value) for value in request.POST.getlist("case") if value.isascii() and value.isdigit()]
    failed = Case.objects.filter(state=Case.State.FAILED)
    if ids:
        failed = failed.filter(pk__in=ids)
    retried = sum(actions.case_retry(case=case) for case in failed.only("pk")[:5000])
    audit_record(request=request, action="cases.bulk_retried", details={"count": retried})
    messages.success(request, f"{retried} failed case(s) queued for delivery again.")
    return redirect("deliveries")


class ImportForm(forms.Form):
    template = forms.ModelChoiceField(queryset=CaseTemplate.objects.none(), empty_label="Choose a template…")
    file = forms.FileField(help_text="CSV with a header line, or JSON lines (.jsonl). At most 10,000 cases.")
    only_valid = forms.BooleanField(
        required=False, label="Import only the valid rows (leave out the rows with errors)"
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = CaseTemplate.objects.usable().visible_to(user)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError("The file is larger than 5 MB.")
        return upload


@submit_permission_required
def import_new(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None, user=request.user)
    validated = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        template = form.cleaned_data["template"]
        try:
            rows = imports.read_rows(upload.name, upload.read())
        except imports.ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            validated = imports.validate_rows(template, rows)
            only_valid = form.cleaned_data["only_valid"]
            if validated.valid and (not validated.errors or only_valid):
                batch = imports.import_cases(
                    template=template,
                    filename=upload.name,
                    rows=validated.valid,
                    user=request.user,
                    skipped=len(validated.invalid_lines),
                )
                audit_record(
                    request=request, action="cases.imported", target=batch, details={"count": batch.total}
                )
                messages.success(request, f"{batch.total} cases queued for delivery.")
                return redirect(batch)
    return render(
        request, "cases/import_form.html", {"form": form, "validated": validated, "columns": imports.COLUMNS}
    )


@submit_permission_required
def import_example(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(imports.example_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="cases-example.csv"'
    return response


@submit_permission_required
def import_detail(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = get_object_or_404(ImportBatch.objects.select_related("template__stream"), pk=batch_id)
    if not (is_administrator(request.user) or batch.created_by_id == request.user.pk):
        raise Http404("No such import.")
    counts = batch.cases.count_by_state()
    pending = sum(counts[state] for state in Case.PENDING_STATES)
    settled = batch.total - pending
    stream = batch.template.stream
    # The backlog drains at the stream's pace: limit - 1 calls per window (see cases/delivery/pacing.py).
    per_second = (
        (stream.rate_limit - 1) / settings.KORE_RATE_WINDOW_SECONDS if stream.rate_limit > 1 else None
    )
    context = {
        "batch": batch,
        "counts": counts,
        "pending": pending,
        "percent": int(100 * settled / batch.total) if batch.total else 100,
        "eta_seconds": int(pending / per_second) if per_second and pending else 0,
        "failures": batch.cases.filter(Q(state=Case.State.FAILED) | Q(state=Case.State.NEEDS_REVIEW))[:50],
    }
    if request.htmx:
        return render(request, "cases/_import_progress.html", context)
    return render(request, "cases/import_detail.html", context)
