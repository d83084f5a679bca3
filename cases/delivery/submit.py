"""Submitting cases: the one door through which the case form, the API proxy and bulk import put
a case in the outbox. The row (state ``queued``, holding the exact createCase body) is committed
before any network call; its delivery task is enqueued after the commit."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from cases.delivery.tasks import enqueue_delivery
from cases.kore.create_case import user_id_of
from cases.kore.dates import format_kore_datetime, parse_kore_datetime
from cases.models import Case, CaseTemplate, ImportBatch
from cases.models.cases import fit_column
from cases.models.notify import follow_by_submitters

logger = logging.getLogger(__name__)


def build_case_body(*, template: CaseTemplate, data: dict) -> dict:
    """The createCase body for the case form's fields (or an import row's), shaped as Kore's
    own sample; an empty due date or source takes the template's default."""
    due = data.get("dueDate") or template.default_due_date()
    user_info: dict[str, str] = {}
    if data.get("user_id"):
        user_info["_id"] = data["user_id"]
    if data.get("user_name"):
        user_info["name"] = data["user_name"]
    body = {
        "caseTmp": template.template_id,
        "name": data["name"],
        "desc": data["desc"],
        "userInfo": user_info,
        "dueDate": format_kore_datetime(due),
        "source": data.get("source") or template.default_source,
    }
    # Kore wants either a user id or a contact; an empty contact key only adds noise.
    for key in ("emailId", "phoneNumber"):
        if data.get(key):
            body[key] = data[key]
    return body


def case_fields_from_body(body: dict) -> dict:
    """The browse-by columns of a case that is not delivered yet, taken from its body."""
    user = body.get("userInfo") if isinstance(body.get("userInfo"), dict) else {}
    columns = {
        "name": body.get("name"),
        "source": body.get("source"),
        "requester_id": user_id_of(body),
        "requester_name": user.get("name"),
        "requester_email": body.get("emailId"),
        "requester_phone": body.get("phoneNumber"),
    }
    fields = {name: fit_column(name, value) for name, value in columns.items()}
    fields["desc"] = "" if body.get("desc") is None else str(body.get("desc"))
    fields["due_date"] = parse_kore_datetime(body.get("dueDate"))
    return fields


def case_submit(
    *,
    template: CaseTemplate,
    body: dict,
    user=None,
    api_client=None,
    enqueue: bool = True,
    claimed: bool = False,
) -> Case:
    """Store a case as ``queued`` with ``body`` as its createCase body, sent unchanged, and
    enqueue its delivery once the row is committed.

    ``enqueue=False`` is for a caller that delivers at once itself (the API proxy); should it
    never get to, the sweep finds the case queued and enqueues it. ``claimed=True`` (with
    ``enqueue=False``) stores it already ``sending``, claimed by that caller, sparing the claim's
    own write; should the caller die before sending, the sweep treats it as any stuck send.
    """
    claim = {"state": Case.State.SENDING, "sending_started_at": timezone.now()} if claimed else {}
    # No savepoint when a caller's transaction surrounds this one (the API pairs the case with
    # its idempotency key): an error rolls back the whole of it anyway.
    with transaction.atomic(savepoint=False):
        case = Case.objects.create(
            stream=template.stream,
            template=template,
            submitted_by=user if user is not None and user.is_authenticated else None,
            api_client=api_client,
            request_body=body,
            **case_fields_from_body(body),
            **claim,
        )
        follow_by_submitters([case])
        if enqueue:
            enqueue_delivery(case.pk)
    logger.info("case %s queued for stream %s", case.pk, template.stream_id)
    return case


def cases_submit_bulk(*, template: CaseTemplate, bodies: list[dict], user, batch: ImportBatch) -> list[Case]:
    """``case_submit`` for many bodies at once (an import): one transaction, inserts in batches."""
    with transaction.atomic():
        cases = Case.objects.bulk_create(
            [
                Case(
                    stream=template.stream,
                    template=template,
                    submitted_by=user,
                    batch=batch,
                    request_body=body,
                    **case_fields_from_body(body),
                )
                for body in bodies
            ],
            batch_size=500,
        )
        follow_by_submitters(cases)
        for case in cases:
            enqueue_delivery(case.pk)
    return cases
