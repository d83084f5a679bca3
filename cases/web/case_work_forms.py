"""The forms of a case's work panel (change the case at Kore, add a task) and what the panel
shows: the recent changes (pending at Kore, confirmed, refused), the tasks, and who may act."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest

from cases.actions.changes import UNASSIGNED, Wanted
from cases.delivery.due_dates import FlexibleDateTimeField
from cases.models import Case, KoreAssignee, KorePriority, KoreStatus, TaskTemplate
from cases.people import roles
from cases.web.case_form import DueDateInput

RECENT_CHANGES = 10


class CaseChangeForm(forms.Form):
    """What a person may change of a case at Kore; left as it is, a field is not sent."""

    status = forms.ModelChoiceField(
        queryset=KoreStatus.objects.none(), required=False, widget=forms.RadioSelect, empty_label=None
    )
    priority = forms.ModelChoiceField(
        queryset=KorePriority.objects.none(), required=False, widget=forms.RadioSelect, empty_label=None
    )
    assignee = forms.ChoiceField(label="Assigned to", required=False)
    due_date = FlexibleDateTimeField(label="Due date", required=False, widget=DueDateInput())
    name = forms.CharField(label="Title", max_length=500, required=False)
    desc = forms.CharField(
        label="Description", widget=forms.Textarea(attrs={"rows": 3}), max_length=20000, required=False
    )
    # Kore's updatedAt of the case as this page showed it: a change Kore made since is not overwritten.
    based_on = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, case: Case, **kwargs):
        self.case = case
        assignee = (
            case.assignee_name
            and KoreAssignee.objects.filter(stream=case.stream, name=case.assignee_name).first()
        )
        kwargs.setdefault(
            "initial",
            {
                "status": KoreStatus.objects.filter(stream=case.stream, kore_id=case.status_kore_id).first(),
                "priority": KorePriority.objects.filter(
                    stream=case.stream, kore_id=case.priority_kore_id
                ).first(),
                "assignee": f"{assignee.kind}:{assignee.pk}"
                if assignee
                else ("" if case.assignee_name else UNASSIGNED),
                "due_date": case.due_date,
                "name": case.name,
                "desc": case.desc,
                "based_on": case.kore_updated_at.isoformat() if case.kore_updated_at else "",
            },
        )
        super().__init__(*args, **kwargs)
        self.fields["status"].queryset = KoreStatus.objects.filter(stream=case.stream).order_by("name")
        self.fields["priority"].queryset = KorePriority.objects.filter(stream=case.stream).order_by(
            "score", "name"
        )
        choices = [("", "— as it is —"), (UNASSIGNED, "No one")]
        for kind, label in KoreAssignee.Kind.choices:
            found = KoreAssignee.objects.filter(stream=case.stream, kind=kind).order_by("name")
            choices.append((f"{label}s", [(f"{item.kind}:{item.pk}", item.name) for item in found]))
        self.fields["assignee"].choices = choices

    def wanted(self) -> Wanted:
        data = self.cleaned_data
        assignee = data.get("assignee") or None
        if assignee and assignee != UNASSIGNED:
            _kind, _, pk = assignee.partition(":")
            assignee = KoreAssignee.objects.filter(stream=self.case.stream, pk=pk).first()
        desc = data.get("desc")
        return Wanted(
            name=(data.get("name") or "").strip() or None,
            # Browsers send a textarea's line ends as CRLF.
            desc=desc.replace("\r\n", "\n") if desc is not None else None,
            status=data.get("status"),
            priority=data.get("priority"),
            due_date=data.get("due_date"),
            assignee=assignee,
        )


class TaskForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=TaskTemplate.objects.none(), label="Task template", empty_label="Choose a template…"
    )
    name = forms.CharField(label="Task", max_length=500)
    desc = forms.CharField(label="Details", widget=forms.Textarea(attrs={"rows": 2}), max_length=20000)

    def __init__(self, *args, case: Case, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = TaskTemplate.objects.filter(stream=case.stream, is_active=True)


def status_colours(case: Case) -> dict[str, str]:
    """The colours the sync learned for the statuses of the case's stream, by id and by name."""
    colours: dict[str, str] = {}
    for kore_id, name, color in (
        KoreStatus.objects.filter(stream_id=case.stream_id)
        .exclude(color="")
        .values_list("kore_id", "name", "color")
    ):
        colours[kore_id] = colours[name.lower()] = color
    return colours


def may_act(user, case: Case) -> bool:
    """Agents and administrators act on the delivered cases they see."""
    return user.has_perm(roles.ACT_ON_CASES) and case.state == Case.State.DELIVERED and bool(case.kore_id)


def work_context(request: HttpRequest, case: Case, *, form=None, task_form=None) -> dict:
    actions = list(
        case.actions.select_related("requested_by", "api_client", "task").order_by("-id")[:RECENT_CHANGES]
    )
    tasks = list(case.tasks.select_related("template").order_by("created_at", "id"))
    colours = status_colours(case) if tasks else {}
    for task in tasks:
        # Kore's colour of its status, where the sync learned one (getTasks names the status only).
        task.status_color = colours.get(task.status_kore_id) or colours.get(task.status_name.lower(), "")
        # Kore tasks a look-up could not decide between, for the person to adopt one.
        task.candidates = [
            {"kore_id": found.get("_id"), "ref_id": found.get("refId") or found.get("_id")}
            for found in task.review_candidates or []
            if isinstance(found, dict) and found.get("_id")
        ]
    can_act = may_act(request.user, case)
    return {
        "case": case,
        "can_act": can_act,
        "actions": actions,
        "pending_actions": [action for action in actions if action.is_pending],
        "tasks": tasks,
        "work_pending": any(a.is_pending for a in actions) or any(t.is_pending for t in tasks),
        "change_form": form or (CaseChangeForm(case=case) if can_act else None),
        "task_form": task_form or (TaskForm(case=case) if can_act else None),
        "task_statuses": KoreStatus.objects.filter(stream=case.stream).order_by("name") if can_act else [],
    }
