"""The simulator's cases, kept and answered as Kore's documentation shows them, never kinder.

Where the documentation is silent, the simulator has a ``Readings`` choice (readings.py).

What the documented answers hold, and so what the simulator answers:
- createCase: the whole case without ``desc``, the requester's ``userInfo._id`` as sent (the
  sample does), the template's *name* as ``caseTmp``, ``ETA`` as the due date sent, status
  ``{_id, name, statusCategory}`` and priority ``{_id, name, color, score}``;
- getCases: full cases with Kore's own ``u-…`` user id, the system fields with their
  ``selectedValue``, ``createdAt``/``updatedAt``/``ETA`` as ISO strings and ``dueDate`` as epoch
  milliseconds; never the requester's phone number;
- updateCase: a trimmed case (``as_updated``): priority without colour, ``ETA`` "".

Cases are indexed by stream, in ``createdAt`` order, as records (query.py), so a getCases page
over a stream of 20,000 cases costs one pass over that stream and no date parsing.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from operator import attrgetter

from cases.kore.dates import epoch_ms
from cases.kore.simulator.catalog import ALL_AGENTS, BOT, DEFAULT_PRIORITY, Agent, catalog
from cases.kore.simulator.query import Record, iso, moment_ms, now_ms, page_of
from cases.kore.simulator.readings import Readings

ORG_ID = "o-734f0871-3217-515b-bd5f-36abef3c0000"


def person(agent: Agent) -> dict:
    """``createdBy``/``updatedBy`` as the samples show them."""
    return {"name": agent.name, "_id": agent.agent_id, "profImage": "no-avatar"}


def participant(agent: Agent, at: str) -> dict:
    return {
        "agentId": agent.agent_id,
        "aId": agent.a_id,
        "name": agent.name,
        "pStatus": "ACTIVE",
        "assignedAt": at,
    }


def requester_id(body: dict, user: dict) -> str:
    """Kore's own ``u-…`` id for the requester, whatever id was sent."""
    key = user.get("_id") or user.get("id") or user.get("emailId") or body.get("emailId")
    key = key or user.get("phoneNumber") or body.get("phoneNumber") or ""
    return _kore_user_id(str(key))


@lru_cache(maxsize=4096)
def _kore_user_id(key: str) -> str:
    return f"u-{uuid.uuid5(uuid.NAMESPACE_URL, key)}"


