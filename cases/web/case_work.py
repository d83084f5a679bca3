"""Working a case from its page: change its status, priority, due date, title, description or
assignee at Kore, add a task, change a task's status or decide on one held for review. Agents
and administrators act on any case of their streams (``cases.act_on_case``); viewers see the
pending, confirmed and refused changes, and cannot act. The forms are in case_work_forms.py."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cases.actions.changes import case_change, case_change_submit, task_change_submit
from cases.actions.changes import task_status_change as status_change_of_task
from cases.actions.conflicts import changed_at_kore
from cases.actions.new_tasks import task_adopt, task_body, task_send_anyway, task_submit
from cases.kore.dates import parse_kore_datetime
from cases.models import Case, CaseAction, CaseTask, KoreStatus
from cases.people import roles
from cases.people.audit import audit_record
from cases.web.case_work_forms import CaseChangeForm, TaskForm, may_act, work_context
from cases.web.cases import case_detail_context, get_visible_case


def _acting_case(request: HttpRequest, case_id: int) -> Case:
    case = get_visible_case(request, case_id)
    if not may_act(request.user, case):
        raise PermissionDenied("You may not change this case at Kore.")
    return case


def case_work(request: HttpRequest, case_id: int) -> HttpResponse:
    """The work panel alone: the case page polls it while a change or a task is pending."""
    if not request.user.has_perm(roles.BROWSE_CASES):
        raise PermissionDenied
    work = work_context(request, get_visible_case(request, case_id))
    # The case is read after its changes: a change read as confirmed is then read applied too
    # (both are written in one transaction), so the page never stops polling on the old status.
    case = get_visible_case(request, case_id)
    context = {**work, **case_detail_context(request, case), "oob": True}
    return render(request, "cases/_case_changes.html", context)


@require_POST
def case_change_view(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _acting_case(request, case_id)
    form = CaseChangeForm(request.POST, case=case)
    if form.is_valid():
        body, shown = case_change(case, form.wanted())
        if not body:
            messages.info(
                request, "Nothing to change: the case is already so at Kore, as far as the portal knows."
            )
            return redirect(case)
        based_on = parse_kore_datetime(form.cleaned_data.get("based_on")) or case.kore_updated_at
        newer = changed_at_kore(case.pk, body, since=based_on)
        if newer:
            form.add_error(
                None,
                f"Kore changed {', '.join(newer).lower()} of this case since you opened the page. "
                "The page now shows the case as Kore has it: check, then change it again.",
            )
        else:
            action = case_change_submit(case=case, body=body, changes=shown, user=request.user)
            audit_record(
                request=request,
                action="case.change_requested",
                target=case,
                details={"change": action.pk, "summary": action.summary[:300]},
            )
            messages.success(
                request, f"Sent to Kore: {action.summary}. It shows as pending at Kore until Kore confirms."
            )
            return redirect(case)
    return _page_with(request, case, form=form)


def _page_with(request, case, **forms_) -> HttpResponse:
    context = {**case_detail_context(request, case), **work_context(request, case, **forms_)}
    return render(request, "cases/case_detail.html", context, status=400)


@require_POST
def case_task_new(request: HttpRequest, case_id: int) -> HttpResponse:
    case = _acting_case(request, case_id)
    form = TaskForm(request.POST, case=case)
    if not form.is_valid():
        return _page_with(request, case, task_form=form)
    template = form.cleaned_data["template"]
    body = task_body(
        case=case, template=template, name=form.cleaned_data["name"].strip(), desc=form.cleaned_data["desc"]
    )
    task = task_submit(case=case, template=template, body=body, user=request.user)
    audit_record(
        request=request,
        action="task.requested",
        target=case,
        details={"task": task.pk, "name": task.name[:200]},
    )
    messages.success(request, f"Task “{task.name}” sent to Kore.")
    return redirect(case)


def _acting_task(request: HttpRequest, case_id: int, task_id: int) -> tuple[Case, CaseTask]:
    case = _acting_case(request, case_id)
    return case, get_object_or_404(CaseTask, pk=task_id, case=case)


@require_POST
def case_task_status(request: HttpRequest, case_id: int) -> HttpResponse:
    task_id = request.POST.get("task", "")
    case, task = _acting_task(
        request, case_id, int(task_id) if task_id.isascii() and task_id.isdigit() else 0
    )
    status = KoreStatus.objects.filter(stream=case.stream, pk=request.POST.get("status") or 0).first()
    if task.state != CaseTask.State.DELIVERED or status is None:
        messages.warning(request, "Choose a status for a task Kore holds.")
        return redirect(case)
    if status.kore_id == task.status_kore_id:
        messages.info(request, f"The task is {status.name} already.")
        return redirect(case)
    body, shown = status_change_of_task(task, status)
    action = task_change_submit(task=task, body=body, changes=shown, user=request.user)
    audit_record(
        request=request,
        action="task.change_requested",
        target=case,
        details={"change": action.pk, "task": task.pk},
    )
    messages.success(request, f"Sent to Kore: task {task} {action.summary}.")
    return redirect(case)


@require_POST
def case_task_decide(request: HttpRequest, case_id: int, task_id: int) -> HttpResponse:
    """A task held for review: adopt one of the Kore tasks listed, or send it anyway."""
    case, task = _acting_task(request, case_id, task_id)
    if not (request.user.has_perm(roles.MANAGE_ANY_DELIVERY) or task.requested_by_id == request.user.pk):
        raise PermissionDenied("Only who asked for the task, or an administrator, decides on it.")
    if request.POST.get("kore_id"):
        done = task_adopt(task=task, kore_id=request.POST["kore_id"])
        messages.success(request, "Adopted the Kore task.") if done else messages.warning(
            request, "Nothing to adopt."
        )
    elif task_send_anyway(task=task):
        messages.success(request, "Sending the task again.")
    return redirect(case)


def pending_changes_of(cases) -> dict[int, list[CaseAction]]:
    """Pending changes of some cases (a list page), by case id."""
    found: dict[int, list[CaseAction]] = {}
    for action in CaseAction.objects.filter(Q(case__in=cases), state__in=CaseAction.PENDING_STATES):
        found.setdefault(action.case_id, []).append(action)
    return found
