"""The simulator's control plane, ``/_simulator/…`` (standalone server only): how tests and
benchmarks in another process register apps and templates, inject faults, set latency, rate
limit and readings, read statistics, reset, and drive the Kore agent.

``POST /_simulator/agent`` takes ``{"action": …}`` with the agent's method names and arguments:
``step`` (``stream_id`` optional), ``resolve``/``close`` (``case_id``), ``set_status``
(``case_id``, ``status``), ``set_priority`` (``case_id``, ``priority``), ``reassign``
(``case_id``, ``to`` and/or ``queue``), ``set_due_date`` (``case_id``, ``due_date`` ISO or epoch
ms), ``rename`` (``case_id``, ``name`` optional), ``create_case`` (``stream_id``, ``name``
optional), ``start`` (``every_seconds``, ``seed`` optional), ``stop``, ``reseed`` (``seed``),
``seed_cases`` (``stream_id``, ``count``, ``unresolved``, ``days``) and ``churn``
(``stream_id``, ``changed``, ``resolved``). A case action answers the case as getCases lists it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cases.kore.simulator.agent import UnknownCase
from cases.kore.simulator.responses import SimResponse

if TYPE_CHECKING:
    from cases.kore.simulator.core import Simulator


def handle(sim: Simulator, method: str, path: str, body: bytes) -> SimResponse:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return SimResponse.errors(400, "Body must be JSON.")
    action = path.removeprefix("/_simulator/").strip("/")
    try:
        if action == "stats" and method == "GET":
            return SimResponse.json(200, stats(sim))
        if method != "POST":
            return SimResponse.errors(405, "Method not allowed.")
        if action == "agent":
            return SimResponse.json(200, {"ok": True, **agent_action(sim, data)})
        if action == "apps":
            sim.register_app(data["client_id"], data["secret"], data.get("stream_ids"))
        elif action == "templates":
            sim.register_template(data["stream_id"], data["template_id"], data["name"])
        elif action == "faults":
            sim.inject(
                data["fault"],
                int(data.get("times", 1)),
                endpoint=data.get("endpoint", "createCase"),
                delay=float(data.get("delay", 3.0)),
            )
        elif action == "latency":
            sim.set_latency(float(data["seconds"]))
        elif action == "rate_limit":
            sim.set_rate_limit(data.get("limit"), float(data.get("window", 60)))
        elif action == "readings":
            sim.set_readings(**data)
        elif action == "reset":
            sim.reset()
        else:
            return SimResponse.errors(404, f"No control action {action!r}.")
    except UnknownCase as exc:
        return SimResponse.errors(404, str(exc))
    except (KeyError, TypeError, ValueError) as exc:
        return SimResponse.errors(400, f"Bad control request: {exc}")
    return SimResponse.json(200, {"ok": True})


def stats(sim: Simulator) -> dict:
    with sim._lock:
        cases = [
            {"_id": c["_id"], "refId": c["refId"], "name": c["name"], "stream_id": c["iId"]}
            for c in sim.cases
        ]
        streams = {
            stream_id: {
                "cases": len(sim.store.records(stream_id)),
                "unresolved": sum(1 for record in sim.store.records(stream_id) if record.unresolved),
                "tasks": len(sim.tasks.records(stream_id)),
            }
            for stream_id in sim.store.stream_ids()
        }
        return {
            "created_count": sim.created_count,
            "request_count": sim.request_count,
            "rate_limited_count": sim.rate_limited_count,
            "calls": dict(sim.calls),
            "stream_calls": dict(sim.stream_calls),
            "task_count": len(sim.tasks),
            "agent": {
                "running": sim.agent.running,
                "every_seconds": sim.agent.every_seconds,
                "changes_made": sim.agent.changes_made,
            },
            "streams": streams,
            "cases": cases,
        }


def agent_action(sim: Simulator, data: dict) -> dict[str, Any]:
    """One ``/_simulator/agent`` request: what the agent did."""
    agent, action = sim.agent, data.get("action")
    case_actions = {
        "resolve": lambda: agent.resolve(data["case_id"]),
        "close": lambda: agent.close(data["case_id"]),
        "set_status": lambda: agent.set_status(data["case_id"], data["status"]),
        "set_priority": lambda: agent.set_priority(data["case_id"], data["priority"]),
        "reassign": lambda: agent.reassign(data["case_id"], data.get("to"), queue=data.get("queue")),
        "set_due_date": lambda: agent.set_due_date(data["case_id"], data["due_date"]),
        "rename": lambda: agent.rename(data["case_id"], data.get("name")),
        "create_case": lambda: agent.create_case(data["stream_id"], name=data.get("name")),
    }
    if action in case_actions:
        return {"case": case_actions[action]()}
    if action == "step":
        return {"did": agent.step(data.get("stream_id"))}
    if action == "start":
        sim.start_agent(float(data["every_seconds"]), seed=data.get("seed"))
    elif action == "stop":
        sim.stop_agent()
    elif action == "reseed":
        agent.reseed(data.get("seed"))
    elif action == "seed_cases":
        unresolved = data.get("unresolved")
        created = agent.seed_cases(
            data["stream_id"],
            int(data["count"]),
            unresolved=None if unresolved is None else int(unresolved),
            days=float(data.get("days", 30)),
        )
        return {"created": created}
    elif action == "churn":
        return agent.churn(
            data["stream_id"], changed=int(data.get("changed", 0)), resolved=int(data.get("resolved", 0))
        )
    else:
        raise ValueError(f"no agent action {action!r}")
    return {}
