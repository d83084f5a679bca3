"""From a sign-in's verified claims (the ID token's, with what only userinfo said of the person:
see ``provider``) to a portal user: matched by (issuer, sub), linked to an existing local
account only when that is safe, otherwise created just in time; then the role and streams the
groups claim gives under ``OIDC_ROLE_MAP``. One transaction, no HTTP.

Linking rules, for an (issuer, sub) seen for the first time. A *local account* is an active
one that no single sign-on identity is linked to; only those are ever linked.

- no account has the token's e-mail (or the token has none): a new person, with an unusable
  local password, username from ``preferred_username`` (made unique), viewer of no stream;
- exactly one local account has it, and the provider says the e-mail is verified
  (``email_verified``): that account is linked (audited), whatever deactivated accounts or
  accounts of other identities also have the e-mail;
- anything else (e-mail not verified, several local accounts, or no local account but a
  deactivated one or one linked to another identity): refused, with a page telling the person
  to ask an administrator. Creating a second account there would split one person in two, or
  bring back someone an administrator deactivated.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import OIDCIdentity, Stream
from cases.people import roles
from cases.people.audit import audit_record
from cases.sso.config import GroupGrant, OIDCConfig
from cases.sso.provider import SignInFailed

log = logging.getLogger(__name__)
User = get_user_model()

ROLE_RANK = [roles.VIEWER, roles.AGENT, roles.ADMINISTRATOR]


def account_refused(detail: str, message: str) -> SignInFailed:
    return SignInFailed("account_refused", message, status=403, detail=detail)


@dataclass(frozen=True)
class SignedInPerson:
    """Who signed in, and the stream ids their groups gave under ``OIDC_ROLE_MAP`` that match no
    stream (so the sign-in's record can tell an administrator why a stream is missing)."""

    user: AbstractBaseUser
    unknown_streams: tuple[str, ...] = ()


def person_signed_in(*, config: OIDCConfig, claims: Mapping, request=None) -> SignedInPerson:
    """The person these verified claims stand for, created or linked if need be, with name,
    e-mail, role and streams brought up to date. Raises ``SignInFailed`` when the portal must
    not sign this person in."""
    try:
        return _signed_in(config=config, claims=claims, request=request)
    except IntegrityError:
        # The same person's first sign-in in another tab made the account a moment ago (its
        # identity, or the username): everything this one wrote is rolled back; now it is found.
        return _signed_in(config=config, claims=claims, request=request)


def _identity(issuer: str, subject: str) -> OIDCIdentity | None:
    return OIDCIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()


def _signed_in(*, config: OIDCConfig, claims: Mapping, request):
    issuer, subject = claims["iss"], claims["sub"]
    with transaction.atomic():
        identity = _identity(issuer, subject)
        created = False
        if identity is None:
            user, created = _link_or_create(issuer=issuer, subject=subject, claims=claims, request=request)
            identity = OIDCIdentity.objects.create(user=user, issuer=issuer, subject=subject)
        else:
            user = identity.user
            if not user.is_active:
                raise account_refused(
                    f"user {user.pk} is deactivated",
                    "Your portal account is deactivated. Ask an administrator if you need access again.",
                )
            _update_profile(user, claims)
        identity.last_sign_in_at = timezone.now()
        identity.save(update_fields=["last_sign_in_at"])
        groups = groups_of(claims, config.groups_claim)
        changed = apply_role_map(user, groups=groups, role_map=config.role_map, new=created)
        unknown = streams_matching_nothing(groups=groups, role_map=config.role_map)
        if changed:
            audit_record(
                request=request,
                actor=user,
                action="user.access_changed",
                target=user,
                details={
                    "source": "single sign-on",
                    "changed": changed,
                    "role": roles.role_of(user) or "none",
                    "streams": sorted(user.member_streams.values_list("name", flat=True)),
                },
            )
    if unknown:
        log.warning(
            "OIDC_ROLE_MAP gives user %s streams that match no stream, so none were given: %s",
            user.pk,
            ", ".join(unknown),
        )
    return SignedInPerson(user=user, unknown_streams=tuple(unknown))


def _link_or_create(*, issuer: str, subject: str, claims: Mapping, request) -> tuple:
    email = (claims.get("email") or "").strip()
    same_email = User.objects.filter(email__iexact=email) if email else User.objects.none()
    if not same_email.exists():
        user = User(username=unique_username(claims), email=email[:254])
        _set_names(user, claims)
        user.set_unusable_password()
        user.save()
        roles.set_role(user, roles.VIEWER)
        audit_record(
            request=request,
            actor=user,
            action="sso.user_created",
            target=user,
            details={"issuer": issuer, "subject": subject, "username": user.get_username()},
        )
        return user, True

    ask = "Ask an administrator to link your account."
    # This same identity may have been linked a moment ago by the person's other tab: then the
    # account is theirs, and storing the identity again meets the other's (person_signed_in).
    elsewhere = OIDCIdentity.objects.exclude(issuer=issuer, subject=subject).values("user")
    local = list(same_email.filter(is_active=True).exclude(pk__in=elsewhere))
    if len(local) > 1:
        raise account_refused(
            f"{len(local)} local accounts have the e-mail {email}",
            f"Several portal accounts have the e-mail address {email}, so the portal cannot tell "
            f"which one is yours. {ask}",
        )
    if not local:
        if same_email.filter(is_active=True).exists():
            raise account_refused(
                f"the account with the e-mail {email} is linked to another single sign-on identity",
                f"The portal account with the e-mail address {email} is already linked to another "
                f"single sign-on account. {ask}",
            )
        raise account_refused(
            f"the account with the e-mail {email} is deactivated",
            "The portal account with your e-mail address is deactivated. Ask an administrator if you "
            "need access again.",
        )
    (user,) = local
    if not email_verified(claims):
        raise account_refused(
            f"e-mail {email} not verified by the provider",
            f"A portal account already has the e-mail address {email}, and your identity provider "
            f"does not say that address is verified, so the portal will not link them. {ask}",
        )
    _update_profile(user, claims)
    audit_record(
        request=request,
        actor=user,
        action="sso.account_linked",
        target=user,
        details={"issuer": issuer, "subject": subject, "email": email},
    )
    return user, False


def _set_names(user, claims: Mapping) -> None:
    given, family = claims.get("given_name"), claims.get("family_name")
    if isinstance(given, str) or isinstance(family, str):
        user.first_name, user.last_name = (given or "")[:150], (family or "")[:150]
    elif isinstance(claims.get("name"), str):
        # Not every name splits into a first and a last: keep it whole.
        user.first_name, user.last_name = claims["name"][:150], ""


def email_verified(claims: Mapping) -> bool:
    """Whether the provider says the token's e-mail is the person's (some send "true")."""
    return claims.get("email_verified") in (True, "true")


def _update_profile(user, claims: Mapping) -> None:
    """The name follows the provider at each sign-in, the e-mail only when the provider says it
    is verified (an unverified one could be anybody's); saved (and audited) only on change."""
    before = (user.first_name, user.last_name, user.email)
    _set_names(user, claims)
    if email_verified(claims) and isinstance(claims.get("email"), str) and claims["email"].strip():
        user.email = claims["email"].strip()[:254]
    if (user.first_name, user.last_name, user.email) != before:
        user.save(update_fields=["first_name", "last_name", "email"])


USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")


def unique_username(claims: Mapping) -> str:
    """``preferred_username`` (else the e-mail, else ``sub``) in Django's username alphabet,
    with ``-2``, ``-3``… when taken. Never a reason to link: usernames are not verified."""
    wanted = claims.get("preferred_username") or claims.get("email") or f"sso-{claims['sub']}"
    base = USERNAME_UNSAFE.sub("-", str(wanted)).strip("-")[:140] or "sso-user"
    candidate, n = base, 2
    while User.objects.filter(username__iexact=candidate).exists():
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def groups_of(claims: Mapping, claim: str) -> set[str]:
    """The person's groups from the groups claim: a list of names (or one name)."""
    value = claims.get(claim)
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {group for group in value if isinstance(group, str)}
    return set()


def apply_role_map(user, *, groups: set[str], role_map: Mapping[str, GroupGrant], new: bool) -> list[str]:
    """Give ``user`` what their groups give under ``role_map``, replacing what the map controls:

    - the role, when any group in the map gives one: the highest role of the person's groups,
      or viewer when none of them gives one (so leaving a group at the provider takes the role
      away at the next sign-in);
    - membership of every stream the map names: a member exactly when one of the person's
      groups lists it. Streams the map does not name are left to administrators.

    Without a map, a new person is a viewer of no stream and nothing else changes. Superusers
    are never changed (they see and may do everything anyway). Returns what changed."""
    if user.is_superuser:
        return []
    changed = []
    granted = [role_map[group] for group in sorted(groups) if group in role_map]
    if any(grant.role for grant in role_map.values()):
        given = [grant.role for grant in granted if grant.role]
        role = max(given, key=ROLE_RANK.index) if given else roles.VIEWER
    else:
        role = roles.VIEWER if new else roles.role_of(user)
    if role != roles.role_of(user):
        roles.set_role(user, role)
        changed.append("role")

    controlled = {stream_id for grant in role_map.values() for stream_id in grant.streams}
    if controlled:
        wanted = {stream_id for grant in granted for stream_id in grant.streams}
        current = set(user.member_streams.filter(stream_id__in=controlled))
        should = set(Stream.objects.filter(stream_id__in=wanted))
        if current != should:
            user.member_streams.remove(*(current - should))
            user.member_streams.add(*(should - current))
            changed.append("streams")
    return changed


def streams_matching_nothing(*, groups: set[str], role_map: Mapping[str, GroupGrant]) -> list[str]:
    """The stream ids the person's groups give under ``role_map`` that match no stream (a typo
    in the map, or a stream since deleted): ``apply_role_map`` can give nobody those."""
    wanted = {stream_id for group in groups if group in role_map for stream_id in role_map[group].streams}
    known = set(Stream.objects.filter(stream_id__in=wanted).values_list("stream_id", flat=True))
    return sorted(wanted - known)
