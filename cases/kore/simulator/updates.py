"""updateCase (and updateTask, which takes the same keys): what a body may change, checked
against the stream's statuses, priorities, queues and the account's agents, and applied to a
stored case or task. The Kore agent (agent.py) changes cases through ``apply`` too, so a change
made "in Kore's screens" and one made over the API leave the same traces.

Every body key is optional (the documents' tables). Status and priority are named by Kore's
``sts-…``/``pr-…`` ids, which no API lists; an id the stream does not have is refused, and so
is a status without its ``name``, ``lname`` and ``statusCategory`` or a priority without its
``name`` (the tables give the objects so).
``dueDate`` is epoch milliseconds (the table says Number). Documented keys that describe the
record rather than change it (``_id``, ``refId``, ``createdAt``, ``orgId``, …) are accepted
and ignored; so are keys the documents do not list. Every problem is listed in one answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cases.kore.simulator.catalog import Agent, StreamCatalog, agent, catalog
from cases.kore.simulator.query import Record, iso, now_ms
from cases.kore.simulator.responses import Refused, SimResponse, require_account
from cases.kore.simulator.store import participant, person

if TYPE_CHECKING:
    from cases.kore.simulator.core import Simulator

ASSIGNEE_TYPES = ("agent", "unassigned", "queues")
UNASSIGNED = object()  # the change "no agent any more"


def _text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


# The keys the documents' tables give the objects: status {_id, name, lname, statusCategory},
# priority {_id, name, ...}. An object without one of them is refused, as an incomplete body.
REQUIRED_KEYS = {"status": ("_id", "name", "lname", "statusCategory"), "priority": ("_id", "name")}


def _catalog_item(body: dict, key: str, find, problems: list[str]) -> dict | None:
    value = body[key]
    required = REQUIRED_KEYS[key]
    if not isinstance(value, dict) or not isinstance(value.get("_id"), str) or not value["_id"]:
        problems.append(f"{key} must be an object with {_listed(required)}.")
        return None
    missing = [name for name in required if not isinstance(value.get(name), str) or not value[name].strip()]
    if missing:
        problems.append(f"{key} must be an object with {_listed(required)}: {_listed(missing)} missing.")
    found = find(value["_id"])
    if found is None or found["_id"] != value["_id"]:
        problems.append(f"{key} {value['_id']} is not a {key} of this stream.")
        return None
    return None if missing else found


def _listed(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def checked_changes(body: dict, stream: StreamCatalog, doc: dict) -> dict:
    """The changes ``body`` asks of ``doc``, resolved; raises ``Refused`` listing every problem."""
    changes: dict[str, Any] = {}
    problems: list[str] = []
    if "name" in body:
        if isinstance(body["name"], str) and body["name"].strip():
            changes["name"] = body["name"]
        else:
            problems.append("name must be a non-empty string.")
    if "desc" in body:
        if isinstance(body["desc"], str):
            changes["desc"] = body["desc"]
        else:
            problems.append("desc must be a string.")
    if "status" in body:
        changes["status"] = _catalog_item(body, "status", stream.status, problems)
    if "priority" in body:
        changes["priority"] = _catalog_item(body, "priority", stream.priority, problems)
    if "fields" in body:
        fields = body["fields"]
        if not isinstance(fields, list) or not all(
            isinstance(item, dict) and isinstance(item.get("_id"), str) and item["_id"] for item in fields
        ):
            problems.append("fields must be an array of objects with an _id.")
        elif any(item["_id"] in stream.system_field_ids for item in fields):
            problems.append("fields cannot change a system field: send name, desc or dueDate.")
        else:
            changes["fields"] = fields
    if "queues" in body:
        queues = body["queues"]
        ids = [item.get("_id") if isinstance(item, dict) else item for item in queues or []]
        if not isinstance(queues, list) or not all(isinstance(item, str) for item in ids):
            problems.append("queues must be an array of queue ids.")
        else:
            unknown = [item for item in ids if (stream.queue(item) or {}).get("_id") != item]
            if unknown:
                problems.append(f"queues {', '.join(unknown)} are not queues of this stream.")
            changes["queues"] = ids
    for key in ("tags", "channel"):
        if key in body:
            if _text_list(body[key]):
                changes[key] = body[key]
            else:
                problems.append(f"{key} must be an array of strings.")
    if "dueDate" in body:
        due = body["dueDate"]
        if isinstance(due, int | float) and not isinstance(due, bool) and due >= 0:
            changes["dueDate"] = int(due)
        else:
            problems.append("dueDate must be a number: epoch milliseconds.")
    _check_assignment(body, doc, changes, problems)
    if problems:
        raise Refused(400, *problems)
    return changes


def _check_assignment(body: dict, doc: dict, changes: dict, problems: list[str]) -> None:
    kind = body.get("assigneeType")
    if "assigneeType" in body and kind not in ASSIGNEE_TYPES:
        problems.append(f"assigneeType must be one of {', '.join(ASSIGNEE_TYPES)}.")
        return
    assignee: Agent | object | None = None
    if "currAssignee" in body:
        value = body["currAssignee"]
        if not isinstance(value, dict):
            problems.append("currAssignee must be an object.")
            return
        if value:
            key = value.get("agentId") or value.get("aId") or value.get("_id")
            assignee = agent(key) if isinstance(key, str) else None
            if assignee is None:
                problems.append("currAssignee must name an agent of this account by agentId or aId.")
                return
        else:
            assignee = UNASSIGNED
    if kind is None and assignee is None:
        return
    if isinstance(assignee, Agent) and kind not in (None, "agent"):
        problems.append("assigneeType must be agent when currAssignee names an agent.")
        return
    if kind == "agent" and (assignee is UNASSIGNED or (assignee is None and not doc.get("currAssignee"))):
        problems.append("currAssignee is required when assigneeType is agent.")
        return
    queues = changes.get("queues", doc.get("queues") or [])
    if kind == "queues" and not queues:
        problems.append("queues is required when assigneeType is queues.")
        return
    if kind is None:  # an empty currAssignee: no agent any more
        kind = "agent" if isinstance(assignee, Agent) else ("queues" if queues else "unassigned")
    changes["assigneeType"] = kind
    if isinstance(assignee, Agent):
        changes["currAssignee"] = assignee
    elif kind != "agent":
        changes["currAssignee"] = UNASSIGNED


def apply(record: Record, changes: dict, *, by: Agent | None = None) -> None:
    """Apply checked changes to a stored case or task and bump its ``updatedAt``."""
    doc = record.doc
    if "name" in changes:
        doc["name"], doc["lname"] = changes["name"], changes["name"].lower()
    for key in ("desc", "priority", "queues", "tags", "channel", "assigneeType"):
        if key in changes:
            doc[key] = changes[key]
    if "status" in changes:
        record.set_status(changes["status"])
    if "fields" in changes:
        merged = {field["_id"]: field for field in doc["fields"]}
        for field in changes["fields"]:
            merged[field["_id"]] = {**merged.get(field["_id"], {}), **field}
        doc["fields"] = list(merged.values())
    assignee = changes.get("currAssignee")
    if assignee is UNASSIGNED:
        doc["currAssignee"] = {}
    elif isinstance(assignee, Agent):
        doc["currAssignee"] = assignee.assignee
        if all(item.get("agentId") != assignee.agent_id for item in doc["participants"]):
            doc["participants"].append(participant(assignee, iso(now_ms())))
    if "dueDate" in changes:
        record.set_due(changes["dueDate"])
    if by is not None:
        doc["updatedBy"] = person(by)
    record.touch()


def update_case(
    sim: Simulator, stream_id: str, body: dict, headers: Mapping[str, str], case_id: str
) -> SimResponse:
    """POST updateCase/{caseId}: the trimmed case of the document's sample."""
    require_account(headers)
    record = sim.store.get(stream_id, case_id)
    if record is None:
        raise Refused(sim.readings.not_found_status, f"No case {case_id} in this stream.")
    apply(record, checked_changes(body, catalog(stream_id), record.doc))
    return SimResponse.json(200, sim.store.as_updated(record.doc))
