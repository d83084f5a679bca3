"""Bulk import: every row validated like the form; all or nothing unless asked; one transaction."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cases.delivery.imports import example_csv
from cases.models import Case, ImportBatch
from cases.people import roles

pytestmark = pytest.mark.django_db

HEADER = "name,desc,user_id,user_name,emailId,phoneNumber,dueDate,source\n"


def upload(client, template, content, *, filename="cases.csv", only_valid=False, capture=None):
    data = {"template": template.pk, "file": SimpleUploadedFile(filename, content.encode())}
    if only_valid:
        data["only_valid"] = "on"
    if capture is None:
        return client.post(reverse("import_new"), data)
    with capture(execute=True):
        return client.post(reverse("import_new"), data)


def test_the_example_file_imports_as_is(
    member_client, template, simulator, django_capture_on_commit_callbacks
):
    response = upload(member_client, template, example_csv(), capture=django_capture_on_commit_callbacks)
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response.url == batch.get_absolute_url()
    assert batch.total == 2
    assert set(batch.cases.values_list("state", flat=True)) == {"delivered"}
    assert simulator.created_count == 2


def test_invalid_rows_are_listed_by_line_and_column_and_nothing_is_imported(member_client, template):
    content = HEADER + (
        "Good one,desc,,,a@example.com,,,\n"
        ",missing name,,,b@example.com,,,\n"
        "Bad email,desc,,,not-an-email,,,\n"
        "No contact,desc,,,,,,\n"
    )
    response = upload(member_client, template, content)
    page = response.content.decode()
    assert response.status_code == 200
    assert "3 rows with errors, 1 valid" in page
    assert "<td>3</td><td><code>name</code></td>" in page
    assert "<td>4</td><td><code>emailId</code></td>" in page
    assert "<td>5</td><td><code>emailId</code></td>" in page
    assert not Case.objects.exists()


def test_only_the_valid_rows_when_the_user_chooses(member_client, template):
    content = HEADER + "Good one,desc,,,a@example.com,,,\nBad,desc,,,nope,,,\n"
    upload(member_client, template, content, only_valid=True)
    batch = ImportBatch.objects.get()
    assert batch.total == 1 and batch.skipped == 1
    assert list(Case.objects.values_list("name", flat=True)) == ["Good one"]


def test_json_lines_are_accepted(member_client, template):
    content = (
        '{"name": "From JSON", "desc": "d", "emailId": "j@example.com"}\n'
        "\n"
        '{"name": "Second", "desc": "d", "phoneNumber": "+1 555 0100"}\n'
    )
    upload(member_client, template, content, filename="cases.jsonl")
    assert sorted(Case.objects.values_list("name", flat=True)) == ["From JSON", "Second"]


@pytest.mark.parametrize(
    "filename, content, message",
    [
        ("cases.csv", "wrong,columns\n1,2\n", "Unknown columns"),
        ("cases.csv", HEADER, "holds no cases"),
        ("cases.jsonl", "{not json}\n", "not valid JSON"),
        ("cases.jsonl", "[1, 2]\n", "not a JSON object"),
    ],
)
def test_unreadable_files_get_a_clear_error(member_client, template, filename, content, message):
    response = upload(member_client, template, content, filename=filename)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Case.objects.exists()


def test_a_file_that_is_not_utf8_gets_a_clear_error(member_client, template):
    data = {"template": template.pk, "file": SimpleUploadedFile("c.csv", "name\nCafé".encode("latin-1"))}
    response = member_client.post(reverse("import_new"), data)
    assert "not UTF-8" in response.content.decode()


def test_the_progress_page_counts_states(member_client, template):
    content = HEADER + "One,desc,,,a@example.com,,,\nTwo,desc,,,b@example.com,,,\n"
    upload(member_client, template, content)  # no commit callbacks: both stay queued
    batch = ImportBatch.objects.get()
    Case.objects.filter(name="One").update(state="delivered", kore_id="ci-1")
    page = member_client.get(batch.get_absolute_url()).content.decode()
    assert "50%" in page
    assert "1 delivered" in page and "1 waiting" in page


def test_someone_elses_import_is_not_shown(client, member_client, template):
    upload(member_client, template, HEADER + "One,desc,,,a@example.com,,,\n")
    batch = ImportBatch.objects.get()
    from tests.factories import UserFactory

    client.force_login(UserFactory(role=roles.AGENT))
    assert client.get(batch.get_absolute_url()).status_code == 404


def test_the_example_file_downloads(member_client):
    response = member_client.get(reverse("import_example"))
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode().startswith("name,desc,")


def test_imports_follow_the_proxys_rule_not_the_forms(
    member_client, template, simulator, django_capture_on_commit_callbacks
):
    # A past due date and a phone in Kore's own sample form are Kore's to judge.
    content = HEADER + "Old printer,desc,,,,902398xxxx,2001-01-01T10:00:00.000Z,\n"
    upload(member_client, template, content, capture=django_capture_on_commit_callbacks)
    case = Case.objects.get()
    assert case.state == Case.State.DELIVERED
    assert case.request_body["phoneNumber"] == "902398xxxx"
    assert case.request_body["dueDate"] == "2001-01-01T10:00:00.000Z"
