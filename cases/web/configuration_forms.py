"""The forms of the configuration pages: streams (the client secret write-only) and templates."""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError

from cases.kore import hostguard
from cases.models import CaseTemplate, Stream, TaskTemplate


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


class TaskTemplateForm(forms.ModelForm):
    class Meta:
        model = TaskTemplate
        fields = ["stream", "template_id", "name", "default_source", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stream"].queryset = Stream.objects.order_by("name")
