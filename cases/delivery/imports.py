"""Bulk import: read a CSV or JSON-lines file of cases, turn each row into a createCase body and
check it by the proxy's rule (what Kore's document requires, nothing more), then submit them all
through the submit service's bulk door."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from django import forms
from django.db import transaction

from cases.delivery.due_dates import FlexibleDateTimeField
from cases.delivery.submit import build_case_body, cases_submit_bulk
from cases.kore.create_case import create_case_problems
from cases.models import CaseTemplate, ImportBatch

# The columns of an import file: the case form's inputs (createCase body keys).
COLUMNS = ["name", "desc", "user_id", "user_name", "emailId", "phoneNumber", "dueDate", "source"]
# A problem with a body key, shown against the column it came from.
COLUMN_OF_KEY = {"userInfo._id": "user_id", "userInfo.id": "user_id", "userInfo.name": "user_name"}
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


def row_body(template: CaseTemplate, row: dict) -> tuple[dict | None, list[tuple[str, str]]]:
    """The createCase body for one row (the template's defaults where it leaves a value empty),
    or the problems that stop it being one, as (column, message)."""
    data = {key: "" if row.get(key) is None else str(row.get(key)).strip() for key in COLUMNS}
    if data["dueDate"]:
        # Kore's own form, or a date and time read in the importing person's time zone.
        try:
            data["dueDate"] = FlexibleDateTimeField().clean(data["dueDate"])
        except forms.ValidationError:
            return None, [("dueDate", "Enter a date and time, e.g. 2026-09-04T14:15:00.000Z.")]
    else:
        data["dueDate"] = None
    body = build_case_body(template=template, data=data)
    problems = create_case_problems(body)
    if problems:
        return None, [
            (COLUMN_OF_KEY.get(key, key), message) for key, found in problems.items() for message in found
        ]
    return body, []


def validate_rows(template: CaseTemplate, rows: list[tuple[int, dict]]) -> ValidatedImport:
    """Check every row, collecting every problem by line and column."""
    result = ValidatedImport()
    for line, row in rows:
        body, problems = row_body(template, row)
        if body is not None:
            result.valid.append((line, body))
        for column, message in problems:
            result.errors.append(RowError(line=line, column=column, message=message))
    return result


def import_cases(
    *, template: CaseTemplate, filename: str, rows: list[tuple[int, dict]], user, skipped: int
) -> ImportBatch:
    """Store every valid row's body as a queued case in one transaction, then enqueue their delivery."""
    with transaction.atomic():
        batch = ImportBatch.objects.create(
            template=template, created_by=user, filename=filename[:255], total=len(rows), skipped=skipped
        )
        cases_submit_bulk(template=template, bodies=[body for _line, body in rows], user=user, batch=batch)
    return batch
