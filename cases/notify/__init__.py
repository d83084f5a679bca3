"""Telling people and tools when a case changes: follows, e-mail, the bell, the daily digest,
and signed webhooks (issue 16; docs/notifications.md).

Delivery and the sync write ``CaseEvent`` rows in the same transaction as each change
(cases/models/notify.py: ``record_case_event``); this package reads them afterwards, from
Celery beat, so telling never slows or breaks delivery or the sync:

- ``follows``: who follows a case, following and unfollowing, the bell's unread changes;
- ``mail``: e-mail to followers, at most one message per case per window, changes batched,
  visibility and opt-outs checked when it is sent; ``digest``: the daily overdue digest;
- ``dispatch``: events fanned out into webhook messages (the webhook outbox);
- ``signing``: Standard Webhooks signatures; ``payloads``: the JSON each event is sent as;
- ``sender``: POSTing due messages, in order per case, with retries, the delivery log and
  switching a failing endpoint off; ``transport``: the HTTP session behind the host guard;
- ``endpoints``: registering endpoints, secrets shown once, switching on, sending again;
- ``clock``: the one clock the schedules read (the benchmark drives it); ``tasks``: Celery.

Imports models, people, sync (its lease), kore (the host guard) and cases.crypto; delivery
and the sync never import it.
"""
