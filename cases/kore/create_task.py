"""What Kore's createTask document requires of a body, and nothing more: one rule for the
simulator (Kore's side) and the gateway (the portal's side), as create_case.py is for createCase.

The table lists ``caseId``, ``caseRefId``, ``taskTmp``, ``name``, ``desc``, ``userInfo`` and
``source`` as required (its sample request leaves ``desc`` out; the table wins).
``userInfo.name`` is required, and the contact sits *inside* ``userInfo`` (``emailId`` or
``phoneNumber`` when there is no ``_id``), unlike createCase.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from cases.kore.create_case import EMAIL, add_problem, text_problems

REQUIRED_TEXT_KEYS = ("caseId", "caseRefId", "taskTmp", "name", "desc", "source")


def create_task_problems(body: Any) -> dict[str, list[str]]:
    """Every problem with a createTask body, by body key, in the document's terms."""
    if not isinstance(body, dict):
        return {"body": ["The request body must be a JSON object."]}
    problems = text_problems(body, REQUIRED_TEXT_KEYS)
    add = partial(add_problem, problems)
    user = body.get("userInfo")
    if not isinstance(user, dict):
        add("userInfo", "userInfo is required and must be an object.")
        return problems
    name = user.get("name")
    if not isinstance(name, str) or not name.strip():
        add("userInfo.name", "userInfo.name is required.")
    for key in ("_id", "emailId", "phoneNumber"):
        if user.get(key) is not None and not isinstance(user[key], str):
            add(f"userInfo.{key}", f"userInfo.{key} must be a string.")
    email = user.get("emailId")
    if isinstance(email, str) and email.strip() and not EMAIL.match(email.strip()):
        add("userInfo.emailId", "userInfo.emailId is not a valid email address.")
    contact = any(isinstance(user.get(key), str) and user[key].strip() for key in ("emailId", "phoneNumber"))
    if not (isinstance(user.get("_id"), str) and user["_id"]) and not contact:
        add(
            "userInfo.emailId",
            "userInfo.emailId or userInfo.phoneNumber is required when userInfo has no _id.",
        )
    return problems
