"""The simulator's cases, kept and answered as Kore's documentation shows them, never kinder.

Where the documentation is silent, the simulator has a ``Readings`` choice, so that tests can
run the portal against each reading: which keys page getCases, how big its pages are, which
date ``startDate``/``endDate`` filter on, how ``searchText`` matches, and what status a
rate-limit answer carries.

What the documented answers hold, and so what the simulator answers:
- createCase: the whole case, the requester's ``userInfo._id`` as sent (the sample does), the
  template's *name* as ``caseTmp``, ``ETA`` as the due date sent;
- getCases: full cases with Kore's own ``u-…`` user id, ``createdAt``/``updatedAt``/``ETA`` as
  ISO strings and ``dueDate`` as epoch milliseconds; never the requester's phone number.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cases.kore.dates import epoch_ms, format_kore_datetime, parse_kore_datetime

PRIORITIES = [
    {"_id": "pr-low", "name": "Low", "color": "#2563EB", "score": 5},
    {"_id": "pr-medium", "name": "Medium", "color": "#16A34A", "score": 10},
    {"_id": "pr-high", "name": "High", "color": "#DC2626", "score": 20},
]
OPEN_STATUS = {
    "_id": "sts-599163e-b869-4532-bbb3-c76a3d080000",
    "name": "Open",
    "lname": "open",
    "statusCategory": "open",
    "type": "open",
}
AGENTS = ["Asha Rao", "Ben Okafor", "Chen Wei", "Dana Smith"]
CLOSED_CATEGORIES = {"resolved", "closed"}
PAGING_KEYS = ("page", "skip")
DATE_FILTERS = ("createdAt", "updatedAt", "dueDate")
SEARCH_MODES = ("substring", "words")


@dataclass
class Readings:
    """The simulator's answers where Kore's documentation does not say."""

    paging: str = "page"  # "page": page and limit; "skip": skip and limit
    page_size: int | None = None  # None: honour ``limit`` (default 50); a number: always that many
    date_filter: str = "createdAt"  # the date startDate/endDate filter on
    search: str = "substring"  # searchText: a part of the name, or every word of it
    rate_limit_status: int = 429  # the status of the rate-limit answer

    def __post_init__(self) -> None:
        if self.paging not in PAGING_KEYS:
            raise ValueError(f"paging is one of {PAGING_KEYS}")
        if self.date_filter not in DATE_FILTERS:
            raise ValueError(f"date_filter is one of {DATE_FILTERS}")
        if self.search not in SEARCH_MODES:
            raise ValueError(f"search is one of {SEARCH_MODES}")


class CaseStore:
    """Cases by stream, oldest first; not thread-safe on its own (the Simulator locks)."""

    def __init__(self, *, templates: dict[tuple[str, str], str]) -> None:
        self.cases: list[dict] = []
        self.templates = templates  # (stream id, template id) -> name, kept by the Simulator
        self._sent_user_ids: dict[str, str] = {}
        self._ref_counter = 0

    def template_name(self, stream_id: str, template_id: str) -> str:
        """Kore answers ``caseTmp`` with the template's name, not the id sent."""
        return self.templates.get((stream_id, template_id)) or f"Template {template_id[-4:]}"

    def add(self, stream_id: str, body: dict, account_id: str, *, now: datetime | None = None) -> dict:
        """Store a case made from a createCase body; returns the stored (getCases) form."""
        self._ref_counter += 1
        number = self._ref_counter
        created = format_kore_datetime(now or datetime.now(UTC))
        agent = AGENTS[number % len(AGENTS)]
        agent_id = f"u-{uuid.uuid5(uuid.NAMESPACE_DNS, agent)}"
        user = body.get("userInfo") if isinstance(body.get("userInfo"), dict) else {}
        requester = str(
            user.get("_id") or user.get("id") or body.get("emailId") or body.get("phoneNumber") or ""
        )
        kore_id = f"ci-{uuid.uuid4()}"
        case = {
            "_id": kore_id,
            "caseTmp": self.template_name(stream_id, str(body.get("caseTmp", ""))),
            "name": body.get("name", ""),
            "lname": str(body.get("name", "")).lower(),
            "desc": body.get("desc", ""),
            "tags": [],
            # Kore's own id for the requester, whatever id was sent.
            "userInfo": {
                "_id": f"u-{uuid.uuid5(uuid.NAMESPACE_URL, requester)}",
                "name": user.get("name", ""),
            },
            "sessIds": [],
            "accountId": account_id,
            "iId": stream_id,
            "orgId": "o-734f0871-3217-515b-bd5f-36abef3c0000",
            "convIds": [],
            "status": dict(OPEN_STATUS),
            "source": body.get("source", ""),
            "language": "en",
            "conversationType": "CASE",
            "fields": [],
            "participants": [
                {
                    "agentId": agent_id,
                    "aId": f"a-{number:08d}",
                    "name": agent,
                    "pStatus": "ACTIVE",
                    "assignedAt": created,
                }
            ],
            "priority": dict(PRIORITIES[number % len(PRIORITIES)]),
            "refId": f"CS{number:08d}",
            "assigneeType": "agent",
            "currAssignee": {"aId": f"a-{number:08d}", "name": agent, "agentId": agent_id},
            "tasks": [],
            "isActive": True,
            "isBreached": False,
            "createdAt": created,
            "updatedAt": created,
            "timestampValue": epoch_ms(parse_kore_datetime(created)),
            "ETA": body.get("dueDate", ""),
        }
        if body.get("emailId"):
            case["userInfo"]["emailId"] = body["emailId"]
        sent_id = user.get("_id") or user.get("id")
        if sent_id:
            self._sent_user_ids[kore_id] = str(sent_id)
        self.cases.append(case)
        return case

    def as_created(self, case: dict) -> dict:
        """The createCase answer: the case, with the requester's id as sent (as the sample shows)."""
        answer = {**case, "userInfo": dict(case["userInfo"])}
        if case["_id"] in self._sent_user_ids:
            answer["userInfo"]["_id"] = self._sent_user_ids[case["_id"]]
        return answer

    @staticmethod
    def as_listed(case: dict) -> dict:
        """A getCases result: ISO dates, and the due date again as epoch milliseconds."""
        due = parse_kore_datetime(case.get("ETA"))
        return {**case, "dueDate": epoch_ms(due) if due else None}

    def query(self, stream_id: str, body: dict, readings: Readings) -> dict:
        """getCases: filter, newest first, then one page as the readings say."""
        found = [case for case in reversed(self.cases) if case["iId"] == stream_id]
        found = [case for case in found if _matches(case, body, readings)]
        limit = readings.page_size or _number(body.get("limit"), 50, low=1, high=100)
        if readings.paging == "skip":
            skip = _number(body.get("skip"), 0, low=0)
            page = skip // limit + 1
        else:
            page = _number(body.get("page"), 1, low=1)
            skip = (page - 1) * limit
        total = len(found)
        return {
            "results": [self.as_listed(case) for case in found[skip : skip + limit]],
            "page": page,
            "limit": limit,
            "hasMore": skip + limit < total,
            "totalPages": max(1, math.ceil(total / limit)),
            "totalResults": total,
        }


