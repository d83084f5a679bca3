"""The sign-in and sign-out pages: the local form, "Sign in with <provider>", the provider's
callback, the break-glass form for superusers under ``OIDC_ONLY``, and signing out (at the
provider too when it offers RP-initiated logout). Thin: ``provider`` and ``provisioning`` do
the work, and every failure ends on one page that signs nobody in and is audited."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_GET, require_POST

from cases.people import roles
from cases.people.audit import audit_record
from cases.sso import provider, provisioning
from cases.sso.config import OIDCConfig, sso_config
from cases.sso.provider import SignInFailed

log = logging.getLogger(__name__)

# What the session keeps of a single sign-on: the issuer and the ID token (the logout hint).
SSO_SESSION_KEY = "sso"
# Single sign-on signs people in with the portal's own model backend (no password involved).
BACKEND = "django.contrib.auth.backends.ModelBackend"


def _safe_next(request: HttpRequest, url: str | None) -> str:
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return ""


def _sso_start_url(request: HttpRequest) -> str:
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    return reverse("sso_start") + (f"?{urlencode({'next': next_url})}" if next_url else "")


class PortalLoginView(auth_views.LoginView):
    """The sign-in page: "Sign in with <provider>" when single sign-on is configured, and the
    local username and password form unless ``OIDC_ONLY`` turns it off."""

    redirect_authenticated_user = True
    break_glass = False

    def local_form_offered(self) -> bool:
        config = sso_config()
        return self.break_glass or config is None or not config.only

    def post(self, request, *args, **kwargs):
        if not self.local_form_offered():
            # Never check a password here under OIDC_ONLY, whatever the request says.
            messages.error(request, "Sign-in with a portal password is turned off. Use single sign-on.")
            return redirect(request.get_full_path())
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        config = sso_config()
        context.update(
            sso=config,
            sso_start_url=_sso_start_url(self.request) if config else "",
            local_form=self.local_form_offered(),
            break_glass=self.break_glass,
        )
        return context


class SuperuserAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "Please enter the correct username and password of a superuser account. "
        "Note that both fields may be case-sensitive.",
    }

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not user.is_superuser:
            # The same words as a wrong password: the form tells nobody which accounts exist.
            raise forms.ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


@method_decorator(login_not_required, name="dispatch")
class BreakGlassLoginView(PortalLoginView):
    """Under ``OIDC_ONLY``, the local form for superusers only (when the provider is down or
    misconfigured), at its own URL; every attempt is in the audit trail."""

    form_class = SuperuserAuthenticationForm
    redirect_authenticated_user = False
    break_glass = True

    def dispatch(self, request, *args, **kwargs):
        config = sso_config()
        if config is None or not config.only:
            query = request.META.get("QUERY_STRING", "")
            return HttpResponseRedirect(reverse("login") + (f"?{query}" if query else ""))
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        audit_record(
            request=self.request,
            actor=form.get_user(),
            action="sign_in.break_glass",
            target=form.get_user(),
        )
        return super().form_valid(form)

    def form_invalid(self, form):
        audit_record(
            request=self.request,
            action="sign_in.break_glass_refused",
            details={"username": str(form.data.get("username", ""))[:150]},
        )
        return super().form_invalid(form)


@login_not_required
def admin_sign_in(request: HttpRequest) -> HttpResponse:
    """The admin site's own password form would let staff around ``OIDC_ONLY``: there, it sends
    them to the break-glass form (superusers) instead."""
    config = sso_config()
    if config is not None and config.only:
        query = request.META.get("QUERY_STRING", "")
        return HttpResponseRedirect(reverse("login_local") + (f"?{query}" if query else ""))
    return admin.site.login(request)


def _required_config() -> OIDCConfig:
    config = sso_config()
    if config is None:
        raise Http404("Single sign-on is not configured.")
    return config


def sign_in_failed(request: HttpRequest, failure: SignInFailed, config: OIDCConfig) -> HttpResponse:
    """The one page every failed single sign-on ends on: what happened in plain words, a way
    back, nobody signed in, and a record in the audit trail."""
    log.warning("single sign-on failed: %s", failure)
    audit_record(
        request=request,
        action="sso.failed",
        details={"reason": failure.reason, "detail": failure.detail[:500], "issuer": config.issuer},
    )
    return render(request, "sso/failed.html", {"failure": failure, "sso": config}, status=failure.status)


@login_not_required
@require_GET
@never_cache
def sso_start(request: HttpRequest) -> HttpResponse:
    """Off to the provider, with state, nonce and a PKCE challenge waiting in this session."""
    config = _required_config()
    try:
        url = provider.authorization_url(
            request,
            config,
            redirect_uri=request.build_absolute_uri(reverse("sso_callback")),
            next_url=_safe_next(request, request.GET.get("next")),
        )
    except SignInFailed as failure:
        return sign_in_failed(request, failure, config)
    return HttpResponseRedirect(url)


def internal_failure(exc: Exception) -> SignInFailed:
    """A fault of the portal's own during a sign-in; only its type goes to the audit trail (the
    traceback is in the server log), so no message can carry a secret there."""
    return SignInFailed(
        "internal_error",
        "Something went wrong in the portal while signing you in. Try again in a minute; if it keeps "
        "happening, tell an administrator.",
        status=500,
        detail=f"{type(exc).__name__} in the portal (the server log has the traceback)",
    )


@login_not_required
@require_GET
@never_cache
def sso_callback(request: HttpRequest) -> HttpResponse:
    """The provider's answer: checked, turned into a person, signed in; or the failure page,
    whatever went wrong (a fault of the portal's own too, which also undoes a sign-in)."""
    config = _required_config()
    try:
        return _finish_sign_in(request, config)
    except SignInFailed as failure:
        return sign_in_failed(request, failure, config)
    except Exception as exc:  # noqa: BLE001 - any fault ends on the audited page, never a bare 500
        log.error("single sign-on failed in the portal", exc_info=True)
        if request.user.is_authenticated:
            logout(request)  # signed in a moment ago: a sign-in that failed leaves nobody signed in
        return sign_in_failed(request, internal_failure(exc), config)


def _finish_sign_in(request: HttpRequest, config: OIDCConfig) -> HttpResponse:
    signed_in = provider.finish_authorization(request, config)
    person = provisioning.person_signed_in(config=config, claims=signed_in.claims, request=request)
    user = person.user
    login(request, user, backend=BACKEND)
    request.session[SSO_SESSION_KEY] = {"issuer": config.issuer, "id_token": signed_in.id_token}
    details = {
        "issuer": config.issuer,
        "subject": signed_in.claims["sub"],
        "role": roles.role_of(user) or "none",
    }
    if person.unknown_streams:
        details["unknown_streams"] = list(person.unknown_streams)
    audit_record(request=request, actor=user, action="sso.signed_in", target=user, details=details)
    return HttpResponseRedirect(signed_in.next_url or settings.LOGIN_REDIRECT_URL)


@login_not_required
@require_POST
@csrf_protect
@never_cache
def sign_out(request: HttpRequest) -> HttpResponse:
    """Django's sign-out; after a single sign-on, then on to the provider's end_session
    endpoint (RP-initiated logout) when it has one, which comes back to the sign-in page."""
    sso_session = request.session.get(SSO_SESSION_KEY)
    user = request.user if request.user.is_authenticated else None
    response = auth_views.LogoutView.as_view()(request)
    config = sso_config()
    if not (sso_session and config and sso_session.get("issuer") == config.issuer):
        return response
    url = provider.end_session_url(
        config,
        id_token=sso_session.get("id_token", ""),
        post_logout_redirect_uri=request.build_absolute_uri(reverse("login")),
    )
    audit_record(
        request=request,
        actor=user,
        action="sso.signed_out",
        target=user,
        details={"issuer": config.issuer, "at_provider": url is not None},
    )
    return HttpResponseRedirect(url) if url else response
