"""updateCase and updateTask bodies as Kore documents them, and whether a case or a task Kore
lists already shows such a change (what the portal asks after an answer was lost).

The body keys are all optional: ``name``, ``desc``, ``status {_id, name, lname,
statusCategory}``, ``priority {_id, name}``, ``dueDate`` in **epoch milliseconds**, and an
assignment (``assigneeType`` ``agent`` with ``currAssignee``, ``queues`` with ``queues[]``, or
``unassigned``). Status and priority need Kore's own ``sts-…``/``pr-…`` ids, which only Kore's
answers carry (the sync learns them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cases.kore.answers import parse_case
from cases.kore.dates import epoch_ms, parse_kore_datetime
from cases.kore.errors import KoreMalformed
from cases.kore.lookup import same_title


@dataclass(frozen=True)
class Choice:
    """A status, priority, agent or queue of a stream, by Kore's id, as the sync learned it."""

    kore_id: str
    name: str
    category: str = ""
    lname: str = ""  # a status's ``lname`` as Kore answered it, when the sync has seen one


def status_value(status: Choice) -> dict:
    """``status {_id, name, lname, statusCategory}``: ``lname`` as Kore answered it; lower-cased
    ``name`` (what Kore's answers show) only for a status the portal never saw it for."""
    return {
        "_id": status.kore_id,
        "name": status.name,
        "lname": status.lname or status.name.lower(),
        "statusCategory": status.category,
    }


def priority_value(priority: Choice) -> dict:
    return {"_id": priority.kore_id, "name": priority.name}


def assignment_value(*, agent: Choice | None = None, queue: Choice | None = None) -> dict:
    """The keys that assign a case to an agent, to a queue, or (neither) to no one."""
    if agent is not None:
        return {"assigneeType": "agent", "currAssignee": {"agentId": agent.kore_id, "name": agent.name}}
    if queue is not None:
        return {"assigneeType": "queues", "queues": [queue.kore_id], "currAssignee": {}}
    return {"assigneeType": "unassigned", "currAssignee": {}}


def due_value(moment: datetime) -> int:
    return epoch_ms(moment)


def _object(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _queue_ids(value: Any) -> set[str]:
    items = value if isinstance(value, list) else []
    return {str(item.get("_id") if isinstance(item, dict) else item) for item in items}


def _agent_ids(value: dict) -> set[str]:
    return {str(value[key]) for key in ("agentId", "aId", "_id") if value.get(key)}


def _verdict(checks: list[bool]) -> bool | None:
    """Every compared value shown (True) or not (False); None when no key of the body could be
    compared, which is no evidence either way."""
    return all(checks) if checks else None


def _assignment_checks(found: dict, body: dict) -> list[bool]:
    """The assignment keys of ``body`` against the case: each compared on its own, so that a
    body with ``currAssignee`` or ``queues`` and no ``assigneeType`` is compared too."""
    checks = []
    if "assigneeType" in body:
        checks.append(str(found.get("assigneeType") or "") == body["assigneeType"])
    if "currAssignee" in body:
        wanted, current = _object(body["currAssignee"]), _agent_ids(_object(found.get("currAssignee")))
        if not wanted:
            checks.append(not current)  # an empty currAssignee: no agent any more
        elif _agent_ids(wanted):
            checks.append(bool(_agent_ids(wanted) & current))
    if "queues" in body:
        wanted_queues, shown = _queue_ids(body["queues"]), _queue_ids(found.get("queues"))
        checks.append(wanted_queues <= shown if wanted_queues else not shown)
    return checks


def case_shows(found: dict, body: dict) -> bool | None:
    """Does a case as getCases lists it hold every value of an updateCase ``body``? None when
    no key of the body can be compared (``tags``, ``fields``, ``channel``, …, or a case that
    cannot be read): the case neither shows the change nor shows it missing."""
    try:
        case = parse_case(found)
    except KoreMalformed:
        return None
    checks = []
    if "name" in body:
        checks.append(same_title(case.name, body["name"]))
    if "desc" in body:
        checks.append(case.desc == body["desc"])
    if "status" in body:
        checks.append(case.status_id == _object(body["status"]).get("_id"))
    if "priority" in body:
        checks.append(case.priority_id == _object(body["priority"]).get("_id"))
    if "dueDate" in body:
        wanted = parse_kore_datetime(body["dueDate"])
        shown = parse_kore_datetime(found.get("dueDate")) or case.due_date
        checks.append(wanted is not None and shown is not None and abs((shown - wanted).total_seconds()) < 1)
    checks += _assignment_checks(found, body)
    return _verdict(checks)


def task_shows(found: dict, body: dict) -> bool | None:
    """Does a task as getTasks lists it (trimmed: name, status and priority by name only) hold
    every value of an updateTask ``body``? None when no key of the body is in that trimmed
    form (``desc``, ``dueDate``, …)."""
    checks = []
    if "name" in body:
        checks.append(same_title(found.get("name"), body["name"]))
    for key in ("status", "priority"):
        if key in body:
            wanted, shown = _object(body[key]), _object(found.get(key))
            if shown.get("_id") and wanted.get("_id"):
                checks.append(shown["_id"] == wanted["_id"])
            else:
                checks.append(
                    str(shown.get("name") or "").casefold() == str(wanted.get("name") or "").casefold()
                )
    return _verdict(checks)
