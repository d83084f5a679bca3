"""Kore's answer shapes, read in one place: a case (createCase, getCases), its priority score,
and the messages of an error answer. Workflows use these parsed forms, never raw JSON keys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cases.kore.dates import parse_kore_datetime
from cases.kore.errors import MAX_ERROR_BODY, KoreMalformed

RATE_LIMIT_TEXT = "exceeded the per-minute rate limit"


@dataclass
class KoreRecord:
    """What a case and a task answer alike: the whole dict in ``raw`` plus ids, name, status,
    priority and dates."""

    raw: dict
    kore_id: str
    ref_id: str = ""
    name: str = ""
    status_id: str = ""
    status_name: str = ""
    status_category: str = ""
    priority_id: str = ""
    priority_name: str = ""
    priority_color: str = ""
    kore_created_at: datetime | None = None
    kore_updated_at: datetime | None = None
    http_status: int | None = None
    elapsed: float | None = None


@dataclass
class KoreCase(KoreRecord):
    """A case as Kore returned it, with the columns people browse by."""

    # "agent", "queue" or "unassigned" when Kore says; "" when the answer does not say (a
    # missing key is not a change: the sync keeps what it has).
    assignee_kind: str = ""
    assignee_id: str = ""
    assignee_name: str = ""
    desc: str = ""
    requester_id: str = ""
    requester_name: str = ""
    requester_email: str = ""
    source: str = ""
    due_date: datetime | None = None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _object(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def parse_case(data: Any) -> KoreCase:
    """Read a case dict from createCase or getCases; a case without ``_id`` is malformed."""
    common = _common_fields(data, "case")
    user = _object(data.get("userInfo"))
    kind, assignee_id, assignee_name = _assignee(data)
    return KoreCase(
        **common,
        assignee_kind=kind,
        assignee_id=assignee_id,
        assignee_name=assignee_name,
        desc=_text(data.get("desc")) or _field_value(data, "description"),
        requester_id=_text(user.get("_id") or user.get("id")),
        requester_name=_text(user.get("name")),
        requester_email=_text(data.get("emailId") or user.get("emailId")),
        source=_text(data.get("source")),
        due_date=parse_kore_datetime(data.get("ETA") or data.get("dueDate")),
    )


@dataclass
class KoreTask(KoreRecord):
    """A task as Kore returned it (createTask and updateTask answer it whole, getTasks trimmed).
    A getTasks status or priority has no ``_id``."""

    case_id: str = ""
    case_ref_id: str = ""


def parse_task(data: Any) -> KoreTask:
    """Read a task dict from createTask, getTasks or updateTask; one without ``_id`` is malformed."""
    return KoreTask(
        **_common_fields(data, "task"),
        case_id=_text(data.get("caseId")),
        case_ref_id=_text(data.get("caseRefId")),
    )


def _common_fields(data: Any, what: str) -> dict:
    """What a case and a task answer alike: ids, name, status, priority, dates. One without
    ``_id`` is malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("_id"), str) or not data["_id"]:
        raise KoreMalformed(
            f"Kore's answer is not a {what}: it has no _id.", body=json.dumps(data)[:MAX_ERROR_BODY]
        )
    status, priority = _object(data.get("status")), _object(data.get("priority"))
    return {
        "raw": data,
        "kore_id": data["_id"],
        "ref_id": _text(data.get("refId")),
        "name": _text(data.get("name")),
        "status_id": _text(status.get("_id")),
        "status_name": _text(status.get("name")),
        "status_category": _text(status.get("statusCategory")),
        "priority_id": _text(priority.get("_id")),
        "priority_name": _text(priority.get("name")),
        "priority_color": _text(priority.get("color")),
        "kore_created_at": parse_kore_datetime(data.get("createdAt")),
        "kore_updated_at": parse_kore_datetime(data.get("updatedAt")),
    }


def _assignee(data: dict) -> tuple[str, str, str]:
    """(kind, id, name) of whoever works the case: an agent (``currAssignee``), a queue
    (``assigneeType: queues``, the first of ``queues``, ids or ``{_id, name}``), or nobody."""
    kind = _text(data.get("assigneeType")).lower()
    current = _object(data.get("currAssignee"))
    if kind in ("agent", "") and current.get("name"):
        return "agent", _text(current.get("agentId") or current.get("aId")), _text(current.get("name"))
    if kind == "queues":
        queues = data.get("queues") if isinstance(data.get("queues"), list) else []
        first = queues[0] if queues else None
        if isinstance(first, dict):
            return "queue", _text(first.get("_id")), _text(first.get("name") or first.get("_id"))
        if first:
            return "queue", _text(first), f"Queue {first}"
        return "queue", "", ""
    if kind == "unassigned":
        return "unassigned", "", ""
    return "", "", ""


def _field_value(data: dict, name: str) -> str:
    """A system field's ``selectedValue`` (``fields[]``, by lname or metaData name)."""
    for item in data.get("fields") or []:
        if not isinstance(item, dict):
            continue
        names = {_text(item.get("lname")).lower(), _text(_object(item.get("metaData")).get("name")).lower()}
        if name in names and isinstance(item.get("selectedValue"), str):
            return item["selectedValue"]
    return ""


def kore_messages(payload: Any) -> tuple[str, Any]:
    """Kore's own words from ``{"errors":[{"msg":…,"code":…}]}`` (or a bare message)."""
    if isinstance(payload, dict):
        errors = payload.get("errors")
        if isinstance(errors, list) and errors:
            texts = [
                str(e.get("msg") or e.get("message") or e) if isinstance(e, dict) else str(e) for e in errors
            ]
            first = errors[0] if isinstance(errors[0], dict) else {}
            return "; ".join(texts), first.get("code")
        for key in ("message", "msg", "error"):
            if isinstance(payload.get(key), str):
                return payload[key], payload.get("code")
    return "", None


def is_rate_limit_answer(payload: Any) -> bool:
    """Does Kore's ``errors[].msg`` say its rate limit was exceeded? Only that key counts."""
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if not isinstance(errors, list):
        return False
    return any(isinstance(e, dict) and RATE_LIMIT_TEXT in str(e.get("msg") or "") for e in errors)


def priority_score(kore_case: dict) -> int | None:
    """Kore's priority score (what sorting by priority uses), when the case carries one."""
    priority = kore_case.get("priority") if isinstance(kore_case, dict) else None
    score = priority.get("score") if isinstance(priority, dict) else None
    return score if isinstance(score, int) and not isinstance(score, bool) else None


@dataclass(frozen=True)
class ReviewCandidate:
    """A found case as a person deciding on a review sees it."""

    kore_id: str
    ref_id: str
    name: str
    created_at: datetime | None
    template: str
    status: str


def review_candidate(found: dict) -> ReviewCandidate:
    status = _object(found.get("status"))
    return ReviewCandidate(
        kore_id=_text(found.get("_id")),
        ref_id=_text(found.get("refId")),
        name=_text(found.get("name")),
        created_at=parse_kore_datetime(found.get("createdAt")),
        template=_text(found.get("caseTmp")),
        status=_text(status.get("name")),
    )
