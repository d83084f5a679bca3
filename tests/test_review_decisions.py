"""A case in review when no candidate is listed (no account id at the look-up, the page bound
reached): a person adopts the case they found at Kore by its refId, verified first, or has the
portal look it up again. And adopting a case the sync had imported keeps everything hung on it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.api.clients import api_client_create
from cases.delivery import actions, reconcile
from cases.delivery.adoption import dependent_relations
from cases.delivery.deliver import case_deliver
from cases.models import (
    AuditEvent,
    Case,
    CaseAction,
    CaseChange,
    CaseEvent,
    CaseTask,
    DeliveryAttempt,
    Follow,
    IdempotencyKey,
    Stream,
    StreamSync,
)
from cases.models.notify import CaseMailMark
from cases.people import roles
from cases.sync import runs
from tests.delivering import deliver_until_settled
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def in_review_without_candidates(template, simulator, **fields) -> Case:
    """A lost answer on a stream without account id: held for review, nothing listed."""
    account_id = template.stream.account_id
    Stream.objects.filter(pk=template.stream.pk).update(account_id="")
    case = CaseFactory(template=template, **fields)
    simulator.inject("drop_after_create")
    case = deliver_until_settled(case)
    assert case.state == Case.State.NEEDS_REVIEW and case.review_candidates == []
    assert "no account id" in case.last_error
    case.account_id = account_id  # for the test to set again
    return case


def set_account_id(case) -> None:
    Stream.objects.filter(pk=case.stream_id).update(account_id=case.account_id)
    case.refresh_from_db()


# --- Adopt by refId -------------------------------------------------------------------------


def test_a_refid_found_at_kore_is_checked_then_adopted(template, simulator):
    case = in_review_without_candidates(template, simulator)
    refused = reconcile.case_adopt_ref(case=case, ref_id="CS00000001")
    assert not refused.done and "no account id" in refused.message  # nothing to check it with
    set_account_id(case)
    decision = reconcile.case_adopt_ref(case=case, ref_id=" cs00000001 ")
    case.refresh_from_db()
    assert decision.done and "Adopted CS00000001" in decision.message
    assert case.state == Case.State.DELIVERED and case.ref_id == "CS00000001"
    assert case.kore_id == simulator.cases[0]["_id"] and case.attempts.last().outcome == "adopted"
    assert simulator.created_count == 1
    again = reconcile.case_adopt_ref(case=case, ref_id="CS00000001")
    assert not again.done and "Only a case in review" in again.message


def test_a_refid_kore_does_not_list_in_the_window_is_refused(template, simulator):
    case = in_review_without_candidates(template, simulator)
    set_account_id(case)
    decision = reconcile.case_adopt_ref(case=case, ref_id="CS00000099")
    assert not decision.done and "Kore lists no case CS00000099" in decision.message
    assert Case.objects.get(pk=case.pk).state == Case.State.NEEDS_REVIEW
    assert simulator.created_count == 1


def test_the_refid_of_another_submissions_record_is_refused(template, simulator):
    case = in_review_without_candidates(template, simulator)
    set_account_id(case)
    other = deliver_until_settled(
        CaseFactory(template=template, name=case.name, request_body=case.request_body)
    )
    assert other.ref_id == "CS00000002"
    decision = reconcile.case_adopt_ref(case=case, ref_id="CS00000002")
    assert not decision.done and "another submission's record" in decision.message
    assert Case.objects.get(pk=case.pk).state == Case.State.NEEDS_REVIEW


def test_a_refid_with_another_title_is_refused(template, simulator):
    case = in_review_without_candidates(template, simulator)
    set_account_id(case)
    simulator.create_case_directly(
        stream_id=template.stream.stream_id, body={**case.request_body, "name": "Something else entirely"}
    )
    decision = reconcile.case_adopt_ref(case=case, ref_id="CS00000002")
    assert not decision.done and "is titled \u201cSomething else entirely\u201d" in decision.message
    assert simulator.calls["getCases"] == 1 + 1  # the title search, then the window without it


def test_a_refid_made_before_the_submission_is_refused(template, simulator, settings):
    settings.KORE_LOOKUP_MARGIN_SECONDS = 60
    simulator.set_readings(date_filter="dueDate")  # so that Kore lists the older case too
    case = in_review_without_candidates(template, simulator)
    set_account_id(case)
    simulator.create_case_directly(
        stream_id=template.stream.stream_id, body=case.request_body, now=timezone.now() - timedelta(days=1)
    )
    decision = reconcile.case_adopt_ref(case=case, ref_id="CS00000002")
    assert not decision.done and "outside the window" in decision.message


# --- Look up again --------------------------------------------------------------------------


def test_look_up_again_once_the_account_id_is_set_adopts_the_case(template, simulator):
    case = in_review_without_candidates(template, simulator)
    assert actions.case_look_up_again(case=case)  # still no account id: back to review, nothing sent
    case.refresh_from_db()
    assert case.state == Case.State.NEEDS_REVIEW and simulator.created_count == 1
    set_account_id(case)
    assert actions.case_look_up_again(case=case)
    case.refresh_from_db()
    assert case.state == Case.State.DELIVERED and case.attempts.last().outcome == "adopted"
    assert simulator.created_count == 1
    assert not actions.case_look_up_again(case=case)  # only a case in review


def test_look_up_again_turns_the_look_up_back_on(template, simulator):
    """Send anyway turns the look-up off; a later lost answer, then review: Look up again."""
    case = in_review_without_candidates(template, simulator)
    Case.objects.filter(pk=case.pk).update(lookup_required=False)
    set_account_id(case)
    assert actions.case_look_up_again(case=case)
    case.refresh_from_db()
    assert case.state == Case.State.DELIVERED and simulator.created_count == 1


def test_only_those_who_manage_the_delivery_may_decide(client, template, simulator, member_user):
    case = in_review_without_candidates(template, simulator, submitted_by=member_user)
    set_account_id(case)
    other_agent = UserFactory(username="carol", role=roles.AGENT)
    other_agent.member_streams.add(template.stream)
    client.force_login(other_agent)
    assert client.post(reverse("case_look_up", args=[case.pk])).status_code == 403
    assert client.post(reverse("case_adopt", args=[case.pk]), {"ref_id": "CS00000001"}).status_code == 403
    assert Case.objects.get(pk=case.pk).state == Case.State.NEEDS_REVIEW
    client.force_login(member_user)
    response = client.post(reverse("case_adopt", args=[case.pk]), {"ref_id": "CS00000001"}, follow=True)
    assert "Adopted CS00000001" in response.content.decode()
    assert Case.objects.get(pk=case.pk).state == Case.State.DELIVERED
    assert AuditEvent.objects.filter(action="case.adopted", details__ref_id="CS00000001").exists()


# --- Folding the sync's record in -----------------------------------------------------------


def sync(stream) -> None:
    StreamSync.objects.filter(stream=stream).update(next_pass_at=None)
    runs.sync_account(runs.lease_key(stream), [stream.pk])


def test_adopting_a_case_the_sync_imported_moves_everything_hung_on_it(
    template, simulator, member_user, staff_user
):
    case = CaseFactory(template=template, submitted_by=member_user)
    Follow.objects.get_or_create(user=member_user, case=case)
    simulator.inject("drop_after_create")
    case_deliver(case_id=case.pk)
    # The sync imported it as made at Kore before the portal knew the answer was lost.
    Case.objects.filter(pk=case.pk).update(state=Case.State.RETRYING, lookup_required=False)
    sync(template.stream)
    imported = Case.objects.get(origin=Case.Origin.KORE)
    # Meanwhile people worked the imported record: everything that can hang on a case.
    CaseChange.objects.create(case=imported, field="status", old_value="Open", new_value="In Progress")
    task = CaseTask.objects.create(case=imported, origin="kore", name="Call back", kore_id="ti-imported-1")
    CaseAction.objects.create(case=imported, body={"name": "Printer fixed"}, state="confirmed")
    Follow.objects.create(user=member_user, case=imported)  # follows both: kept once
    Follow.objects.create(user=staff_user, case=imported)
    api_client, _secret = api_client_create(name="CRM", streams=[template.stream])
    IdempotencyKey.objects.create(api_client=api_client, key="order-1", request_hash="h", case=imported)
    CaseMailMark.objects.create(case=imported, last_sent_at=timezone.now())
    CaseEvent.objects.create(kind=CaseEvent.Kind.CHANGED, case=imported, stream=imported.stream)
    events = CaseEvent.objects.filter(case=imported).count()

    Case.objects.filter(pk=case.pk).update(lookup_required=True, next_attempt_at=timezone.now())
    case = deliver_until_settled(case)
    assert case.state == Case.State.DELIVERED and case.kore_id == imported.kore_id
    assert not Case.objects.filter(pk=imported.pk).exists()
    assert CaseTask.objects.get(pk=task.pk).case_id == case.pk
    assert case.changes.count() == 1 and case.actions.count() == 1
    assert sorted(case.follows.values_list("user__username", flat=True)) == ["alice", "bob"]
    assert IdempotencyKey.objects.get(key="order-1").case_id == case.pk
    assert CaseMailMark.objects.filter(case=case).exists()
    assert CaseEvent.objects.filter(case=case, kind=CaseEvent.Kind.CHANGED).exists()
    assert CaseEvent.objects.filter(case=case).count() >= events
    # Every kind of row that can hang on a case was set up above and is on the submission now
    # (a record made at Kore has no delivery attempts).
    for relation in dependent_relations():
        if relation.related_model is not DeliveryAttempt:
            held = relation.related_model._base_manager.filter(**{relation.field.name: case})
            assert held.exists(), f"{relation.related_model.__name__} was not moved"
    assert simulator.created_count == 1 and Case.objects.count() == 1
