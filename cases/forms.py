"""Forms for streams, templates and cases. ``CaseForm`` is the case page's definition of a valid case:
Kore's own rule (cases/kore/create_case.py) plus friendlier checks for people at a form."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from cases.kore import hostguard
from cases.kore.dates import parse_kore_datetime
from cases.models import CaseTemplate, Stream

PHONE_CHARACTERS = re.compile(r"^\+?[0-9 ().\-xX]+$")


class StreamForm(forms.ModelForm):
    """Stream settings. The client secret is write-only: never rendered back, blank keeps it."""

    host = forms.URLField(
        max_length=300,
        assume_scheme="https",
        help_text="Environment URL, e.g. https://platform.kore.ai (an on-premises origin also works).",
    )
    client_secret = forms.CharField(
        label="JWT app client secret",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave blank to keep the stored secret.",
    )

    class Meta:
        model = Stream
        fields = [
            "name",
            "host",
            "stream_id",
            "account_id",
            "client_id",
            "client_secret",
            "bot_language",
            "app_language",
            "iid",
            "rate_limit",
            "is_active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.has_client_secret:
            self.fields["client_secret"].help_text = "Write-only: it is never shown again after saving."
        # Kore requires the accountId header to list cases: without it a case whose answer was
        # lost cannot be looked up. Older streams may lack it; every save now asks for it.
        self.fields["account_id"].required = True
        self.fields[
            "account_id"
        ].help_text = (
            "Sent as the accountId header. Kore requires it to look cases up, e.g. 6639f7bd58c97ffac03b0000."
        )

    def clean_host(self) -> str:
        host = self.cleaned_data["host"].strip().rstrip("/")
        parts = urlsplit(host)
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValidationError("Enter just the environment URL, e.g. https://platform.kore.ai")
        try:
            hostguard.check_url(host)
        except hostguard.HostRefused as exc:
            raise ValidationError(str(exc)) from None
        return host

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("client_secret") and not self.instance.has_client_secret:
            self.add_error("client_secret", "Enter the JWT app's client secret.")
        return cleaned

    def save(self, commit: bool = True) -> Stream:
        stream = super().save(commit=False)
        if self.cleaned_data.get("client_secret"):
            stream.set_client_secret(self.cleaned_data["client_secret"])
        if commit:
            stream.save()
        return stream


class CaseTemplateForm(forms.ModelForm):
    class Meta:
        model = CaseTemplate
        fields = ["stream", "template_id", "name", "default_source", "default_due_hours", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stream"].queryset = Stream.objects.order_by("name")


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


class DueDateInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def format_value(self, value):
        if isinstance(value, datetime):
            return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")
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
