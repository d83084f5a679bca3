"""Administrators' pages for people: their role, their streams, their access; and each person's
own account page (change password, sign out everywhere, what they are told)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from cases.models import Stream
from cases.notify.follows import settings_of
from cases.people import roles
from cases.people.audit import audit_record
from cases.people.roles import administrator_required, held_permissions
from cases.people.sessions import sign_out_everywhere
from cases.web.notifications import NotificationSettingsForm

User = get_user_model()


class AccessFields(forms.Form):
    """The role and the streams of a person: the part of the user forms that is the portal's."""

    role = forms.ChoiceField(
        choices=[("", "No role (cannot see anything)"), *roles.ROLE_CHOICES],
        required=False,
        help_text="Administrators manage the portal and see every stream; agents submit and browse "
        "cases of their streams; viewers only browse them.",
    )
    streams = forms.ModelMultipleChoiceField(
        queryset=Stream.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Agents and viewers see only these streams' cases. Administrators see every stream.",
    )


class UserCreateForm(UserCreationForm):
    """A new person: username and a password checked by Django's validators, then access."""

    role = AccessFields.base_fields["role"]
    streams = AccessFields.base_fields["streams"]

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ["username", "first_name", "last_name", "email"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The page opens at its top (skip link, navigation), like every other form here.
        self.fields["username"].widget.attrs.pop("autofocus", None)


class UserEditForm(forms.ModelForm):
    role = AccessFields.base_fields["role"]
    streams = AccessFields.base_fields["streams"]

    class Meta:
        model = User
        fields = ["first_name", "last_name", "email", "is_active"]
        help_texts = {"is_active": "An inactive person cannot sign in; their sessions end at once."}

    def __init__(self, *args, editor, **kwargs):
        super().__init__(*args, **kwargs)
        self.editor = editor
        self.initial.setdefault("role", roles.role_of(self.instance) or "")
        self.initial.setdefault("streams", list(self.instance.member_streams.all()))

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk == self.editor.pk:
            # An administrator cannot lock themselves out; another one must do it.
            if cleaned.get("is_active") is False:
                self.add_error("is_active", "You cannot deactivate your own account.")
            gives_up_administration = (
                roles.role_of(self.instance) == roles.ADMINISTRATOR
                and cleaned.get("role") != roles.ADMINISTRATOR
                and not self.instance.is_superuser
            )
            if gives_up_administration:
                self.add_error("role", "You cannot take away your own administrator role.")
        return cleaned


def save_access(user, form: forms.Form) -> list[str]:
    """Apply the role and streams of a valid user form; returns what changed (for the audit)."""
    changed = []
    role = form.cleaned_data["role"] or None
    if role != roles.role_of(user):
        roles.set_role(user, role)
        changed.append("role")
    streams = set(form.cleaned_data["streams"])
    if streams != set(user.member_streams.all()):
        user.member_streams.set(streams)
        changed.append("streams")
    return changed


def access_details(user) -> dict:
    return {
        "role": roles.role_of(user) or "none",
        "streams": sorted(stream.name for stream in user.member_streams.all()),
    }


@administrator_required
def user_list(request: HttpRequest) -> HttpResponse:
    people = User.objects.order_by("-is_active", "username").prefetch_related(
        *roles.PERMISSIONS_PREFETCH, Prefetch("member_streams", queryset=Stream.objects.order_by("name"))
    )
    labels = {role.key: role.label for role in roles.ROLES.values()}
    rows = []
    for person in people:
        # Judged by permissions, as everywhere: a custom group with the same ones counts too.
        held = held_permissions(person)
        role = roles.ADMINISTRATOR if person.is_superuser else roles.role_for(held.__contains__)
        rows.append(
            {
                "person": person,
                "role": labels.get(role, ""),
                "streams": [stream.name for stream in person.member_streams.all()],
            }
        )
    return render(request, "cases/user_list.html", {"rows": rows})


@administrator_required
def user_new(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            person = form.save()
            save_access(person, form)
            audit_record(
                request=request, action="user.access_changed", target=person, details=access_details(person)
            )
        messages.success(request, f"{person.get_username()} can now sign in.")
        return redirect("user_list")
    return render(request, "cases/user_form.html", {"form": form})


@administrator_required
def user_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    person = get_object_or_404(User, pk=user_id)
    form = UserEditForm(request.POST or None, instance=person, editor=request.user)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            changed = save_access(person, form)
            if changed:
                audit_record(
                    request=request,
                    action="user.access_changed",
                    target=person,
                    details=access_details(person),
                )
        if "is_active" in form.changed_data and not person.is_active:
            sign_out_everywhere(person)
        messages.success(request, f"{person.get_username()} saved.")
        return redirect("user_list")
    return render(request, "cases/user_form.html", {"form": form, "person": person})


@administrator_required
@require_POST
def user_sign_out_everywhere(request: HttpRequest, user_id: int) -> HttpResponse:
    person = get_object_or_404(User, pk=user_id)
    ended = sign_out_everywhere(person)
    audit_record(
        request=request, action="user.signed_out_everywhere", target=person, details={"count": ended}
    )
    if person.pk == request.user.pk:
        return redirect("login")
    messages.success(request, f"{person.get_username()} is signed out on every device ({ended} sessions).")
    return redirect("user_edit", person.pk)


def account(request: HttpRequest) -> HttpResponse:
    """Anyone signed in: who they are, what they may see, what they are told (e-mail, the daily
    digest, their time zone), and the buttons to stay safe."""
    return render(
        request,
        "cases/account.html",
        {
            "role": roles.ROLES.get(roles.role_of(request.user) or ""),
            "streams": request.user.member_streams.order_by("name"),
            "sees_every_stream": roles.sees_every_stream(request.user),
            "notify_form": NotificationSettingsForm(instance=settings_of(request.user), user=request.user),
            "sso_password": None if request.user.has_usable_password() else SSO_PASSWORD,
        },
    )


class PasswordChange(auth_views.PasswordChangeView):
    """Change one's portal password. Someone who signs in with the identity provider has none
    (an unusable one, set at their first sign-in): theirs is changed at the provider."""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not request.user.has_usable_password():
            messages.info(request, SSO_PASSWORD)
            return redirect("account")
        return super().dispatch(request, *args, **kwargs)


SSO_PASSWORD = (
    "You sign in with your company account, so you have no portal password: change your password "
    "at your identity provider."
)


@require_POST
def account_sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    """End this person's sessions on every device, this one included."""
    user = request.user
    sign_out_everywhere(user)
    audit_record(request=request, action="user.signed_out_everywhere", target=user)
    logout(request)
    messages.success(request, "You are signed out on every device.")
    return redirect("login")
