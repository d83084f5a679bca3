"""A Kore agent: the people (and bots) working the simulator's cases from Kore's side.

It moves cases Open -> In Progress -> Resolved -> Closed (sometimes On Hold), reassigns them
(to another agent, a queue, or no one), changes priorities and due dates, edits a title now and
then, and now and then opens a case of its own, as if made in Kore's screens by a bot or another
channel. Every change goes through ``updates.apply``, so it bumps ``updatedAt`` and leaves the
traces an updateCase call would.

Three ways to drive it:
- one thing on demand, for tests: ``resolve``, ``close``, ``set_status``, ``reassign``,
  ``set_priority``, ``set_due_date``, ``rename``, ``create_case``, or one random ``step``;
- in the background at a pace (``start(every_seconds)``/``stop()``, a daemon thread): each tick
  is one step in every stream the simulator knows;
- in bulk, for benchmarks: ``seed_cases`` (N cases spread over past days, a share unresolved)
  and ``churn`` (N changes and M resolutions among the unresolved cases).

The same actions are on the control plane, ``POST /_simulator/agent {"action": …}``. Choices come
from one ``random.Random``: a seed makes a run repeatable (ids and clocks aside).
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cases.kore.dates import epoch_ms
from cases.kore.simulator.catalog import ALL_AGENTS, BOT, Agent, agent, catalog, kore_id
from cases.kore.simulator.query import DAY_MS, Record, iso, moment_ms, now_ms
from cases.kore.simulator.updates import UNASSIGNED, apply

if TYPE_CHECKING:
    from cases.kore.simulator.core import Simulator

logger = logging.getLogger(__name__)
HOUR_MS = 3_600_000
SUBJECTS = (
    "Printer on floor {n} is jammed",
    "Cannot sign in to the VPN",
    "Refund for order #{n}",
    "Invoice {n} shows the wrong address",
    "Card declined at checkout",
    "Parcel {n} not delivered",
    "Password reset email never arrives",
    "Upgrade to the business plan",
    "App crashes when uploading a photo",
    "Wrong item received in order #{n}",
)
TITLE_EDITS = ("{name} (customer called again)", "Re: {name}", "{name} - follow-up", "[Escalated] {name}")
CUSTOMERS = ("Ada Lovelace", "Ali Hassan", "Amara Okoro", "Carla Ruiz", "Dev Patel", "Emma Novak", "Ken Sato")
# (source, channel): the channels a case reaches Kore by, besides the portal.
ORIGINS = (("rtm", ["chat"]), ("voice", ["voice"]), ("emailInst", ["email"]), ("rtm", ["chat", "email"]))
PRIORITY_NAMES, PRIORITY_ODDS = ("Low", "Medium", "High", "Critical"), (30, 45, 20, 5)
STEP_WEIGHTS = (
    ("progress", 40),
    ("reassign", 18),
    ("priority", 12),
    ("due", 9),
    ("close", 8),
    ("create", 8),
    ("rename", 5),
)


@lru_cache(maxsize=256)
def _mailbox(stream_id: str) -> str:
    """The ``source`` of cases opened by email: the stream's email instance (getCases' sample)."""
    return kore_id("emailInst", stream_id, "support mailbox")


class UnknownCase(LookupError):
    """The agent was told to work a case the simulator does not have."""


class KoreAgent:
    """Kore's side at work on the cases of a ``Simulator`` (see the module docstring)."""

    def __init__(self, simulator: Simulator, *, seed: int | None = None) -> None:
        self.sim = simulator
        self.rng = random.Random(seed)
        self.changes_made = 0
        self.every_seconds: float | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def reseed(self, seed: int | None) -> None:
        self.rng = random.Random(seed)

    # --- one thing on demand -------------------------------------------------------------

    def set_status(self, case_id: str, status: str) -> dict:
        """Move a case to a status of its stream, by name or ``sts-…`` id."""
        return self._change(case_id, lambda record: {"status": self._catalog_item(record, "status", status)})

    def resolve(self, case_id: str) -> dict:
        return self.set_status(case_id, "Resolved")

    def close(self, case_id: str) -> dict:
        return self.set_status(case_id, "Closed")

    def set_priority(self, case_id: str, priority: str) -> dict:
        """A priority of the case's stream, by name or ``pr-…`` id."""
        return self._change(
            case_id, lambda record: {"priority": self._catalog_item(record, "priority", priority)}
        )

    def reassign(self, case_id: str, to: str | None = None, *, queue: str | None = None) -> dict:
        """Assign to an agent (name, ``u-…`` or ``a-…`` id; another one at random when neither
        ``to`` nor ``queue`` is given), to a queue (name or ``qu-…`` id, no agent), or to no one
        (``to="unassigned"``)."""

        def changes(record: Record) -> dict:
            if queue is not None:
                found = catalog(record.doc["iId"]).queue(queue)
                if found is None:
                    raise ValueError(f"no queue {queue!r} in this stream")
                return {"queues": [found["_id"]], "assigneeType": "queues", "currAssignee": UNASSIGNED}
            if to == "unassigned":
                return {"assigneeType": "unassigned", "currAssignee": UNASSIGNED}
            chosen = agent(to) if to else self._another_agent(record)
            if chosen is None:
                raise ValueError(f"no agent {to!r}")
            return {"assigneeType": "agent", "currAssignee": chosen}

        return self._change(case_id, changes)

    def set_due_date(self, case_id: str, due: datetime | int | str) -> dict:
        """A new due date: a datetime, epoch milliseconds or an ISO string."""
        due_ms = epoch_ms(due) if isinstance(due, datetime) else moment_ms(due)
        if due_ms is None:
            raise ValueError(f"not a date: {due!r}")
        return self._change(case_id, lambda record: {"dueDate": due_ms})

    def rename(self, case_id: str, name: str | None = None) -> dict:
        """A new title; without one, an edit of the current title as agents make them."""

        def changes(record: Record) -> dict:
            return {"name": name or self._edited_title(record.doc["name"])}

        return self._change(case_id, changes)

    def create_case(
        self,
        stream_id: str,
        *,
        name: str | None = None,
        now: datetime | None = None,
        status: str = "Open",
        priority: str | None = None,
        assigned: bool = True,
    ) -> dict:
        """A case opened at Kore (a bot, an email, a call), not through createCase."""
        with self.sim._lock:
            doc = self._new_case(
                stream_id, name=name, now=now, status=status, priority=priority, assigned=assigned
            )
            self.changes_made += 1
            return self.sim.store.as_listed(self.sim.store.record_of(doc), self.sim.readings)

    def step(self, stream_id: str | None = None) -> str:
        """One thing an agent would do next in a stream (a random one without ``stream_id``);
        returns what it did and to which case, e.g. ``"reassign ci-…"``."""
        with self.sim._lock:
            streams = [stream_id] if stream_id else self.sim.stream_ids()
            if not streams:
                return "idle"
            stream_id = self.rng.choice(streams)
            records = self.sim.store.records(stream_id)
            unresolved = [record for record in records if record.unresolved]
            kinds, weights = zip(*STEP_WEIGHTS, strict=True)
            kind = self.rng.choices(kinds, weights)[0] if records else "create"
            if kind == "close":
                resolved = [r for r in records if r.doc["status"]["statusCategory"] == "resolved"]
                if resolved:
                    record = self.rng.choice(resolved)
                    self._apply(record, {"status": catalog(stream_id).status("Closed")})
                    return f"close {record.doc['_id']}"
                kind = "progress"
            if kind == "create" or not unresolved:
                doc = self._new_case(stream_id)
                self.changes_made += 1
                return f"create {doc['_id']}"
            record = self.rng.choice(unresolved)
            changes = self._random_change(record, kind)
            self._apply(record, changes)
            return f"{kind} {record.doc['_id']}"

    # --- in the background ---------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, every_seconds: float) -> None:
        """Work every known stream once each ``every_seconds``, in a daemon thread."""
        if every_seconds <= 0:
            raise ValueError("every_seconds must be positive")
        self.stop()
        self.every_seconds = float(every_seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self.every_seconds, self._stop), name="kore-agent", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None
        self.every_seconds = None

    def _run(self, every_seconds: float, stop: threading.Event) -> None:
        while not stop.wait(every_seconds):
            for stream_id in self.sim.stream_ids():
                if stop.is_set():
                    return
                try:
                    self.step(stream_id)
                except Exception:  # noqa: BLE001 - one bad step must not end the agent's day
                    logger.exception("The Kore agent's step in %s failed", stream_id)

    # --- in bulk, for benchmarks ---------------------------------------------------------

    def seed_cases(
        self, stream_id: str, count: int, *, unresolved: int | None = None, days: float = 30.0
    ) -> int:
        """Create ``count`` cases at once, created over the past ``days`` (oldest first), of
        which ``unresolved`` (default a tenth) still open; the rest resolved or closed."""
        count = max(0, int(count))
        unresolved = count // 10 if unresolved is None else min(count, max(0, int(unresolved)))
        now = now_ms()
        span = int(days * DAY_MS)
        open_statuses = ("Open", "In Progress", "On Hold")
        done_statuses = ("Resolved", "Closed")
        with self.sim._lock:
            moments = sorted(now - self.rng.randrange(max(1, span)) for _ in range(count))
            still_open = set(self.rng.sample(range(count), unresolved))
            docs = []
            for index, created in enumerate(moments):
                is_open = index in still_open
                status = (
                    self.rng.choices(open_statuses, (5, 4, 1))[0]
                    if is_open
                    else self.rng.choice(done_statuses)
                )
                docs.append(
                    self._new_case(
                        stream_id,
                        now=datetime.fromtimestamp(created / 1000, tz=UTC),
                        status=status,
                        priority=self.rng.choices(PRIORITY_NAMES, PRIORITY_ODDS)[0],
                        assigned=not is_open or self.rng.random() < 0.8,
                        index=False,
                    )
                )
                if status != "Open":  # worked on since: updated later, never in the future
                    record = self.sim.store.record_of(docs[-1])
                    record.touch(min(now, created + self.rng.randrange(1, 72) * HOUR_MS))
            self.sim.store.index_bulk(stream_id, docs)
        return count

    def churn(self, stream_id: str, *, changed: int = 0, resolved: int = 0) -> dict[str, list[str]]:
        """Resolve ``resolved`` unresolved cases and make one other change to ``changed`` more
        (distinct cases), now: what happens at Kore between two sync passes."""
        with self.sim._lock:
            pool = [record for record in self.sim.store.records(stream_id) if record.unresolved]
            picked = self.rng.sample(pool, min(len(pool), max(0, changed) + max(0, resolved)))
            done = {"resolved": [], "changed": []}
            stream = catalog(stream_id)
            for record in picked[:resolved]:
                self._apply(record, {"status": stream.status("Resolved")})
                done["resolved"].append(record.doc["_id"])
            kinds = [kind for kind, _ in STEP_WEIGHTS if kind not in ("close", "create")]
            for record in picked[resolved:]:
                kind = self.rng.choice(kinds)
                self._apply(record, self._random_change(record, kind, resolve=False))
                done["changed"].append(record.doc["_id"])
            return done

    # --- the work itself -----------------------------------------------------------------

    def _find(self, case_id: str) -> Record:
        record = self.sim.store.find(case_id)
        if record is None:
            raise UnknownCase(f"no case {case_id}")
        return record

    def _change(self, case_id: str, changes_of) -> dict:
        with self.sim._lock:
            record = self._find(case_id)
            self._apply(record, changes_of(record))
            return self.sim.store.as_listed(record, self.sim.readings)

    def _apply(self, record: Record, changes: dict) -> None:
        by = agent(record.doc["currAssignee"].get("agentId", "")) or self.rng.choice(ALL_AGENTS)
        apply(record, changes, by=by)
        self.changes_made += 1

    @staticmethod
    def _catalog_item(record: Record, kind: str, key: str) -> dict:
        stream = catalog(record.doc["iId"])
        found = stream.status(key) if kind == "status" else stream.priority(key)
        if found is None:
            raise ValueError(f"no {kind} {key!r} in this stream")
        return found

    def _another_agent(self, record: Record) -> Agent:
        current = record.doc["currAssignee"].get("agentId")
        return self.rng.choice([item for item in ALL_AGENTS if item.agent_id != current])

    def _random_change(self, record: Record, kind: str, *, resolve: bool = True) -> dict[str, Any]:
        stream = catalog(record.doc["iId"])
        if kind == "progress":
            current = record.doc["status"]["name"]
            if current == "In Progress" and resolve and self.rng.random() < 0.7:
                target = "Resolved"
            elif current == "In Progress":
                target = "On Hold"
            else:
                target = "In Progress"
            return {"status": stream.status(target)}
        if kind == "reassign":
            roll = self.rng.random()
            if roll < 0.7:
                return {"assigneeType": "agent", "currAssignee": self._another_agent(record)}
            if roll < 0.9:
                queue = self.rng.choice(stream.queues)
                return {"queues": [queue["_id"]], "assigneeType": "queues", "currAssignee": UNASSIGNED}
            return {"assigneeType": "unassigned", "currAssignee": UNASSIGNED}
        if kind == "priority":
            current = record.doc["priority"]["name"]
            names = [name for name in PRIORITY_NAMES if name != current]
            return {"priority": stream.priority(self.rng.choice(names))}
        if kind == "due":
            return {"dueDate": now_ms() + self.rng.randrange(2, 14 * 24) * HOUR_MS}
        return {"name": self._edited_title(record.doc["name"])}

    def _edited_title(self, name: str) -> str:
        """An edit as agents make them; a title edited many times is rewritten instead."""
        if len(name) > 90:
            return self.rng.choice(SUBJECTS).format(n=self.rng.randrange(100, 99999))
        return self.rng.choice(TITLE_EDITS).format(name=name)

    def _new_case(
        self,
        stream_id: str,
        *,
        name: str | None = None,
        now: datetime | None = None,
        status: str = "Open",
        priority: str | None = None,
        assigned: bool = True,
        index: bool = True,
    ) -> dict:
        rng = self.rng
        created = epoch_ms(now) if now else now_ms()
        customer = rng.choice(CUSTOMERS)
        source, channel = rng.choice(ORIGINS)
        if source == "emailInst":
            source = _mailbox(stream_id)
        body = {
            "caseTmp": self._template_id(stream_id),
            "name": name or rng.choice(SUBJECTS).format(n=rng.randrange(100, 99999)),
            "desc": f"Opened by {customer} over {channel[0]}.",
            "userInfo": {"name": customer},
            "emailId": f"{customer.split()[0].lower()}@example.com",
            "dueDate": iso(created + rng.randrange(4, 14 * 24) * HOUR_MS),
            "source": source,
        }
        queue = None if assigned or rng.random() < 0.5 else rng.choice(catalog(stream_id).queues)["_id"]
        return self.sim.store.add(
            stream_id,
            body,
            self.sim.account_of(stream_id),
            now=now,
            status=status,
            priority=priority or rng.choices(PRIORITY_NAMES, PRIORITY_ODDS)[0],
            assignee=rng.choice(ALL_AGENTS) if assigned else None,
            queues=[queue] if queue else [],
            channel=channel,
            created_by=BOT if source != "voice" else None,
            index=index,
        )

    def _template_id(self, stream_id: str) -> str:
        ids = sorted(template for stream, template in self.sim.template_keys() if stream == stream_id)
        return self.rng.choice(ids) if ids else kore_id("ctm", stream_id, "General")
