"""HTML pages. Thin: forms validate, services act, querysets read; post/redirect/get throughout."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cases import roles, services
from cases.audit import audit_record
from cases.delivery import actions, reconcile
from cases.delivery.submit import build_case_body, case_submit
from cases.forms import CaseForm, CaseTemplateForm, StreamForm
from cases.kore.answers import review_candidate
from cases.models import Case, CaseTemplate, Stream
from cases.roles import administrator_required, browse_permission_required, submit_permission_required


def get_visible_case(request: HttpRequest, case_id: int) -> Case:
    return get_object_or_404(Case.objects.visible_to(request.user).for_list(), pk=case_id)


def can_manage_delivery(user, case: Case) -> bool:
    """Administrators manage any case's delivery; agents the cases they submitted."""
    if user.has_perm(roles.MANAGE_ANY_DELIVERY):
        return True
    return user.has_perm(roles.SUBMIT_CASES) and case.submitted_by_id == user.pk


# --- Cases (the list and the dashboard are in cases/browse_views.py) -----------------------


@submit_permission_required
def case_new(request: HttpRequest) -> HttpResponse:
    templates = CaseTemplate.objects.usable().visible_to(request.user)
    if request.method == "POST":
        form = CaseForm(request.POST, templates=templates)
        if form.is_valid():
            template = form.cleaned_data["template"]
            case = case_submit(
                template=template,
                body=build_case_body(template=template, data=form.cleaned_data),
                user=request.user,
            )
            audit_record(request=request, action="case.submitted", target=case)
            messages.success(request, "Case submitted. It is on its way to Kore.ai.")
            return redirect(case)
    else:
        form = CaseForm(templates=templates, initial={"template": request.GET.get("template")})
    return render(request, "cases/case_form.html", {"form": form, "has_templates": templates.exists()})


@browse_permission_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_visible_case(request, case_id)
    context = {
        "case": case,
        "attempts": case.attempts.all(),
        "can_manage": can_manage_delivery(request.user, case),
        "candidates": [review_candidate(found) for found in case.review_candidates or []],
        "request_body_json": json.dumps(case.request_body, indent=2, ensure_ascii=False),
        "kore_case_json": json.dumps(case.kore_case, indent=2, ensure_ascii=False) if case.kore_case else "",
    }
    # While delivery is in progress the page polls this same URL for its status panel.
    if request.htmx:
        return render(request, "cases/_case_status.html", context)
    return render(request, "cases/case_detail.html", context)


@browse_permission_required
@require_POST
def case_retry(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_visible_case(request, case_id)
    if not can_manage_delivery(request.user, case):
        raise PermissionDenied("You may not retry this case.")
    if actions.case_retry(case=case):
        audit_record(request=request, action="case.retried", target=case)
        messages.success(request, "Sending the case again.")
    else:
        messages.warning(request, "Only a failed case can be retried.")
    return redirect(case)


@browse_permission_required
@require_POST
def case_cancel(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_visible_case(request, case_id)
    if not can_manage_delivery(request.user, case):
        raise PermissionDenied("You may not cancel this case.")
    if actions.case_cancel(case=case):
        audit_record(request=request, action="case.cancelled", target=case)
        messages.success(request, "Delivery cancelled. Nothing was sent to Kore.ai.")
    else:
        messages.warning(
            request,
            "Only a case that has not been sent yet can be cancelled (one whose last request may have "
            "reached Kore is looked up first).",
        )
    return redirect(case)


@browse_permission_required
@require_POST
def case_adopt(request: HttpRequest, case_id: int) -> HttpResponse:
    """A person's decision on a case in review: this Kore case is the submission's."""
    case = get_visible_case(request, case_id)
    if not can_manage_delivery(request.user, case):
        raise PermissionDenied("You may not decide on this case's delivery.")
    kore_id = request.POST.get("kore_id", "")
    if reconcile.case_adopt(case=case, kore_id=kore_id):
        case.refresh_from_db()
        audit_record(request=request, action="case.adopted", target=case, details={"kore_id": kore_id})
        messages.success(request, f"Adopted {case.ref_id or kore_id}: this submission is that Kore case.")
    else:
        case.refresh_from_db()
        messages.warning(
            request,
            case.last_error
            if case.state == "needs_review"
            else "Only a case in review can adopt one of its candidates.",
        )
    return redirect(case)


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
    result = services.stream_check(stream=stream)
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
