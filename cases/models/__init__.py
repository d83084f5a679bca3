"""The portal's records, one module per subject:

- ``streams``: Stream, CaseTemplate, ApiClient, IdempotencyKey, and who sees which stream;
- ``cases``: Case (with CaseQuerySet, the one definition of "which cases"), its history of
  changes at Kore (CaseChange), DeliveryAttempt, ImportBatch;
- ``sync``: each stream's sync state, the sync's leases, and what it learns from Kore
  (statuses, priorities, agents and queues);
- ``open_cases``: what an open case is, as a Q and as SQL; ``words``: word search; ``sql``:
  shared SQL expressions;
- ``counts``: the counts the database keeps for the dashboard;
- ``people``: SavedView, AuditEvent, SignedInSession, OIDCIdentity;
- ``actions``: working cases from the portal: changes of cases and tasks (CaseAction), tasks
  (CaseTask), task templates, bulk changes;
- ``notify``: what people and tools are told: CaseEvent (the outbox delivery and the sync
  write), Follow, NotificationSettings, CaseMailMark, WebhookEndpoint, WebhookMessage,
  WebhookAttempt.

Imports cases.crypto and cases.kore only: every other package builds on these.
"""

from cases.models.actions import BulkAction, CaseAction, CaseTask, TaskTemplate
from cases.models.cases import Case, CaseQuerySet, DeliveryAttempt, ImportBatch
from cases.models.counts import CreatedCount, OpenCaseCount, OpenDueCount
from cases.models.history import CaseChange
from cases.models.notify import (
    CaseEvent,
    CaseMailMark,
    Follow,
    NotificationSettings,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)
from cases.models.open_cases import CLOSED_CATEGORIES, OPEN_CASES
from cases.models.people import AuditEvent, OIDCIdentity, SavedView, SignedInSession
from cases.models.sql import ColumnsSQL, UtcDay
from cases.models.streams import ApiClient, CaseTemplate, IdempotencyKey, Stream
from cases.models.sync import KoreAssignee, KorePriority, KoreStatus, StreamSync, SyncLease

__all__ = [
    "CLOSED_CATEGORIES",
    "OPEN_CASES",
    "ApiClient",
    "AuditEvent",
    "BulkAction",
    "Case",
    "CaseAction",
    "CaseChange",
    "CaseEvent",
    "CaseMailMark",
    "CaseQuerySet",
    "CaseTask",
    "CaseTemplate",
    "ColumnsSQL",
    "CreatedCount",
    "DeliveryAttempt",
    "Follow",
    "IdempotencyKey",
    "KoreAssignee",
    "KorePriority",
    "KoreStatus",
    "ImportBatch",
    "NotificationSettings",
    "OIDCIdentity",
    "OpenCaseCount",
    "OpenDueCount",
    "SavedView",
    "SignedInSession",
    "Stream",
    "StreamSync",
    "SyncLease",
    "TaskTemplate",
    "UtcDay",
    "WebhookAttempt",
    "WebhookEndpoint",
    "WebhookMessage",
]