class CaseStore:
    """Cases by stream, in ``createdAt`` order; not thread-safe on its own (the Simulator locks)."""

    def __init__(self, *, templates: dict[tuple[str, str], str]) -> None:
        self.cases: list[dict] = []  # every case, in the order it was stored
        self.templates = templates  # (stream id, template id) -> name, kept by the Simulator
        self._records: dict[str, Record] = {}
        self._streams: dict[str, list[Record]] = {}
        self._sent_user_ids: dict[str, str] = {}
        self._ref_counter = 0

    def template_name(self, stream_id: str, template_id: str) -> str:
        """Kore answers ``caseTmp`` (and ``taskTmp``) with the template's name, not the id sent."""
        return self.templates.get((stream_id, template_id)) or f"Template {template_id[-4:]}"

    def stream_ids(self) -> list[str]:
        return [stream_id for stream_id, records in self._streams.items() if records]

    def records(self, stream_id: str) -> list[Record]:
        """The stream's cases, oldest ``createdAt`` first (the store's own list: do not change it)."""
        return self._streams.get(stream_id, [])

    def find(self, case_id: str) -> Record | None:
        return self._records.get(case_id)

    def get(self, stream_id: str, case_id: str) -> Record | None:
        record = self._records.get(case_id)
        return record if record and record.doc["iId"] == stream_id else None

    def add(
        self,
        stream_id: str,
        body: dict,
        account_id: str,
        *,
        now: datetime | None = None,
        status: str = "Open",
        priority: str = DEFAULT_PRIORITY,
        assignee: Agent | None | str = "in turn",
        queues: Iterable[str] = (),
        channel: Iterable[str] = (),
        created_by: Agent | None = None,
        index: bool = True,
    ) -> dict:
        """Store a case made from a createCase body; returns the stored (getCases) form.

        By default the case goes to the account's agents in turn (the sample's case is created
        assigned); ``assignee=None`` leaves it unassigned, or in ``queues``. ``index=False``
        leaves ordering to ``index_bulk`` (bulk seeding).
        """
        self._ref_counter += 1
        number = self._ref_counter
        created_ms = epoch_ms(now) if now else now_ms()
        created = iso(created_ms)
        stream = catalog(stream_id)
        agent = ALL_AGENTS[number % len(ALL_AGENTS)] if assignee == "in turn" else assignee
        queue_ids = [stream.queue(key)["_id"] for key in queues]
        creator = created_by or agent or BOT
        user = body.get("userInfo") if isinstance(body.get("userInfo"), dict) else {}
        case_id = f"ci-{str(uuid.uuid4())[1:]}"
        due = moment_ms(body.get("dueDate"))
        doc = {
            "_id": case_id,
            "caseTmp": self.template_name(stream_id, str(body.get("caseTmp", ""))),
            "name": body.get("name", ""),
            "lname": str(body.get("name", "")).lower(),
            "desc": body.get("desc", ""),
            "tags": [],
            "userInfo": {"_id": requester_id(body, user), "name": user.get("name", "")},
            "sessIds": [],
            "accountId": account_id,
            "iId": stream_id,
            "orgId": ORG_ID,
            "convIds": [],
            "status": stream.status(status),
            "source": body.get("source", ""),
            "language": "en",
            "conversationType": "CASE",
            "fields": [],  # custom fields; the system fields are drawn from name, desc and ETA
            "participants": [participant(agent, created)] if agent else [],
            "queues": queue_ids,
            "priority": stream.priority(priority),
            "refId": f"CS{number:08d}",
            "assigneeType": "agent" if agent else ("queues" if queue_ids else "unassigned"),
            "isActive": True,
            "taskIds": [],
            "attachments": [],
            "feedback": [],
            "createdBy": person(creator),
            "updatedBy": person(creator),
            "timestampValue": created_ms,
            "activityIds": [],
            "commentIds": [],
            "resolutionCmts": [],
            "isBreached": False,
            "supportCustomTasks": True,
            "channel": list(channel),
            "createdAt": created,
            "updatedAt": created,
            "currAssignee": agent.assignee if agent else {},
            "ETA": iso(due) if due is not None else "",
        }
        if user.get("emailId") or body.get("emailId"):
            doc["userInfo"]["emailId"] = user.get("emailId") or body["emailId"]
        sent_id = user.get("_id") or user.get("id")
        if sent_id:
            self._sent_user_ids[case_id] = str(sent_id)
        record = Record(doc, created_ms, created_ms, due)
        self._records[case_id] = record
        self.cases.append(doc)
        if index:
            bisect.insort(self._streams.setdefault(stream_id, []), record, key=attrgetter("created"))
        return doc

    def index_bulk(self, stream_id: str, docs: list[dict]) -> None:
        """Index cases stored with ``index=False``: one sort, not one insertion each."""
        records = self._streams.setdefault(stream_id, [])
        records.extend(self._records[doc["_id"]] for doc in docs)
        records.sort(key=attrgetter("created"))

    def remove(self, case_id: str) -> None:
        """Forget a case, as when someone deletes it in Kore's own screens."""
        record = self._records.pop(case_id, None)
        if record is not None:
            self._streams[record.doc["iId"]].remove(record)
            self.cases.remove(record.doc)

    def record_of(self, doc: dict) -> Record:
        return self._records[doc["_id"]]

    # --- answers -------------------------------------------------------------------------

    def as_created(self, doc: dict, readings: Readings) -> dict:
        """The createCase answer, keys as the document's sample: no ``desc``, status and priority
        in short, the system fields without values, the requester's id as sent."""
        answer = {key: value for key, value in doc.items() if key != "desc"}
        answer["userInfo"] = dict(doc["userInfo"])
        if doc["_id"] in self._sent_user_ids:
            answer["userInfo"]["_id"] = self._sent_user_ids[doc["_id"]]
        answer["status"] = pick(doc["status"], "_id", "name", "statusCategory")
        answer["priority"] = pick(doc["priority"], "_id", "name", "color", "score")
        answer["fields"] = [
            {**field, "selectedValue": ""} if field["lname"] == "description" else dict(field)
            for field in catalog(doc["iId"]).fields
        ] + doc["fields"]
        answer["tasks"] = []
        answer["queues"] = queues_answer(doc, readings)
        return answer

    def as_listed(self, record: Record, readings: Readings) -> dict:
        """A getCases result: ISO dates, the due date again as epoch milliseconds."""
        doc = record.doc
        values = {"title": doc["name"], "description": doc["desc"], "due date": doc["ETA"]}
        fields = [{**field, "selectedValue": values[field["lname"]]} for field in catalog(doc["iId"]).fields]
        return {
            **doc,
            "fields": fields + doc["fields"],
            "queues": queues_answer(doc, readings),
            "dueDate": record.due,
        }

    @staticmethod
    def as_updated(doc: dict) -> dict:
        """updateCase's answer: the trimmed case of the document's sample, ``ETA`` ""."""
        answer = pick(
            doc,
            "_id",
            "caseTmp",
            "name",
            "lname",
            "userInfo",
            "accountId",
            "status",
            "priority",
            "refId",
            "assigneeType",
            "isActive",
            "createdAt",
            "updatedAt",
        )
        answer["userInfo"] = dict(doc["userInfo"])
        answer["status"] = pick(doc["status"], "_id", "name", "statusCategory")
        answer["priority"] = pick(doc["priority"], "_id", "name", "desc")
        answer["ETA"] = ""
        return answer

    def query(self, stream_id: str, body: dict, readings: Readings) -> dict:
        """getCases: filter, order (newest first unless ``sortBy``), then one page."""
        return page_of(
            self.records(stream_id),
            body,
            readings,
            catalog(stream_id),
            paging=readings.paging,
            render=lambda record: self.as_listed(record, readings),
        )


def pick(source: dict, *keys: str) -> dict:
    return {key: source[key] for key in keys if key in source}


def queues_answer(doc: dict, readings: Readings) -> list:
    if readings.queues == "ids":
        return list(doc["queues"])
    stream = catalog(doc["iId"])
    return [stream.queue(queue_id) or {"_id": queue_id} for queue_id in doc["queues"]]
