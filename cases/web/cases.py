"""The case pages: a new case, a case with its delivery and the decisions on it (retry or send
anyway, cancel, look up again, adopt a candidate or a refId). The list and the dashboard are in
browsing.py."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cases.delivery import actions, reconcile
from cases.delivery.submit import build_case_body, case_submit
from cases.kore.answers import review_candidate
from cases.models import Case, CaseTemplate
from cases.notify import follows
from cases.people import roles
from cases.people.audit import audit_record
from cases.people.roles import browse_permission_required, submit_permission_required
from cases.web.case_form import CaseForm
from cases.web.case_work_forms import status_colours, work_context


def get_visible_case(request: HttpRequest, case_id: int) -> Case:
    return get_object_or_404(Case.objects.visible_to(request.user).for_list(), pk=case_id)


def can_manage_delivery(user, case: Case) -> bool:
    """Administrators manage any case's delivery; agents the cases they submitted."""
    if user.has_perm(roles.MANAGE_ANY_DELIVERY):
        return True
    return user.has_perm(roles.SUBMIT_CASES) and case.submitted_by_id == user.pk


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


def case_detail_context(request: HttpRequest, case: Case) -> dict:
    """Everything the case page shows but its work panel (case_work_forms.work_context)."""
    return {
        "case": case,
        "attempts": case.attempts.all(),
        "can_manage": can_manage_delivery(request.user, case),
        "candidates": [review_candidate(found) for found in case.review_candidates or []],
        "history": case.changes.all()[:200],
        # Kore's colour of the case's status, where the sync learned one.
        "status_color": status_colours(case).get(case.status_kore_id, "") if case.status_kore_id else "",
        "following": follows.is_following(request.user, case),
        "request_body_json": json.dumps(case.request_body, indent=2, ensure_ascii=False)
        if case.request_body
        else "",
        "kore_case_json": json.dumps(case.kore_case, indent=2, ensure_ascii=False) if case.kore_case else "",
    }


@browse_permission_required
def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    case = get_visible_case(request, case_id)
    context = case_detail_context(request, case)
    # While delivery is in progress the page polls this same URL for its status panel.
    if request.htmx:
        return render(request, "cases/_case_status.html", context)
    return render(request, "cases/case_detail.html", {**context, **work_context(request, case)})


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
def case_look_up(request: HttpRequest, case_id: int) -> HttpResponse:
    """A person's decision on a case in review: have the portal check Kore again, now."""
    case = get_visible_case(request, case_id)
    if not can_manage_delivery(request.user, case):
        raise PermissionDenied("You may not decide on this case's delivery.")
    if actions.case_look_up_again(case=case):
        audit_record(request=request, action="case.looked_up", target=case)
        messages.success(request, "Looking the case up at Kore again.")
    else:
        messages.warning(request, "Only a case in review can be looked up again.")
    return redirect(case)


@browse_permission_required
@require_POST
def case_adopt(request: HttpRequest, case_id: int) -> HttpResponse:
    """A person's decision on a case in review: this Kore case is the submission's, either one of
    the listed candidates (``kore_id``) or the one they found at Kore (``ref_id``, verified)."""
    case = get_visible_case(request, case_id)
    if not can_manage_delivery(request.user, case):
        raise PermissionDenied("You may not decide on this case's delivery.")
    if "ref_id" in request.POST:
        ref_id = request.POST["ref_id"].strip()
        decision = reconcile.case_adopt_ref(case=case, ref_id=ref_id)
        if decision.done:
            audit_record(request=request, action="case.adopted", target=case, details={"ref_id": ref_id})
            messages.success(request, decision.message)
        else:
            messages.warning(request, decision.message)
        return redirect(case)
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
