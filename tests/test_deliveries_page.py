import pytest
from django.urls import reverse

from cases.models import Case
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


def test_the_deliveries_page_is_for_staff(member_client):
    assert member_client.get(reverse("deliveries")).status_code == 403


def test_it_shows_counts_queue_and_failures(staff_client):
    CaseFactory(name="Waiting case")
    CaseFactory(name="Refused case", state=Case.State.FAILED, last_error="caseTmp is invalid")
    page = staff_client.get(reverse("deliveries")).content.decode()
    assert "Waiting case" in page
    assert "Refused case" in page and "caseTmp is invalid" in page


def test_bulk_retry_requeues_failed_cases(
    staff_client, template, simulator, django_capture_on_commit_callbacks
):
    failed = CaseFactory.create_batch(3, template=template, state=Case.State.FAILED, last_error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(reverse("deliveries_retry"), {"case": [failed[0].pk, failed[1].pk]})
    states = dict(Case.objects.values_list("pk", "state"))
    assert states[failed[0].pk] == states[failed[1].pk] == "delivered"
    assert states[failed[2].pk] == "failed"
    assert simulator.created_count == 2
