"""Reading a due date as people and tools write it: a browser's datetime-local value (in the
person's time zone) or any ISO-8601 string, Kore's own ``2026-09-04T14:15:00.000Z`` included.
Shared by the case form and bulk import."""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError

from cases.kore.dates import parse_kore_datetime


class FlexibleDateTimeField(forms.DateTimeField):
    """Accepts a browser's datetime-local value (read in the user's time zone) or any ISO-8601
    string, including Kore's own ``2026-09-04T14:15:00.000Z``."""

    input_formats = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]

    def to_python(self, value):
        if isinstance(value, str) and value.strip():
            text = value.strip()
            if text.endswith(("Z", "z")) or re.search(r"[+-]\d\d:?\d\d$", text):
                parsed = parse_kore_datetime(text)
                if parsed is None:
                    raise ValidationError("Enter a valid date and time, e.g. 2026-09-04T14:15.")
                return parsed
        return super().to_python(value)
