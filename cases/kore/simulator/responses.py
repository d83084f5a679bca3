"""What an endpoint of the simulator answers: a status, bytes and headers (``SimResponse``), or
a refusal in Kore's error form (``Refused``), raised from deep inside and answered by the core."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from cases.kore.errors import error_payload


@dataclass
class SimResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str | None = None  # "drop": close the connection without answering

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> SimResponse:
        return cls(
            status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})}
        )

    @classmethod
    def errors(cls, status: int, *messages: str, code: int | None = None, headers=None) -> SimResponse:
        return cls.json(status, error_payload(status, *messages, code=code), headers)


class Refused(Exception):
    """A request Kore would refuse: answered as ``{"errors":[{"msg","code"}]}`` with every message."""

    def __init__(self, status: int, *messages: str):
        super().__init__("; ".join(messages))
        self.status = status
        self.messages = messages

    def response(self) -> SimResponse:
        return SimResponse.errors(self.status, *self.messages)


def require_account(headers) -> None:
    """getCases, updateCase, getTasks and updateTask document the ``accountId`` header as required."""
    if not headers.get("accountid"):
        raise Refused(400, "accountId header is required.")
