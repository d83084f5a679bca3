"""Administrators' pages for webhook endpoints: the list (with the notice of any switched off),
registering one (its secret shown once), editing, a new secret, switching on and off, and each
endpoint's delivery log with the receiver's answers and "send again"."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cases.models import CaseEvent, Stream, WebhookEndpoint, WebhookMessage
from cases.notify import endpoints
from cases.people.audit import audit_record
from cases.people.roles import administrator_required

LOG_PAGE = 50


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text="https:// (plain http:// and internal addresses only for hosts in WEBHOOK_ALLOWED_HOSTS).",
    )
    events = forms.MultipleChoiceField(
        choices=CaseEvent.Kind.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The event types POSTed to this URL (docs/notifications.md shows each payload).",
    )
    streams = forms.ModelMultipleChoiceField(
        queryset=Stream.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Only these streams' events; none ticked: every stream.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "events", "streams"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        endpoints.check_endpoint_url(url)
        return url


def _show_secret_once(request: HttpRequest, endpoint: WebhookEndpoint, secret: str) -> HttpResponse:
    response = render(request, "cases/webhook_secret.html", {"endpoint": endpoint, "secret": secret})
    response["Cache-Control"] = "no-store"
    return response


@administrator_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    pending = Count("messages", filter=Q(messages__state=WebhookMessage.State.PENDING))
    rows = WebhookEndpoint.objects.prefetch_related("streams").annotate(pending=pending).order_by("name")
    return render(request, "cases/webhook_list.html", {"endpoints": rows})


@administrator_required
def webhook_new(request: HttpRequest) -> HttpResponse:
    initial = {"events": [kind for kind in CaseEvent.Kind.values if kind.startswith(("case.", "task."))]}
    form = WebhookEndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        endpoint, secret = endpoints.endpoint_create(
            name=form.cleaned_data["name"],
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            streams=form.cleaned_data["streams"],
        )
        audit_record(
            request=request, action="webhook.created", target=endpoint, details={"url": endpoint.url}
        )
        return _show_secret_once(request, endpoint, secret)
    return render(request, "cases/webhook_form.html", {"form": form})


@administrator_required
def webhook_edit(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    form = WebhookEndpointForm(request.POST or None, instance=endpoint)
    if request.method == "POST" and form.is_valid():
        form.save()
        audit_record(
            request=request, action="webhook.changed", target=endpoint, details={"fields": form.changed_data}
        )
        messages.success(request, f"Webhook endpoint “{endpoint.name}” saved.")
        return redirect("webhook_list")
    return render(request, "cases/webhook_form.html", {"form": form, "endpoint": endpoint})


@administrator_required
@require_POST
def webhook_new_secret(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    secret = endpoints.endpoint_new_secret(endpoint=endpoint)
    audit_record(request=request, action="webhook.new_secret", target=endpoint)
    return _show_secret_once(request, endpoint, secret)


@administrator_required
@require_POST
def webhook_switch(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    on = request.POST.get("on") == "1"
    endpoints.endpoint_switch(endpoint=endpoint, on=on)
    audit_record(
        request=request, action="webhook.switched_on" if on else "webhook.switched_off", target=endpoint
    )
    messages.success(
        request,
        f"“{endpoint.name}” is on: waiting events go next."
        if on
        else f"“{endpoint.name}” is off: nothing is sent, and its new events are not kept.",
    )
    if request.POST.get("back") == "log":
        return redirect("webhook_log", endpoint.pk)
    return redirect("webhook_list")


@administrator_required
def webhook_log(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """Messages newest first, each with its attempts and the receiver's answers; keyset pages."""
    endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
    log = endpoint.messages.select_related("event").prefetch_related("attempt_log").order_by("-id")
    state = request.GET.get("state", "")
    if state in WebhookMessage.State.values:
        log = log.filter(state=state)
    before = request.GET.get("before", "")
    if before.isdigit():
        log = log.filter(id__lt=int(before))
    page = list(log[: LOG_PAGE + 1])
    more = len(page) > LOG_PAGE
    context = {
        "endpoint": endpoint,
        "log": page[:LOG_PAGE],
        "next_before": page[LOG_PAGE - 1].pk if more else None,
        "state": state,
        "states": WebhookMessage.State.choices,
    }
    return render(request, "cases/webhook_log.html", context)


@administrator_required
@require_POST
def webhook_send_again(request: HttpRequest, endpoint_id: int, message_id: int) -> HttpResponse:
    message = get_object_or_404(WebhookMessage, pk=message_id, endpoint_id=endpoint_id)
    endpoints.message_send_again(message=message)
    audit_record(
        request=request,
        action="webhook.sent_again",
        target=message.endpoint,
        details={"webhook_id": message.webhook_id},
    )
    messages.success(request, f"{message.webhook_id} is queued again, with the same webhook-id.")
    return redirect("webhook_log", endpoint_id)
