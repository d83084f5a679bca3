"""The ``OIDC_*`` settings as one object, and the role map read and checked.

``OIDC_ROLE_MAP`` is JSON from a provider group to what membership of it gives::

    {"case-admins": {"role": "administrator"},
     "support-emea": {"role": "agent", "streams": ["st-…"]}}

A role is ``administrator``, ``agent`` or ``viewer``; streams are Kore stream ids (``st-…``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from cases.people import roles


@dataclass(frozen=True)
class GroupGrant:
    """What one provider group gives: a role, streams, or both."""

    role: str | None
    streams: tuple[str, ...]


@dataclass(frozen=True)
class OIDCConfig:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    provider_name: str
    groups_claim: str
    role_map_json: str
    only: bool

    @property
    def role_map(self) -> dict[str, GroupGrant]:
        return parse_role_map(self.role_map_json)

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def sso_config() -> OIDCConfig | None:
    """Single sign-on's configuration, or None when ``OIDC_ISSUER`` is not set."""
    if not settings.OIDC_ISSUER:
        return None
    return OIDCConfig(
        issuer=settings.OIDC_ISSUER,
        client_id=settings.OIDC_CLIENT_ID,
        client_secret=settings.OIDC_CLIENT_SECRET,
        provider_name=settings.OIDC_PROVIDER_NAME,
        groups_claim=settings.OIDC_GROUPS_CLAIM,
        role_map_json=settings.OIDC_ROLE_MAP,
        only=settings.OIDC_ONLY,
    )


@lru_cache(maxsize=8)
def parse_role_map(text: str) -> dict[str, GroupGrant]:
    """``OIDC_ROLE_MAP`` read and checked; an empty value is an empty map."""
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"OIDC_ROLE_MAP is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ImproperlyConfigured("OIDC_ROLE_MAP must be a JSON object from group name to a grant.")
    grants = {}
    for group, grant in raw.items():
        where = f"OIDC_ROLE_MAP[{group!r}]"
        if not isinstance(grant, dict) or not grant or set(grant) - {"role", "streams"}:
            raise ImproperlyConfigured(f'{where} must be an object with "role", "streams" or both.')
        role = grant.get("role")
        if role is not None and role not in roles.ROLES:
            raise ImproperlyConfigured(f"{where}: the role must be one of {', '.join(roles.ROLES)}.")
        streams = grant.get("streams", [])
        if not isinstance(streams, list) or not all(isinstance(s, str) and s for s in streams):
            raise ImproperlyConfigured(f'{where}: "streams" must be a list of Kore stream ids.')
        grants[group] = GroupGrant(role=role, streams=tuple(streams))
    return grants


@register()
def check_role_map(app_configs=None, **kwargs) -> list[Error]:
    """``manage.py check`` (and so migrate, runserver and the deploy check) refuses a role map
    that would fail at the first sign-in."""
    try:
        parse_role_map(settings.OIDC_ROLE_MAP)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="cases.sso.E001")]
    return []
