"""What a Kore.ai stream is configured with before any case exists: its statuses and priorities
(Kore's defaults), the agents and queues of the account, and the system fields of a case.

Every id is stable: derived from the stream id and the name, so a simulator restarted for the
same stream answers the same ``sts-…``/``pr-…``/``qu-…`` ids, as Kore would. No API lists them
(Kore publishes none): clients learn them from the cases Kore returns.

Shapes follow the getCases sample: a status is ``{_id, name, lname, statusCategory, type,
desc, isEnabled, isActive}`` with no colour (none is shown); a priority is ``{_id, name, lname,
type, desc, color, isEnabled, isActive, score}``. Only Open's category (``open``), Medium's
colour (``#16A34A``) and score (10) and the descriptions of Open and Medium are documented; the
rest are this simulator's choices, in the portal's vocabulary (``in_progress``, ``resolved``,
``closed``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import lru_cache

CLOSED_CATEGORIES = frozenset({"resolved", "closed"})
# (name, statusCategory, desc), in the order a case usually moves through them.
STATUSES = (
    ("Open", "open", "When a new case/task is created"),
    ("In Progress", "in_progress", "When an agent works on the case/task"),
    ("On Hold", "on_hold", "When the case/task waits on someone else"),
    ("Resolved", "resolved", "When the case/task is resolved"),
    ("Closed", "closed", "When the case/task is closed"),
)
# (name, desc, color, score)
PRIORITIES = (
    ("Low", "Low urgency", "#2563EB", 5),
    ("Medium", "Moderate urgency", "#16A34A", 10),
    ("High", "High urgency", "#DC2626", 20),
    ("Critical", "Needs attention now", "#7F1D1D", 30),
)
DEFAULT_PRIORITY = "Medium"  # the createCase and createTask samples answer Medium
AGENTS = ("Asha Rao", "Ben Okafor", "Chen Wei", "Dana Smith", "Elif Kaya", "Felipe Souza")
QUEUES = ("Support", "Billing", "Escalations")
SYSTEM_FIELDS = (  # (lname, displayName, metaData name, type, desc, placeholder)
    ("title", "Title", "title", "input", "Title of the field", "Enter title"),
    (
        "description",
        "Description",
        "description",
        "textarea",
        "Transcription based on the conversation summary",
        "Enter description",
    ),
    ("due date", "Due Date", "dueDate", "datetime", "Date/time to complete a case", "Enter date"),
)


def kore_id(prefix: str, *parts: str) -> str:
    """An id in Kore's spelling (``sts-599163e-b869-…``: a uuid whose first group has 7 digits),
    the same every time for the same parts."""
    return f"{prefix}-{str(uuid.uuid5(uuid.NAMESPACE_URL, ':'.join(parts)))[1:]}"


@dataclass(frozen=True)
class Agent:
    name: str
    agent_id: str  # u-…, Kore's user id
    a_id: str  # a-…, the agent record

    @property
    def assignee(self) -> dict:
        """``currAssignee`` as the createCase sample shows it."""
        return {"aId": self.a_id, "name": self.name, "agentId": self.agent_id}


def _agent(name: str) -> Agent:
    return Agent(name, f"u-{uuid.uuid5(uuid.NAMESPACE_DNS, name)}", kore_id("a", "agent", name))


ALL_AGENTS = tuple(_agent(name) for name in AGENTS)
BOT = _agent("Virtual Assistant")  # who creates the cases a bot or another channel opens


@dataclass(frozen=True)
class StreamCatalog:
    """One stream's statuses, priorities, queues and system fields, by id and by name."""

    stream_id: str
    statuses: tuple[dict, ...]
    priorities: tuple[dict, ...]
    queues: tuple[dict, ...]
    fields: tuple[dict, ...]

    def status(self, key: str) -> dict | None:
        """A status by ``_id`` or name (any case); a fresh copy to store in a case."""
        return _find(self.statuses, key)

    def priority(self, key: str) -> dict | None:
        return _find(self.priorities, key)

    def queue(self, key: str) -> dict | None:
        return _find(self.queues, key)

    @property
    def system_field_ids(self) -> frozenset[str]:
        return frozenset(field["_id"] for field in self.fields)


def _find(items: tuple[dict, ...], key) -> dict | None:
    if not isinstance(key, str):
        return None
    key = key.strip().lower()
    for item in items:
        if key in (item["_id"].lower(), item["name"].lower()):
            return dict(item)
    return None


def agent(key: str) -> Agent | None:
    """An agent of the account by ``agentId`` (u-…), ``aId`` (a-…) or name."""
    for candidate in ALL_AGENTS:
        if key in (candidate.agent_id, candidate.a_id, candidate.name):
            return candidate
    return None


@lru_cache(maxsize=1024)
def catalog(stream_id: str) -> StreamCatalog:
    """Kore's defaults for a stream, with ids stable for that stream."""
    statuses = tuple(
        {
            "_id": kore_id("sts", stream_id, name),
            "name": name,
            "lname": name.lower(),
            "statusCategory": category,
            "type": "system",
            "desc": desc,
            "isEnabled": True,
            "isActive": True,
        }
        for name, category, desc in STATUSES
    )
    priorities = tuple(
        {
            "_id": kore_id("pr", stream_id, name),
            "name": name,
            "lname": name.lower(),
            "type": "system",
            "desc": desc,
            "color": color,
            "isEnabled": True,
            "isActive": True,
            "score": score,
        }
        for name, desc, color, score in PRIORITIES
    )
    queues = tuple({"_id": kore_id("qu", stream_id, name), "name": name} for name in QUEUES)
    fields = tuple(
        {
            "_id": kore_id("fd", stream_id, lname),
            "show": True,
            "displayName": display,
            "lname": lname,
            "desc": desc,
            "isEnabled": True,
            "isActive": True,
            "metaData": {
                "type": kind,
                "displayName": display,
                "name": name,
                "description": desc,
                "placeholder": placeholder,
                "readOnly": False,
                "tooltipText": desc,
            },
            "type": "system",
            "required": True,
            "dataType": kind,
        }
        for lname, display, name, kind, desc, placeholder in SYSTEM_FIELDS
    )
    return StreamCatalog(stream_id, statuses, priorities, queues, fields)
