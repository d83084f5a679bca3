"""Staff pages for API clients. A secret is shown once, on the page right after it is made."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cases.api import clients
from cases.models import ApiClient, Stream
from cases.models.streams import KORE_ENDPOINTS
from cases.people.audit import audit_record
from cases.people.roles import administrator_required


class ApiClientForm(forms.ModelForm):
    streams = forms.ModelMultipleChoiceField(
        queryset=Stream.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="The streams this client may use.",
    )
    endpoints = forms.MultipleChoiceField(
        choices=[(name, name) for name in KORE_ENDPOINTS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Kore endpoints",
        help_text="What it may call through the gateway, under Kore's own paths; the read API goes "
        "with getCases.",
    )

    class Meta:
        model = ApiClient
        fields = ["name", "streams", "endpoints", "weight", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["weight"].required = False

    def clean_weight(self) -> int:
        return self.cleaned_data.get("weight") or 1


def _show_secret_once(request: HttpRequest, client: ApiClient, secret: str) -> HttpResponse:
    response = render(request, "cases/api_client_secret.html", {"client": client, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


@administrator_required
def api_client_list(request: HttpRequest) -> HttpResponse:
    clients = ApiClient.objects.prefetch_related("streams").order_by("-is_active", "name")
    return render(request, "cases/api_client_list.html", {"clients": clients})


@administrator_required
def api_client_new(request: HttpRequest) -> HttpResponse:
    form = ApiClientForm(
        request.POST or None, initial={"is_active": True, "endpoints": list(KORE_ENDPOINTS), "weight": 1}
    )
    if request.method == "POST" and form.is_valid():
        client, secret = clients.api_client_create(
            name=form.cleaned_data["name"],
            streams=form.cleaned_data["streams"],
            endpoints=form.cleaned_data["endpoints"],
            weight=form.cleaned_data["weight"],
        )
        audit_record(request=request, action="api_client.created", target=client)
        return _show_secret_once(request, client, secret)
    return render(request, "cases/api_client_form.html", {"form": form})


@administrator_required
def api_client_edit(request: HttpRequest, client_id: int) -> HttpResponse:
    client = get_object_or_404(ApiClient, pk=client_id)
    form = ApiClientForm(request.POST or None, instance=client)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit_record(
            request=request, action="api_client.changed", target=client, details={"fields": form.changed_data}
        )
        messages.success(request, f"API client “{client.name}” saved.")
        return redirect("api_client_list")
    return render(request, "cases/api_client_form.html", {"form": form, "client": client})


@administrator_required
@require_POST
def api_client_new_secret(request: HttpRequest, client_id: int) -> HttpResponse:
    client = get_object_or_404(ApiClient, pk=client_id)
    secret = clients.api_client_new_secret(client=client)
    audit_record(request=request, action="api_client.new_secret", target=client)
    return _show_secret_once(request, client, secret)