def _number(value: Any, default: int, *, low: int, high: int | None = None) -> int:
    try:
        number = int(value) if value is not None and value != "" else default
    except (TypeError, ValueError):
        number = default
    number = max(low, number)
    return min(high, number) if high is not None else number


def _matches(case: dict, body: dict, readings: Readings) -> bool:
    text = str(body.get("searchText") or "").strip().lower()
    if text:
        name = case["name"].lower()
        if readings.search == "words":
            if not all(word in name.split() for word in text.split()):
                return False
        elif text not in name:
            return False
    statuses = {str(s).lower() for s in body.get("status") or []}
    if statuses and not statuses & {case["status"]["name"].lower(), case["status"]["_id"].lower()}:
        return False
    priorities = {str(p).lower() for p in body.get("priority") or []}
    if priorities and not priorities & {case["priority"]["name"].lower(), case["priority"]["_id"].lower()}:
        return False
    if body.get("unresolved") and case["status"]["statusCategory"] in CLOSED_CATEGORIES:
        return False
    if body.get("unassigned") and case.get("assigneeType") != "unassigned":
        return False
    start, end = parse_kore_datetime(body.get("startDate")), parse_kore_datetime(body.get("endDate"))
    if start or end:
        moment = parse_kore_datetime(
            case["ETA"] if readings.date_filter == "dueDate" else case[readings.date_filter]
        )
        if moment is None or (start and moment < start) or (end and moment > end):
            return False
    return True
