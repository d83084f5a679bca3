"""Recording a case found at Kore as a submission's own (after a lost answer), and folding in the
record the sync may already have made of it.

The sync imports every case Kore lists that no portal case holds, as made at Kore. When that
happens before the look-up has adopted the case, two records describe one Kore case: the
submission's (its body, attempts and submitter) and the sync's (its history, and whatever people
did to it meanwhile: tasks, changes, follows, events, API keys). Adopting keeps the submission's
record and moves everything that hangs on the other onto it before the other goes.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef

from cases.delivery.outcomes import DeliveryResult, record_delivery
from cases.kore.answers import parse_case
from cases.models import Case, DeliveryAttempt, Follow
from cases.models.notify import CaseMailMark

# Rows a folded record may hold that cannot simply be pointed at the submission: kept once.
# Attempts are not moved: a record made at Kore was never delivered, so it has none.
NOT_MOVED = {DeliveryAttempt, Follow, CaseMailMark}


def dependent_relations() -> list:
    """Every relation of another model to Case (one row per case or many), hidden ones too."""
    return [
        relation
        for relation in Case._meta.get_fields(include_hidden=True)
        if relation.auto_created and not relation.concrete and (relation.one_to_many or relation.one_to_one)
    ]


def fold_into(case: Case, imported: Case) -> None:
    """Move every row that belongs to ``imported`` onto ``case``, then delete ``imported``.

    Follows are kept once per person; the mail mark moves only when ``case`` has none (it only
    spaces out e-mails). Call inside a transaction.
    """
    for relation in dependent_relations():
        model, field = relation.related_model, relation.field.name
        if model not in NOT_MOVED:
            model._base_manager.filter(**{field: imported}).update(**{field: case})
    already = Follow.objects.filter(case=case, user=OuterRef("user"))
    Follow.objects.filter(case=imported).exclude(Exists(already)).update(case=case)
    if not CaseMailMark.objects.filter(case=case).exists():
        CaseMailMark.objects.filter(case=imported).update(case=case)
    imported.delete()


def adopt(case: Case, found: dict, *, started, note: str) -> DeliveryResult:
    """Record ``found`` as this submission's Kore case. When the sync had imported it already
    (as made at Kore), that record is folded into the submission's (``fold_into``): one Kore
    case, one record, and the submission keeps its id and attempts."""
    kore_case = parse_case(found)
    with transaction.atomic():
        imported = (
            Case.objects.filter(kore_id=kore_case.kore_id, origin=Case.Origin.KORE)
            .exclude(pk=case.pk)
            .first()
        )
        if imported is not None:
            fold_into(case, imported)
            note = f"{note} The sync had imported it as made at Kore; that record was folded into this one."
        # Nothing else holds its Kore id (candidates exclude the portal's other records), so
        # the record is written: the folded record cannot come back.
        return record_delivery(
            case, kore_case, started=started, outcome=DeliveryAttempt.Outcome.ADOPTED, note=note
        )
