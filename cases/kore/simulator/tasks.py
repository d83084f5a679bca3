"""Tasks of cases: createTask, getTasks and updateTask as Kore's documents show them.

- createTask: ``caseId``, ``caseRefId``, ``taskTmp`` (``ttm-…``), ``name``, ``desc``,
  ``userInfo`` and ``source`` are required (the table; its sample request leaves ``desc`` out,
  the table wins); ``userInfo.name`` is required and the contact sits *inside* ``userInfo``
  (``emailId`` or ``phoneNumber`` when there is no ``_id``), unlike createCase. The case must be
  one of the stream's, and ``caseRefId`` its ``refId``. The answer is the whole task as the
  sample: ``_id`` ``ti-…``, ``refId`` ``TS…``, the template's name as ``taskTmp``, ``userInfo``
  with only ``_id`` and ``name``, Open, Medium, unassigned, ``ETA`` "".
- getTasks (``accountId`` required) pages with ``skip``/``limit`` (its sample) and answers
  trimmed tasks ``{_id, caseId, caseRefId, name, priority {name, color}, status {name,
  statusCategory}, createdAt, updatedAt}``. Its filters are getCases'; a ``caseId`` filter is not
  documented, so it is honoured only under ``Readings.tasks_by_case``.
- updateTask/{taskId} (``accountId`` required) takes updateCase's keys; it answers the task
  (the sample elides all but its first keys) with ``ETA`` "".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cases.kore.create_case import problem_messages
from cases.kore.create_task import create_task_problems
from cases.kore.simulator.catalog import BOT, DEFAULT_PRIORITY, catalog
from cases.kore.simulator.query import Record, iso, now_ms, page_of
from cases.kore.simulator.responses import Refused, SimResponse, require_account
from cases.kore.simulator.store import ORG_ID, person, pick, requester_id
from cases.kore.simulator.updates import apply, checked_changes

if TYPE_CHECKING:
    from cases.kore.simulator.core import Simulator


class TaskStore:
    """Tasks by stream, oldest first; not thread-safe on its own (the Simulator locks)."""

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        self._streams: dict[str, list[Record]] = {}
        self._ref_counter = 0

    def __len__(self) -> int:
        return len(self._records)

    def records(self, stream_id: str) -> list[Record]:
        return self._streams.get(stream_id, [])

    def get(self, stream_id: str, task_id: str) -> Record | None:
        record = self._records.get(task_id)
        return record if record and record.doc["iId"] == stream_id else None

    def add(self, stream_id: str, body: dict, account_id: str, *, template_name: str) -> dict:
        self._ref_counter += 1
        created_ms = now_ms()
        created = iso(created_ms)
        stream = catalog(stream_id)
        user = body["userInfo"]
        task_id = f"ti-{str(uuid.uuid4())[1:]}"
        doc = {
            "caseId": body["caseId"],
            "caseRefId": body["caseRefId"],
            "taskTmp": template_name,
            "name": body["name"],
            "lname": body["name"].lower(),
            "desc": body["desc"],  # kept, though no documented answer shows it
            "tags": [],
            "userInfo": {"_id": user.get("_id") or requester_id(body, user), "name": user["name"]},
            "sessIds": [],
            "accountId": account_id,
            "iId": stream_id,
            "orgId": ORG_ID,
            "convIds": [],
            "status": stream.status("Open"),
            "source": body["source"],
            "conversationType": "TASK",
            "fields": [],
            "participants": [],
            "priority": stream.priority(DEFAULT_PRIORITY),
            "refId": f"TS{self._ref_counter:08d}",
            "assigneeType": "unassigned",
            "isCustTsk": False,
            "isActive": True,
            "attachments": [],
            "feedback": [],
            "createdBy": person(BOT),
            "updatedBy": person(BOT),
            "timestampValue": created_ms,
            "activityIds": [],
            "commentIds": [],
            "resolutionCmts": [],
            "isBreached": False,
            "queues": [],
            "channel": [],
            "createdAt": created,
            "updatedAt": created,
            "_id": task_id,
            "currAssignee": {},
            "ETA": "",
        }
        record = Record(doc, created_ms, created_ms, None)
        self._records[task_id] = record
        self._streams.setdefault(stream_id, []).append(record)
        return doc

    @staticmethod
    def as_created(doc: dict) -> dict:
        """createTask's (and updateTask's) answer: the task as the sample shows it."""
        answer = {key: value for key, value in doc.items() if key != "desc"}
        answer["status"] = pick(doc["status"], "_id", "name", "statusCategory")
        answer["priority"] = pick(doc["priority"], "_id", "name", "color", "score")
        answer["fields"] = [dict(field) for field in catalog(doc["iId"]).fields] + doc["fields"]
        answer["ETA"] = ""
        return answer

    @staticmethod
    def as_listed(record: Record) -> dict:
        """A getTasks result: the trimmed task of the sample."""
        doc = record.doc
        answer = pick(doc, "_id", "caseId", "caseRefId", "name")
        answer["priority"] = pick(doc["priority"], "name", "color")
        answer["status"] = pick(doc["status"], "name", "statusCategory")
        answer["createdAt"], answer["updatedAt"] = doc["createdAt"], doc["updatedAt"]
        return answer


def create_task(
    sim: Simulator, stream_id: str, body: dict, headers: Mapping[str, str], _id: str
) -> SimResponse:
    """POST createTask (``accountId`` optional, as for createCase)."""
    problems = problem_messages(create_task_problems(body))
    case = sim.store.get(stream_id, body["caseId"]) if isinstance(body.get("caseId"), str) else None
    if isinstance(body.get("caseId"), str) and body["caseId"] and case is None:
        problems.append(f"caseId {body['caseId']} is not a case of this stream.")
    elif case and isinstance(body.get("caseRefId"), str) and body["caseRefId"] != case.doc["refId"]:
        problems.append(f"caseRefId {body['caseRefId']} is not the refId of case {body['caseId']}.")
    if problems:
        raise Refused(400, *problems)
    template = sim.store.template_name(stream_id, body["taskTmp"])
    doc = sim.tasks.add(stream_id, body, headers.get("accountid", ""), template_name=template)
    case.doc["taskIds"].append(doc["_id"])
    if sim.readings.task_touches_case:
        case.touch()
    return SimResponse.json(200, sim.tasks.as_created(doc))


def get_tasks(
    sim: Simulator, stream_id: str, body: dict, headers: Mapping[str, str], _id: str
) -> SimResponse:
    """POST getTasks: one page of trimmed tasks, paged by ``skip`` and ``limit``."""
    require_account(headers)
    extra = []
    if sim.readings.tasks_by_case and body.get("caseId"):
        extra.append(lambda record: record.doc["caseId"] == body["caseId"])
    page = page_of(
        sim.tasks.records(stream_id),
        body,
        sim.readings,
        catalog(stream_id),
        paging="skip",
        render=sim.tasks.as_listed,
        extra=extra,
    )
    return SimResponse.json(200, page)


def update_task(
    sim: Simulator, stream_id: str, body: dict, headers: Mapping[str, str], task_id: str
) -> SimResponse:
    """POST updateTask/{taskId}: updateCase's keys, applied to the task."""
    require_account(headers)
    record = sim.tasks.get(stream_id, task_id)
    if record is None:
        raise Refused(sim.readings.not_found_status, f"No task {task_id} in this stream.")
    apply(record, checked_changes(body, catalog(stream_id), record.doc))
    return SimResponse.json(200, sim.tasks.as_created(record.doc))
