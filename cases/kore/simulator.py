"""A stand-in Kore.ai: the case API spoken from Kore's side, for demos, training and tests.

``Simulator.handle`` takes a request (method, path below the simulator's prefix, headers, body)
and returns a ``SimResponse``; the standalone server (``simulator_server.py``) and the view
mounted in the dev site (``simulator_views.py``) only carry bytes to and from it.

It checks the ``auth`` JWT as Kore does (HS256, ``appId`` of a known app, its secret, ``jti``
and ``exp`` rules), validates bodies as the createCase document says, and answers with cases
shaped like the document's response sample. It can be told to misbehave: latency, 5xx, 429
with Kore's rate-limit message, timeouts, dropped connections, malformed bodies. Endpoints live
in a route table, so the other case endpoints can join ``createCase`` and ``getCases``.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cases.kore.client import RATE_LIMIT_TEXT, format_kore_datetime, parse_kore_datetime
from cases.kore.tokens import TokenRejected, verify_token

RATE_LIMIT_MESSAGE = "You've exceeded the per-minute rate limit. Please wait for sometime before retrying."
assert RATE_LIMIT_TEXT in RATE_LIMIT_MESSAGE
ROUTE = re.compile(
    r"^/caseManagement/api/public/analytics/(?P<stream>[^/]+)/(?P<endpoint>[A-Za-z]+)(?:/(?P<id>[^/]+))?/?$"
)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FAULTS = {
    "500",
    "502",
    "503",
    "400",
    "429",
    "timeout",
    "timeout_after_create",
    "drop",
    "drop_after_create",
    "malformed",
    "malformed_after_create",
}
PRIORITIES = [
    {"name": "Low", "color": "#2563EB", "score": 5},
    {"name": "Medium", "color": "#16A34A", "score": 10},
    {"name": "High", "color": "#DC2626", "score": 20},
]
AGENTS = ["Asha Rao", "Ben Okafor", "Chen Wei", "Dana Smith"]


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
        return cls.json(status, {"errors": [{"msg": m, "code": code or status} for m in messages]}, headers)


@dataclass
class Fault:
    kind: str
    endpoint: str = "createCase"
    delay: float = 3.0


@dataclass
class App:
    secret: str = field(repr=False)
    stream_ids: list[str] | None = None  # None: any stream


class Simulator:
    """In-memory, thread-safe Kore.ai case API."""

    def __init__(self, *, control: bool = False):
        self.control = control
        self.url = ""  # set by whoever serves it, for convenience in tests
        self._lock = threading.RLock()
        self._apps: dict[str, App] = {}
        self._apps_file_mtime: float | None = None
        self.reset()

    # --- state and configuration ---------------------------------------------------------

    def reset(self) -> None:
        """Forget cases, faults, counters and settings (not the registered apps)."""
        with self._lock:
            self.cases: list[dict] = []
            self._jtis: dict[str, float] = {}
            self._faults: deque[Fault] = deque()
            self._ref_counter = 0
            self._rate_hits: dict[str, deque[float]] = {}
            self.rate_limit: int | None = None
            self.rate_window = 60.0
            self.latency = 0.0
            self.request_count = 0
            self.rate_limited_count = 0

    @property
    def created_count(self) -> int:
        return len(self.cases)

    def register_app(self, client_id: str, secret: str, stream_ids: list[str] | None = None) -> None:
        with self._lock:
            self._apps[client_id] = App(secret=secret, stream_ids=list(stream_ids) if stream_ids else None)

    def app_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._apps)

    def inject(self, fault: str, times: int = 1, *, endpoint: str = "createCase", delay: float = 3.0) -> None:
        """Queue ``times`` faults, consumed in order by the next matching requests."""
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {sorted(FAULTS)}")
        with self._lock:
            self._faults.extend(Fault(fault, endpoint, delay) for _ in range(times))

    def set_latency(self, seconds: float) -> None:
        self.latency = max(0.0, float(seconds))

    def set_rate_limit(self, limit: int | None, window_seconds: float = 60.0) -> None:
        with self._lock:
            self.rate_limit = limit or None
            self.rate_window = float(window_seconds)
            self._rate_hits.clear()

    def sync_apps_from_file(self, path: Path) -> None:
        """Reload the apps file when it changed (the dev site's simulator learns apps this way)."""
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime == self._apps_file_mtime:
            return
        for app in load_apps_file(path):
            self.register_app(app["client_id"], app["secret"], app.get("stream_ids"))
        self._apps_file_mtime = mtime

    def create_case_directly(self, *, stream_id: str, body: dict, account_id: str = "") -> dict:
        """Create a case as if someone had used Kore's own UI: no request, no checks."""
        with self._lock:
            return self._new_case(stream_id, body, account_id)

    # --- requests ------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> SimResponse:
        headers = {key.lower(): value for key, value in headers.items()}
        path = path.split("?", 1)[0]
        if path.startswith("/_simulator/"):
            if not self.control:
                return SimResponse.errors(404, "Not found.")
            return self._control(method, path, body)
        match = ROUTE.match(path)
        if not match or match["endpoint"] not in ENDPOINTS:
            return SimResponse.errors(404, "The requested API does not exist.")
        if method.upper() != "POST":
            return SimResponse.errors(405, "Method not allowed.")
        with self._lock:
            self.request_count += 1
        if self.latency:
            time.sleep(self.latency)

        fault = self._take_fault(match["endpoint"])
        if fault and fault.kind in ("500", "502", "503"):
            return SimResponse.errors(int(fault.kind), "Internal error, please try again later.")
        if fault and fault.kind == "429":
            return SimResponse.errors(429, RATE_LIMIT_MESSAGE, headers={"Retry-After": "1"})
        if fault and fault.kind == "timeout":
            # Held up long enough for the client to give up, then dropped without creating.
            time.sleep(fault.delay)
            return SimResponse.errors(504, "Gateway timeout.")
        if fault and fault.kind == "drop":
            return SimResponse(0, action="drop")
        if fault and fault.kind == "malformed":
            return SimResponse(200, b"<html>upstream proxy error", {"Content-Type": "text/html"})

        try:
            app_id = self._authenticate(headers.get("auth"), match["stream"])
        except TokenRejected as exc:
            return SimResponse.errors(401, exc.message, code=exc.code)
        limited = self._over_rate_limit(headers.get("accountid") or app_id)
        if limited:
            return limited
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return SimResponse.errors(400, "The request body is not valid JSON.")
        if not isinstance(payload, dict):
            return SimResponse.errors(400, "The request body must be a JSON object.")
        if fault and fault.kind == "400":
            return SimResponse.errors(400, "caseTmp is invalid: no such case template.")

        handler = ENDPOINTS[match["endpoint"]]
        response = handler(self, match["stream"], payload, headers)
        if fault and fault.kind == "timeout_after_create":
            time.sleep(fault.delay)
        elif fault and fault.kind == "drop_after_create":
            return SimResponse(0, action="drop")
        elif fault and fault.kind == "malformed_after_create":
            return SimResponse(200, b'{"_id": "ci-', {"Content-Type": "application/json"})
        return response

    def _take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.endpoint == endpoint:
                    self._faults.remove(fault)
                    return fault
        return None

    def _authenticate(self, token: str | None, stream_id: str) -> str:
        def secret_for(app_id: str) -> str | None:
            app = self._apps.get(app_id)
            return app.secret if app else None

        verified = verify_token(token, secret_for=secret_for, remember_jti=self._remember_jti)
        app = self._apps[verified.app_id]
        if app.stream_ids is not None and stream_id not in app.stream_ids:
            raise TokenRejected("The app is not authorised for this bot.", code=401)
        return verified.app_id

    def _remember_jti(self, app_id: str, jti: str, expires_at: float) -> bool:
        now = time.time()
        with self._lock:
            if len(self._jtis) > 10_000:
                self._jtis = {key: exp for key, exp in self._jtis.items() if exp > now}
            key = f"{app_id}:{jti}"
            if key in self._jtis:
                return False
            self._jtis[key] = expires_at
            return True

    def _over_rate_limit(self, account: str) -> SimResponse | None:
        if not self.rate_limit:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._rate_hits.setdefault(account, deque())
            while hits and hits[0] <= now - self.rate_window:
                hits.popleft()
            if len(hits) >= self.rate_limit:
                self.rate_limited_count += 1
                wait = max(1, math.ceil(hits[0] + self.rate_window - now))
                return SimResponse.errors(429, RATE_LIMIT_MESSAGE, headers={"Retry-After": str(wait)})
            hits.append(now)
        return None

    # --- endpoints -----------------------------------------------------------------------

    def create_case(self, stream_id: str, body: dict, headers: Mapping[str, str]) -> SimResponse:
        problems = validate_create_case(body)
        if problems:
            return SimResponse.errors(400, *problems)
        with self._lock:
            case = self._new_case(stream_id, body, headers.get("accountid", ""))
        return SimResponse.json(200, case)

    def get_cases(self, stream_id: str, body: dict, headers: Mapping[str, str]) -> SimResponse:
        if not headers.get("accountid"):
            return SimResponse.errors(400, "accountId header is required.")
        text = str(body.get("searchText") or "").lower()
        statuses = {s.lower() for s in body.get("status") or []}
        priorities = {p.lower() for p in body.get("priority") or []}
        start, end = parse_kore_datetime(body.get("startDate")), parse_kore_datetime(body.get("endDate"))
        try:
            page = max(1, int(body.get("page") or 1))
            limit = min(100, max(1, int(body.get("limit") or 10)))
        except (TypeError, ValueError):
            return SimResponse.errors(400, "page and limit must be numbers.")
        with self._lock:
            found = [c for c in reversed(self.cases) if c["iId"] == stream_id]
        if text:
            found = [c for c in found if text in f"{c['name']} {c['desc']} {c['refId']}".lower()]
        if statuses:
            found = [c for c in found if c["status"]["name"].lower() in statuses]
        if priorities:
            found = [c for c in found if c["priority"]["name"].lower() in priorities]
        if start:
            found = [c for c in found if parse_kore_datetime(c["createdAt"]) >= start]
        if end:
            found = [c for c in found if parse_kore_datetime(c["createdAt"]) <= end]
        total = len(found)
        chunk = found[(page - 1) * limit : page * limit]
        results = [
            {**c, "createdAt": _epoch_ms(c["createdAt"]), "updatedAt": _epoch_ms(c["updatedAt"])}
            for c in chunk
        ]
        return SimResponse.json(
            200,
            {
                "results": results,
                "page": page,
                "limit": limit,
                "hasMore": page * limit < total,
                "totalPages": max(1, math.ceil(total / limit)),
                "totalResults": total,
            },
        )

    def _new_case(self, stream_id: str, body: dict, account_id: str) -> dict:
        self._ref_counter += 1
        number = self._ref_counter
        now = format_kore_datetime(datetime.now(UTC))
        agent = AGENTS[number % len(AGENTS)]
        agent_id = f"u-{uuid.uuid5(uuid.NAMESPACE_DNS, agent)}"
        user = body.get("userInfo") if isinstance(body.get("userInfo"), dict) else {}
        case = {
            "_id": f"ci-{uuid.uuid4()}",
            "caseTmp": body.get("caseTmp", ""),
            "name": body.get("name", ""),
            "lname": str(body.get("name", "")).lower(),
            "desc": body.get("desc", ""),
            "tags": [],
            "userInfo": {
                "_id": user.get("_id") or user.get("id") or f"u-{uuid.uuid4()}",
                "name": user.get("name", ""),
                "emailId": body.get("emailId", ""),
            },
            "emailId": body.get("emailId", ""),
            "phoneNumber": body.get("phoneNumber", ""),
            "sessIds": [],
            "accountId": account_id,
            "iId": stream_id,
            "orgId": "o-734f0871-3217-515b-bd5f-36abef3c0000",
            "convIds": [],
            "status": {
                "_id": "sts-599163e-b869-4532-bbb3-c76a3d080000",
                "name": "Open",
                "statusCategory": "open",
            },
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
                    "assignedAt": now,
                }
            ],
            "priority": {"_id": f"pr-{number % 3}", **PRIORITIES[number % len(PRIORITIES)]},
            "refId": f"CS{number:08d}",
            "assigneeType": "agent",
            "currAssignee": {"aId": f"a-{number:08d}", "name": agent, "agentId": agent_id},
            "tasks": [],
            "isActive": True,
            "isBreached": False,
            "createdAt": now,
            "updatedAt": now,
            "timestampValue": int(time.time() * 1000),
            "ETA": body.get("dueDate", ""),
        }
        self.cases.append(case)
        return case

    # --- control plane (standalone server only) ------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> SimResponse:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return SimResponse.errors(400, "Body must be JSON.")
        action = path.removeprefix("/_simulator/").strip("/")
        try:
            if action == "stats" and method == "GET":
                with self._lock:
                    cases = [
                        {"_id": c["_id"], "refId": c["refId"], "name": c["name"], "stream_id": c["iId"]}
                        for c in self.cases
                    ]
                return SimResponse.json(
                    200,
                    {
                        "created_count": self.created_count,
                        "request_count": self.request_count,
                        "rate_limited_count": self.rate_limited_count,
                        "cases": cases,
                    },
                )
            if method != "POST":
                return SimResponse.errors(405, "Method not allowed.")
            if action == "apps":
                self.register_app(data["client_id"], data["secret"], data.get("stream_ids"))
            elif action == "faults":
                self.inject(
                    data["fault"],
                    int(data.get("times", 1)),
                    endpoint=data.get("endpoint", "createCase"),
                    delay=float(data.get("delay", 3.0)),
                )
            elif action == "latency":
                self.set_latency(float(data["seconds"]))
            elif action == "rate_limit":
                self.set_rate_limit(data.get("limit"), float(data.get("window", 60)))
            elif action == "reset":
                self.reset()
            else:
                return SimResponse.errors(404, f"No control action {action!r}.")
        except (KeyError, TypeError, ValueError) as exc:
            return SimResponse.errors(400, f"Bad control request: {exc}")
        return SimResponse.json(200, {"ok": True})


