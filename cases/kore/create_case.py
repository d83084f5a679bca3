"""What Kore's createCase document requires of a body, and nothing more.

One rule for everyone who must accept what Kore accepts: the simulator (Kore's side), the
drop-in proxy and bulk import (the portal's side). Past due dates, phone formats and lengths
are Kore's to judge, so they are not checked here; the case form adds its friendlier checks on
top (cases/forms.py).
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from cases.kore.dates import parse_kore_datetime

REQUIRED_TEXT_KEYS = ("caseTmp", "name", "desc", "source", "dueDate")
# As loose as the document: something, an @, something with a dot. Kore judges the rest.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def user_id_of(body: dict) -> str:
    """The requester's Kore user id, ``userInfo._id`` (the sample) or ``userInfo.id`` (the table)."""
    user = body.get("userInfo")
    if not isinstance(user, dict):
        return ""
    value = user.get("_id") or user.get("id")
    return value if isinstance(value, str) else ""


def add_problem(problems: dict[str, list[str]], key: str, message: str) -> None:
    problems.setdefault(key, []).append(message)


def text_problems(body: dict, keys: tuple[str, ...]) -> dict[str, list[str]]:
    """Each of ``keys`` must be a string with something in it: the problems, by key."""
    problems: dict[str, list[str]] = {}
    for key in keys:
        value = body.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            add_problem(problems, key, f"{key} is required.")
        elif not isinstance(value, str):
            add_problem(problems, key, f"{key} must be a string.")
    return problems


def create_case_problems(body: Any) -> dict[str, list[str]]:
    """Every problem with a createCase body, by body key, in the document's terms."""
    if not isinstance(body, dict):
        return {"body": ["The request body must be a JSON object."]}
    problems = text_problems(body, REQUIRED_TEXT_KEYS)
    add = partial(add_problem, problems)
    due = body.get("dueDate")
    if isinstance(due, str) and due.strip() and parse_kore_datetime(due) is None:
        add("dueDate", "dueDate must be a date, e.g. 2026-09-04T14:15:00.000Z.")

    user = body.get("userInfo")
    if not isinstance(user, dict):
        add("userInfo", "userInfo is required and must be an object.")
        user = {}
    for key in ("_id", "id", "name"):
        if user.get(key) is not None and not isinstance(user.get(key), str):
            add(f"userInfo.{key}", f"userInfo.{key} must be a string.")

    contact = {}
    for key in ("emailId", "phoneNumber"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            add(key, f"{key} must be a string.")
        elif value.strip():
            contact[key] = value.strip()
    if "emailId" in contact and not EMAIL.match(contact["emailId"]):
        add("emailId", "emailId is not a valid email address.")
    has_contact_key_problem = "emailId" in problems or "phoneNumber" in problems
    if not user_id_of(body) and not contact and not has_contact_key_problem:
        add("emailId", "emailId or phoneNumber is required when userInfo has no id.")
    return problems


def problem_messages(problems: dict[str, list[str]]) -> list[str]:
    """The problems as one flat list, in key order."""
    return [message for messages in problems.values() for message in messages]
