"""A stand-in Kore.ai: the case API spoken from Kore's side, for demos, training and tests.

``Simulator.handle`` takes a request (method, path below the simulator's prefix, headers, body)
and returns a ``SimResponse``; the standalone server (``server.py``) and the view mounted in the
dev site (``views.py``) only carry bytes to and from it.

It checks the ``auth`` JWT as Kore does (HS256, ``appId`` of a known app, its secret, ``jti``
and ``exp`` rules), validates bodies as the createCase document says, and answers with cases
shaped as the documentation shows (store.py). It can be told to misbehave: latency, 5xx, Kore's
rate-limit answer, timeouts, dropped connections, malformed bodies. Endpoints live in a route
table: ``createCase`` and ``getCases`` here, ``updateCase`` in updates.py, the task endpoints in
tasks.py; every one counts against the same per-account rate limit. A Kore agent (agent.py)
works the cases from Kore's side; the control plane is in control.py.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from cases.kore.answers import RATE_LIMIT_TEXT
from cases.kore.create_case import create_case_problems, problem_messages
from cases.kore.simulator import control, tasks, updates
from cases.kore.simulator.agent import KoreAgent
from cases.kore.simulator.apps_file import load_apps_file, load_templates_file
from cases.kore.simulator.readings import Readings
from cases.kore.simulator.responses import Refused, SimResponse, require_account
from cases.kore.simulator.store import CaseStore
from cases.kore.simulator.tasks import TaskStore
from cases.kore.tokens import TokenRejected, verify_token

# Token ids remembered against replay are pruned of expired ones past this many.
JTIS_KEPT = 10_000
RECEIVED_KEPT = 1_000  # requests remembered for tests to read (the most recent)
RATE_LIMIT_MESSAGE = "You've exceeded the per-minute rate limit. Please wait for sometime before retrying."
assert RATE_LIMIT_TEXT in RATE_LIMIT_MESSAGE
ROUTE = re.compile(
    r"^/caseManagement/api/public/analytics/(?P<stream>[^/]+)/(?P<endpoint>[A-Za-z]+)(?:/(?P<id>[^/]+))?/?$"
)
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


@dataclass
class Fault:
    kind: str
    endpoint: str = "createCase"
    delay: float = 3.0


class Received(NamedTuple):
    """A request as it reached the simulator (tests read what Kore would have been sent)."""

    endpoint: str
    at: float  # time.time() on arrival
    body: bytes

    def json(self):
        return json.loads(self.body or b"{}")


@dataclass
class App:
    secret: str = field(repr=False)
    stream_ids: list[str] | None = None  # None: any stream


class Simulator:
    """In-memory, thread-safe Kore.ai case API."""

    def __init__(self, *, control: bool = False, seed: int | None = None):
        self.control = control
        self.url = ""  # set by whoever serves it, for convenience in tests
        self._lock = threading.RLock()
        self._apps: dict[str, App] = {}
        self._templates: dict[tuple[str, str], str] = {}
        self._apps_file_mtime: float | None = None
        self.agent = KoreAgent(self, seed=seed)
        self.reset()

    # --- state and configuration ---------------------------------------------------------

    def reset(self) -> None:
        """Forget cases, faults, counters and readings (not the registered apps and templates)."""
        with self._lock:
            self.store = CaseStore(templates=self._templates)
            self.tasks = TaskStore()
            self.readings = Readings()
            self._jtis: dict[str, float] = {}
            self._jtis_pruned_at = JTIS_KEPT
            self._faults: deque[Fault] = deque()
            self._rate_hits: dict[str, deque[float]] = {}
            self.rate_limit: int | None = None
            self.rate_window = 60.0
            self.latency = 0.0
            self.request_count = 0
            self.rate_limited_count = 0
            self.calls: Counter[str] = Counter()  # requests per endpoint, as routed
            # Requests per stream, as routed: which of a portal's streams used the account's calls.
            self.stream_calls: Counter[str] = Counter()
            self.received: deque[Received] = deque(maxlen=RECEIVED_KEPT)  # every request, on arrival
            # (endpoint, id in the path, body) of each request that reached its endpoint's
            # checks: what the portal really sent, for tests to hold against the documents.
            self.checked: deque[Checked] = deque(maxlen=RECEIVED_KEPT)

    @property
    def cases(self) -> list[dict]:
        """Every case in the order it was stored, in its stored (getCases) form."""
        return self.store.cases

    @property
    def created_count(self) -> int:
        return len(self.store.cases)

    def register_app(self, client_id: str, secret: str, stream_ids: list[str] | None = None) -> None:
        with self._lock:
            self._apps[client_id] = App(secret=secret, stream_ids=list(stream_ids) if stream_ids else None)

    def register_template(self, stream_id: str, template_id: str, name: str) -> None:
        """A case template of a stream, by the name Kore answers as ``caseTmp``."""
        with self._lock:
            self._templates[(stream_id, template_id)] = name

    def app_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._apps)

    def template_keys(self) -> list[tuple[str, str]]:
        """(stream id, template id) of every registered template."""
        with self._lock:
            return list(self._templates)

    def stream_ids(self) -> list[str]:
        """Every stream the simulator knows: with cases, or named by an app or a template."""
        with self._lock:
            known = dict.fromkeys(self.store.stream_ids())
            for app in self._apps.values():
                known.update(dict.fromkeys(app.stream_ids or []))
            known.update(dict.fromkeys(stream for stream, _ in self._templates))
            return list(known)

    def account_of(self, stream_id: str) -> str:
        """The account a stream's cases belong to, as the cases sent to it said."""
        with self._lock:
            records = self.store.records(stream_id)
            return records[-1].doc["accountId"] if records else ""

    def start_agent(self, every_seconds: float, *, seed: int | None = None) -> None:
        """Let the Kore agent work every known stream once each ``every_seconds`` (background)."""
        if seed is not None:
            self.agent.reseed(seed)
        self.agent.start(every_seconds)

    def stop_agent(self) -> None:
        self.agent.stop()

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

    def set_readings(self, **choices) -> None:
        """Answer as another reading of what the documentation leaves open (see store.Readings)."""
        with self._lock:
            self.readings = dataclasses.replace(self.readings, **choices)

    def sync_apps_from_file(self, path) -> None:
        """Reload the apps file when it changed (the dev site's simulator learns apps this way)."""
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime == self._apps_file_mtime:
            return
        for app in load_apps_file(path):
            self.register_app(app["client_id"], app["secret"], app.get("stream_ids"))
        for template in load_templates_file(path):
            self.register_template(template["stream_id"], template["template_id"], template["name"])
        self._apps_file_mtime = mtime

    def delete_case_directly(self, case_id: str) -> None:
        """Delete a case as if someone had used Kore's own UI (no API does this)."""
        with self._lock:
            self.store.remove(case_id)

    def create_case_directly(self, *, stream_id: str, body: dict, account_id: str = "", now=None) -> dict:
        """Create a case as if someone had used Kore's own UI: no request, no checks."""
        with self._lock:
            return self.store.add(stream_id, body, account_id, now=now)

    # --- requests ------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> SimResponse:
        headers = {key.lower(): value for key, value in headers.items()}
        path = path.split("?", 1)[0]
        if path.startswith("/_simulator/"):
            if not self.control:
                return SimResponse.errors(404, "Not found.")
            return control.handle(self, method, path, body)
        match = ROUTE.match(path)
        endpoint = ENDPOINTS.get(match["endpoint"]) if match else None
        if endpoint is None or endpoint.takes_id != bool(match["id"]):
            return SimResponse.errors(404, "The requested API does not exist.")
        if method.upper() != "POST":
            return SimResponse.errors(405, "Method not allowed.")
        with self._lock:
            self.request_count += 1
            self.calls[match["endpoint"]] += 1
            self.stream_calls[match["stream"]] += 1
            self.received.append(Received(match["endpoint"], time.time(), body))
        if self.latency:
            time.sleep(self.latency)

        fault = self._take_fault(match["endpoint"])
        if fault and fault.kind in ("500", "502", "503"):
            return SimResponse.errors(int(fault.kind), "Internal error, please try again later.")
        if fault and fault.kind == "429":
            return self._rate_limit_answer(retry_after=1)
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
        with self._lock:
            self.checked.append(Checked(match["endpoint"], match["id"], copy.deepcopy(payload)))

        try:
            with self._lock:
                response = endpoint.handler(self, match["stream"], payload, headers, match["id"])
        except Refused as refused:
            response = refused.response()
        if fault and fault.kind == "timeout_after_create":
            time.sleep(fault.delay)
        elif fault and fault.kind == "drop_after_create":
            return SimResponse(0, action="drop")
        elif fault and fault.kind == "malformed_after_create":
            return SimResponse(200, b'{"_id": "ci-', {"Content-Type": "application/json"})
        return response

    def bodies(self, endpoint: str) -> list[dict]:
        """The bodies of the requests to ``endpoint`` that reached its checks, oldest first."""
        with self._lock:
            return [item.body for item in self.checked if item.endpoint == endpoint]

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
            if len(self._jtis) > self._jtis_pruned_at:
                self._jtis = {key: exp for key, exp in self._jtis.items() if exp > now}
                # Pruned again once it has doubled: while tokens live, not at every call after.
                self._jtis_pruned_at = max(JTIS_KEPT, 2 * len(self._jtis))
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
                return self._rate_limit_answer(retry_after=wait)
            hits.append(now)
        return None

    def _rate_limit_answer(self, *, retry_after: int) -> SimResponse:
        """Kore's rate-limit message; its status code and its Retry-After are not documented
        (Readings)."""
        return SimResponse.errors(
            self.readings.rate_limit_status,
            RATE_LIMIT_MESSAGE,
            code=429,
            headers={"Retry-After": str(retry_after)} if self.readings.rate_limit_retry_after else {},
        )

    # --- endpoints -----------------------------------------------------------------------

    def create_case(self, stream_id: str, body: dict, headers: Mapping[str, str], _id=None) -> SimResponse:
        problems = create_case_problems(body)
        if problems:
            return SimResponse.errors(400, *problem_messages(problems))
        case = self.store.add(stream_id, body, headers.get("accountid", ""))
        return SimResponse.json(200, self.store.as_created(case, self.readings))

    def get_cases(self, stream_id: str, body: dict, headers: Mapping[str, str], _id=None) -> SimResponse:
        require_account(headers)
        return SimResponse.json(200, self.store.query(stream_id, body, self.readings))


class Checked(NamedTuple):
    endpoint: str
    object_id: str | None
    body: dict


class Endpoint(NamedTuple):
    """An endpoint's handler, run under the simulator's lock; ``takes_id``: its path ends in an id."""

    handler: Callable[[Simulator, str, dict, Mapping[str, str], str | None], SimResponse]
    takes_id: bool = False


ENDPOINTS: dict[str, Endpoint] = {
    "createCase": Endpoint(Simulator.create_case),
    "getCases": Endpoint(Simulator.get_cases),
    "updateCase": Endpoint(updates.update_case, takes_id=True),
    "createTask": Endpoint(tasks.create_task),
    "getTasks": Endpoint(tasks.get_tasks),
    "updateTask": Endpoint(tasks.update_task, takes_id=True),
}