ENDPOINTS: dict[str, Callable[[Simulator, str, dict, Mapping[str, str]], SimResponse]] = {
    "createCase": Simulator.create_case,
    "getCases": Simulator.get_cases,
}


def validate_create_case(body: dict) -> list[str]:
    """Every problem with a createCase body, in Kore's words where the document gives them."""
    problems = []
    for key in ("caseTmp", "name", "desc", "source", "dueDate"):
        value = body.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{key} is required.")
    if (
        body.get("dueDate")
        and isinstance(body.get("dueDate"), str)
        and parse_kore_datetime(body["dueDate"]) is None
    ):
        problems.append("dueDate must be an ISO-8601 date, e.g. 2026-09-04T14:15:00.000Z.")
    user = body.get("userInfo")
    if not isinstance(user, dict):
        problems.append("userInfo is required and must be an object.")
        user = {}
    email, phone = body.get("emailId"), body.get("phoneNumber")
    if not (user.get("_id") or user.get("id")) and not (email or phone):
        problems.append("emailId or phoneNumber is required when userInfo has no id.")
    if email and (not isinstance(email, str) or not EMAIL.match(email)):
        problems.append("emailId is not a valid email address.")
    return problems


def _epoch_ms(value: str) -> int:
    parsed = parse_kore_datetime(value)
    return int(parsed.timestamp() * 1000) if parsed else 0


# --- The apps file: how a simulator in another process learns JWT apps -------------------


def load_apps_file(path: Path) -> list[dict]:
    try:
        return json.loads(Path(path).read_text()).get("apps", [])
    except FileNotFoundError:
        return []


def register_app_in_file(
    path: Path, *, client_id: str, secret: str, stream_ids: list[str] | None = None
) -> None:
    """Add or update an app in the apps file (it belongs to the simulator, i.e. to "Kore")."""
    path = Path(path)
    apps = [app for app in load_apps_file(path) if app.get("client_id") != client_id]
    apps.append({"client_id": client_id, "secret": secret, "stream_ids": stream_ids})
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"apps": apps}, indent=2))
    temporary.chmod(0o600)
    temporary.replace(path)
