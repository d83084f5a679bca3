"""The configuration pages (administrators): streams with their connection check, case templates
and task templates. Their forms are in configuration_forms.py."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cases.delivery.connection import stream_check as check_connection
from cases.models import CaseTemplate, Stream, TaskTemplate
from cases.people.audit import audit_record
from cases.people.roles import administrator_required
from cases.web.configuration_forms import CaseTemplateForm, StreamForm, TaskTemplateForm

# --- Streams -----------------------------------------------------------------------------


@administrator_required
def stream_list(request: HttpRequest) -> HttpResponse:
    streams = Stream.objects.annotate(template_count=Count("templates", distinct=True)).order_by(
        "-is_active", "name"
    )
    return render(request, "cases/stream_list.html", {"streams": streams})


@administrator_required
def stream_new(request: HttpRequest) -> HttpResponse:
    form = StreamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        stream = form.save()
        audit_record(request=request, action="stream.created", target=stream)
        messages.success(request, f"Stream “{stream.name}” saved. Test its connection below.")
        return redirect("stream_edit", stream.pk)
    return render(request, "cases/stream_form.html", {"form": form})


@administrator_required
def stream_edit(request: HttpRequest, stream_id: int) -> HttpResponse:
    stream = get_object_or_404(Stream, pk=stream_id)
    form = StreamForm(request.POST or None, instance=stream)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit_record(
            request=request, action="stream.changed", target=stream, details={"fields": form.changed_data}
        )
        messages.success(request, f"Stream “{stream.name}” saved.")
        return redirect("stream_edit", stream.pk)
    return render(request, "cases/stream_form.html", {"form": form, "stream": stream})


@administrator_required
@require_POST
def stream_check(request: HttpRequest, stream_id: int) -> HttpResponse:
    stream = get_object_or_404(Stream, pk=stream_id)
    result = check_connection(stream=stream)
    if result.ok:
        messages.success(request, result.message)
    else:
        messages.error(request, f"Connection failed: {result.message}")
    return redirect("stream_edit", stream.pk)


@administrator_required
@require_POST
def stream_toggle(request: HttpRequest, stream_id: int) -> HttpResponse:
    stream = get_object_or_404(Stream, pk=stream_id)
    clash = Stream.objects.filter(stream_id=stream.stream_id, is_active=True).exclude(pk=stream.pk).first()
    if not stream.is_active and clash is not None:
        messages.error(
            request,
            f"“{clash.name}” is active with the same Kore stream id {stream.stream_id}; deactivate it first.",
        )
        return redirect("stream_list")
    stream.is_active = not stream.is_active
    stream.save(update_fields=["is_active", "updated_at"])
    audit_record(
        request=request,
        action="stream.activated" if stream.is_active else "stream.deactivated",
        target=stream,
    )
    state = "activated" if stream.is_active else "deactivated: its templates are hidden from the case form"
    messages.success(request, f"Stream “{stream.name}” {state}.")
    return redirect("stream_list")


# --- Templates ---------------------------------------------------------------------------


@administrator_required
def template_list(request: HttpRequest) -> HttpResponse:
    templates = CaseTemplate.objects.select_related("stream").order_by("stream__name", "name")
    return render(request, "cases/template_list.html", {"templates": templates})


@administrator_required
def template_new(request: HttpRequest) -> HttpResponse:
    form = CaseTemplateForm(request.POST or None, initial={"stream": request.GET.get("stream")})
    if request.method == "POST" and form.is_valid():
        template = form.save()
        audit_record(request=request, action="template.created", target=template)
        messages.success(request, f"Template “{template.name}” saved.")
        return redirect("template_list")
    return render(request, "cases/template_form.html", {"form": form})


@administrator_required
def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    template = get_object_or_404(CaseTemplate, pk=template_id)
    form = CaseTemplateForm(request.POST or None, instance=template)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit_record(
            request=request, action="template.changed", target=template, details={"fields": form.changed_data}
        )
        messages.success(request, f"Template “{template.name}” saved.")
        return redirect("template_list")
    return render(request, "cases/template_form.html", {"form": form, "template": template})


# --- Task templates ----------------------------------------------------------------------


@administrator_required
def task_template_list(request: HttpRequest) -> HttpResponse:
    templates = TaskTemplate.objects.select_related("stream").order_by("stream__name", "name")
    return render(request, "cases/task_template_list.html", {"templates": templates})


@administrator_required
def task_template_new(request: HttpRequest) -> HttpResponse:
    form = TaskTemplateForm(request.POST or None, initial={"stream": request.GET.get("stream")})
    if request.method == "POST" and form.is_valid():
        template = form.save()
        audit_record(request=request, action="task_template.created", target=template)
        messages.success(request, f"Task template “{template.name}” saved.")
        return redirect("task_template_list")
    return render(request, "cases/task_template_form.html", {"form": form})


@administrator_required
def task_template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    template = get_object_or_404(TaskTemplate, pk=template_id)
    form = TaskTemplateForm(request.POST or None, instance=template)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit_record(
            request=request,
            action="task_template.changed",
            target=template,
            details={"fields": form.changed_data},
        )
        messages.success(request, f"Task template “{template.name}” saved.")
        return redirect("task_template_list")
    return render(request, "cases/task_template_form.html", {"form": form, "template": template})
