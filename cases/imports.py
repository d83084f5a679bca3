"""Bulk import: read a CSV or JSON-lines file of cases and validate every row like the form does."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from django.db import transaction

from cases.forms import CaseForm
from cases.models import Case, CaseTemplate, ImportBatch
from cases.services import build_case_body, case_fields_from_body, enqueue_delivery

# The columns of an import file: the case form's inputs (createCase body keys).
COLUMNS = ["name", "desc", "user_id", "user_name", "emailId", "phoneNumber", "dueDate", "source"]
MAX_ROWS = 10_000
EXAMPLE_ROWS = [
    {
        "name": "Laptop does not boot",
        "desc": "Black screen after the update.",
        "user_id": "",
        "user_name": "Dana Smith",
        "emailId": "dana.smith@example.com",
        "phoneNumber": "",
        "dueDate": "2099-09-04T14:15:00.000Z",
        "source": "rtm",
    },
    {
        "name": "VPN access for a new starter",
        "desc": "Starts on Monday, needs VPN and mail.",
        "user_id": "u-fd371c0a-3168-5a02-83dd-f4ba55970000",
        "user_name": "Lee Chen",
        "emailId": "",
        "phoneNumber": "+44 20 7946 0958",
        "dueDate": "",
        "source": "",
    },
]


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, format, size)."""


@dataclass
class RowError:
    line: int
    column: str
    message: str


@dataclass
class ValidatedImport:
    valid: list[tuple[int, dict]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def invalid_lines(self) -> list[int]:
        return sorted({error.line for error in self.errors})


def example_csv() -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(EXAMPLE_ROWS)
    return out.getvalue()


def read_rows(filename: str, raw: bytes) -> list[tuple[int, dict]]:
    """(line number, row) pairs from a CSV (with a header line) or a JSON-lines file."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("The file is not UTF-8 text.") from None
    if filename.lower().endswith((".jsonl", ".ndjson", ".json")):
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ImportFileError(f"Line {number} is not valid JSON: {exc.msg}.") from None
            if not isinstance(row, dict):
                raise ImportFileError(f"Line {number} is not a JSON object.")
            rows.append((number, row))
    else:
        reader = csv.DictReader(io.StringIO(text))
        unknown = set(reader.fieldnames or []) - set(COLUMNS)
        if not reader.fieldnames:
            raise ImportFileError("The file is empty.")
        if unknown:
            raise ImportFileError(
                f"Unknown columns: {', '.join(sorted(unknown))}. Expected: {', '.join(COLUMNS)}."
            )
        # Line 1 is the header, so the first row is line 2.
        rows = [(number, row) for number, row in enumerate(reader, start=2)]
    if not rows:
        raise ImportFileError("The file holds no cases.")
    if len(rows) > MAX_ROWS:
        raise ImportFileError(f"The file holds {len(rows)} cases; at most {MAX_ROWS} per import.")
    return rows


def validate_rows(template: CaseTemplate, rows: list[tuple[int, dict]]) -> ValidatedImport:
    """Validate each row with the case form's own rules, collecting every problem by line and column."""
    result = ValidatedImport()
    templates = CaseTemplate.objects.filter(pk=template.pk)
    for line, row in rows:
        data = {key: "" if row.get(key) is None else str(row.get(key)) for key in COLUMNS}
        form = CaseForm({**data, "template": template.pk}, templates=templates)
        if form.is_valid():
            result.valid.append((line, form.cleaned_data))
        else:
            for column, messages in form.errors.items():
                for message in messages:
                    result.errors.append(RowError(line=line, column=column, message=message))
    return result


def import_cases(
    *, template: CaseTemplate, filename: str, rows: list[tuple[int, dict]], user, skipped: int
) -> ImportBatch:
    """Store every valid row as a queued case in one transaction, then enqueue their delivery."""
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            template=template, created_by=user, filename=filename[:255], total=len(rows), skipped=skipped
        )
        cases = []
        for _line, data in rows:
            body = build_case_body(template=template, data=data)
            cases.append(
                Case(
                    stream=template.stream,
                    template=template,
                    submitted_by=user,
                    batch=batch,
                    request_body=body,
                    **case_fields_from_body(body),
                )
            )
        created = Case.objects.bulk_create(cases, batch_size=500)
        for case in created:
            enqueue_delivery(case.pk)
    return batch
