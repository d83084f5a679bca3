"""What the sync learns from the cases Kore returns: the statuses and priorities a stream uses
(their ``sts-…``/``pr-…`` ids, names, categories, colours) and the agents and queues cases are
assigned to. Kore has no API that lists them, and updateCase needs their ids."""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.core.cache import caches

from cases.kore.answers import parse_case
from cases.kore.errors import KoreMalformed
from cases.models import KoreAssignee, KorePriority, KoreStatus, Stream

# What this process last read or wrote of each stream's catalog: a read through the gateway
# that names only these, as they are, skips the catalog's three queries (a tool polling changed
# cases would otherwise pay them on every page). A row changed meanwhile by another process is
# at worst left until the entry expires or the next sync pass, which writes all it sees.
known_catalog = caches["learned"]


def _catalog_key(stream: Stream, entry: tuple[str, ...]) -> str:
    return f"catalog:{stream.pk}:" + hashlib.blake2b(repr(entry).encode(), digest_size=16).hexdigest()


class Learner:
    """Collects what a pass sees, then writes the new and the renamed once, at the end."""

    def __init__(self, stream: Stream):
        self.stream = stream
        self.statuses: dict[str, dict] = {}
        self.priorities: dict[str, dict] = {}
        self.assignees: dict[tuple[str, str], str] = {}

    def learn(self, raws: list[dict]) -> None:
        for raw in raws:
            try:
                case = parse_case(raw)
            except KoreMalformed:
                continue
            status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
            if case.status_id and case.status_name:
                self.statuses[case.status_id] = {
                    "name": case.status_name[:80],
                    "lname": str(status.get("lname") or "")[:80],
                    "category": case.status_category[:40],
                    "color": str(status.get("color") or "")[:20],
                }
            if case.priority_id and case.priority_name:
                priority = raw["priority"]
                score = priority.get("score")
                self.priorities[case.priority_id] = {
                    "name": case.priority_name[:80],
                    "color": case.priority_color[:20],
                    "score": score if isinstance(score, int) and not isinstance(score, bool) else None,
                }
            if case.assignee_kind in ("agent", "queue") and case.assignee_id and case.assignee_name:
                self.assignees[(case.assignee_kind, case.assignee_id)] = case.assignee_name[:200]

    def _entries(self) -> dict[tuple[str, ...], tuple]:
        return {
            **{("status", kore_id): tuple(values.values()) for kore_id, values in self.statuses.items()},
            **{("priority", kore_id): tuple(values.values()) for kore_id, values in self.priorities.items()},
            **{("assignee", *key): (name,) for key, name in self.assignees.items()},
        }

    def save(self, *, seen_at: datetime, only_changes: bool = False) -> None:
        """Insert what is new, update what changed (an empty colour never wipes a known one).
        ``only_changes``: leave rows that did not change as they are (a read through the
        gateway: no write, and no query, for what the portal knows already)."""
        entries = {_catalog_key(self.stream, key): values for key, values in self._entries().items()}
        if only_changes and known_catalog.get_many(entries.keys()) == entries:
            return
        self._write(seen_at=seen_at, only_changes=only_changes)
        known_catalog.set_many(entries)

    def _write(self, *, seen_at: datetime, only_changes: bool) -> None:
        self._save(KoreStatus, self.statuses, seen_at, only_changes)
        self._save(KorePriority, self.priorities, seen_at, only_changes)
        known = {(a.kind, a.kore_id): a for a in KoreAssignee.objects.filter(stream=self.stream)}
        for (kind, kore_id), name in self.assignees.items():
            row = known.get((kind, kore_id))
            if row is None:
                KoreAssignee.objects.get_or_create(
                    stream=self.stream,
                    kind=kind,
                    kore_id=kore_id,
                    defaults={"name": name, "last_seen_at": seen_at},
                )
            elif not (only_changes and row.name == name):
                KoreAssignee.objects.filter(pk=row.pk).update(name=name, last_seen_at=seen_at)

    def _save(self, model, seen: dict[str, dict], seen_at: datetime, only_changes: bool = False) -> None:
        known = {row.kore_id: row for row in model.objects.filter(stream=self.stream)}
        for kore_id, values in seen.items():
            row = known.get(kore_id)
            if row is None:
                model.objects.get_or_create(
                    stream=self.stream, kore_id=kore_id, defaults={**values, "last_seen_at": seen_at}
                )
                continue
            changed = {key: value for key, value in values.items() if value not in ("", None)}
            if only_changes and all(getattr(row, key) == value for key, value in changed.items()):
                continue
            model.objects.filter(pk=row.pk).update(**changed, last_seen_at=seen_at)
