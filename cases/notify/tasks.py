"""Thin Celery tasks of notifications; beat runs the ticks (casesite/settings.py).

- ``tick`` (every ``NOTIFY_TICK_SECONDS``): fan new events out to webhook endpoints, then start
  a sender for each endpoint with a message due;
- ``send_endpoint``: one endpoint's sender, under its lease (one at a time per endpoint, which
  keeps a case's messages in order);
- ``send_mail`` (every ``NOTIFY_MAIL_TICK_SECONDS``): the followers' e-mail;
- ``send_digests`` (every five minutes): the daily digests whose hour has come;
- ``prune`` (hourly): the log and the events past ``NOTIFY_KEEP_DAYS``.
"""

from __future__ import annotations

from celery import shared_task

from cases.notify import digest, dispatch, mail, retention, sender
from cases.sync.lease import Lease, LeaseLost


@shared_task(name="cases.notify.tasks.tick", ignore_result=True)
def tick() -> int:
    with Lease("notify:dispatch") as lease:
        if lease.held:
            dispatch.events_dispatch()
    due = sender.endpoints_due()
    for endpoint_id in due:
        send_endpoint.delay(endpoint_id)
    return len(due)


@shared_task(name="cases.notify.tasks.send_endpoint", ignore_result=True)
def send_endpoint(endpoint_id: int) -> int:
    with Lease(f"notify:webhooks:{endpoint_id}") as lease:
        if not lease.held:
            return 0  # another worker is sending this endpoint's messages
        try:
            return sender.endpoint_send(endpoint_id, renew=lease.renew).delivered
        except LeaseLost:
            return 0  # ours ran out and another worker took over: it goes on from the outbox


@shared_task(name="cases.notify.tasks.send_mail", ignore_result=True)
def send_mail() -> int:
    with Lease("notify:mail") as lease:
        return mail.mail_due().messages if lease.held else 0


@shared_task(name="cases.notify.tasks.send_digests", ignore_result=True)
def send_digests() -> int:
    with Lease("notify:digest") as lease:
        return digest.digests_due().sent if lease.held else 0


@shared_task(name="cases.notify.tasks.prune", ignore_result=True)
def prune() -> int:
    return retention.prune()
