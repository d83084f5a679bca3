"""The case form: the case page's definition of a valid case, Kore's own rule
(cases/kore/create_case.py) plus friendlier checks for people at a form (a plausible phone, a
due date in the past confirmed)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from cases.delivery.due_dates import FlexibleDateTimeField
from cases.models import CaseTemplate

PHONE_CHARACTERS = re.compile(r"^\+?[0-9 ().\-xX]+$")


class DueDateInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def format_value(self, value):
        if isinstance(value, datetime):
            # Django hands an initial value over already in the current time zone, naive.
            local = timezone.localtime(value) if timezone.is_aware(value) else value
            return local.strftime("%Y-%m-%dT%H:%M")
        return value


class CaseForm(forms.Form):
    """A new case. Field names are createCase's body keys, plus user_id/user_name for userInfo."""

    template = forms.ModelChoiceField(
        queryset=CaseTemplate.objects.none(), empty_label="Choose a template…", label="Template"
    )
    name = forms.CharField(label="Title", max_length=500)
    desc = forms.CharField(label="Description", widget=forms.Textarea(attrs={"rows": 5}), max_length=20000)
    user_id = forms.CharField(label="Requester user id", max_length=200, required=False)
    user_name = forms.CharField(label="Requester name", max_length=200, required=False)
    emailId = forms.CharField(label="Requester email", max_length=254, required=False)
    phoneNumber = forms.CharField(label="Requester phone", max_length=40, required=False)
    dueDate = FlexibleDateTimeField(
        label="Due date",
        required=False,
        widget=DueDateInput(),
        help_text="In your time zone. Empty: the template's default due time.",
    )
    confirm_past_due = forms.BooleanField(
        label="Yes, the due date is in the past: send it anyway", required=False
    )
    source = forms.CharField(
        label="Source", max_length=60, required=False, help_text="Empty: the template's default source."
    )

    def __init__(self, *args, templates=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = (
            templates if templates is not None else CaseTemplate.objects.usable()
        )

    def clean_emailId(self) -> str:
        email = self.cleaned_data["emailId"].strip()
        if email:
            try:
                validate_email(email)
            except ValidationError:
                raise ValidationError("Enter a valid email address, e.g. name@example.com.") from None
        return email

    def clean_phoneNumber(self) -> str:
        phone = self.cleaned_data["phoneNumber"].strip()
        if phone:
            digits = sum(ch.isdigit() for ch in phone)
            if not PHONE_CHARACTERS.match(phone) or not 6 <= digits <= 15:
                raise ValidationError("Enter a phone number of 6 to 15 digits, e.g. +44 20 7946 0958.")
        return phone

    # Set while cleaning: the page then shows the box that confirms a past due date.
    due_date_is_past = False

    def clean(self):
        cleaned = super().clean()
        due = cleaned.get("dueDate")
        self.due_date_is_past = bool(due and due < timezone.now() - timedelta(minutes=5))
        # Kore accepts a past due date, so the form only asks the person to confirm one.
        if self.due_date_is_past and not cleaned.get("confirm_past_due"):
            self.add_error("dueDate", "The due date is in the past. Tick the box below to send it anyway.")
        for key in ("name", "desc", "user_id", "user_name", "source"):
            if isinstance(cleaned.get(key), str):
                cleaned[key] = cleaned[key].strip()
        no_contact = not (cleaned.get("user_id") or cleaned.get("emailId") or cleaned.get("phoneNumber"))
        contact_already_refused = "emailId" in self.errors or "phoneNumber" in self.errors
        if no_contact and not contact_already_refused:
            message = "Give the requester's email or phone number (or their Kore user id)."
            self.add_error("emailId", message)
            self.add_error("phoneNumber", message)
        return cleaned
