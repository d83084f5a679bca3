"""Who may do what. Three roles, each a Django group holding permissions:

- **Administrators** manage streams, templates, API clients and users, and see every stream;
- **Agents** submit, browse and work (change at Kore, add tasks to) any case of the streams they
  are members of;
- **Viewers** browse the cases of the streams they are members of; they cannot act on them.

Views check permissions (``cases.manage_portal``, ``cases.add_case``, ``cases.view_case``,
``cases.act_on_case``; ``cases.change_case`` means "manage any delivery"), never
group names, so a superuser or a custom group with the same permissions works too. What a person
sees is limited by stream membership (``Stream.members``) everywhere: lists, search, export,
dashboard and API, through ``visible_streams`` (cases/models/streams.py, the one rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied

from cases.models.streams import (
    BROWSE_CASES,
    VIEW_ALL_STREAMS,
    sees_every_stream,
    visible_streams,
    within_visible_streams,
)

__all__ = [
    "BROWSE_CASES",
    "VIEW_ALL_STREAMS",
    "sees_every_stream",
    "visible_streams",
    "within_visible_streams",
]

ADMINISTRATOR = "administrator"
AGENT = "agent"
VIEWER = "viewer"

MANAGE_PORTAL = "cases.manage_portal"
SUBMIT_CASES = "cases.add_case"
MANAGE_ANY_DELIVERY = "cases.change_case"
ACT_ON_CASES = "cases.act_on_case"


@dataclass(frozen=True)
class Role:
    key: str
    group: str
    label: str
    permissions: tuple[str, ...]
    summary: str


ROLES = {
    role.key: role
    for role in (
        Role(
            ADMINISTRATOR,
            "Administrators",
            "Administrator",
            (MANAGE_PORTAL, VIEW_ALL_STREAMS, SUBMIT_CASES, MANAGE_ANY_DELIVERY, ACT_ON_CASES, BROWSE_CASES),
            "Manages streams, templates, API clients and users; sees every stream.",
        ),
        Role(
            AGENT,
            "Agents",
            "Agent",
            (SUBMIT_CASES, ACT_ON_CASES, BROWSE_CASES),
            "Submits cases and works the cases of their streams.",
        ),
        Role(VIEWER, "Viewers", "Viewer", (BROWSE_CASES,), "Browses cases of their streams."),
    )
}
ROLE_CHOICES = [(role.key, role.label) for role in ROLES.values()]


def sync_role_groups(**kwargs) -> None:
    """Create the three groups with exactly their permissions (idempotent; run after every
    migrate, when Django has created the permissions)."""
    for role in ROLES.values():
        group, _ = Group.objects.get_or_create(name=role.group)
        wanted = set()
        for name in role.permissions:
            app_label, codename = name.split(".")
            wanted |= set(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        if set(group.permissions.all()) != wanted:
            group.permissions.set(wanted)


def role_of(user) -> str | None:
    """The role a person holds, judged by permissions: administrator, agent, viewer or None."""
    if not getattr(user, "is_authenticated", False) or not hasattr(user, "has_perm"):
        return None
    return role_for(user.has_perm)


def role_for(holds) -> str | None:
    """The role that ``holds(permission)`` amounts to: the highest whose permissions it has."""
    if holds(MANAGE_PORTAL):
        return ADMINISTRATOR
    if holds(SUBMIT_CASES):
        return AGENT
    if holds(BROWSE_CASES):
        return VIEWER
    return None


def held_permissions(user) -> set[str]:
    """A person's permissions ("app.codename"), their own and their groups', from what
    ``people_with_permissions`` prefetched: no query per person on a list of people."""
    permissions = [*user.user_permissions.all(), *(p for g in user.groups.all() for p in g.permissions.all())]
    return {f"{permission.content_type.app_label}.{permission.codename}" for permission in permissions}


PERMISSIONS_PREFETCH = (
    "user_permissions__content_type",
    "groups__permissions__content_type",
)


def set_role(user, role: str | None) -> None:
    """Put a person in exactly one role group (or none), leaving other groups alone."""
    role_groups = [r.group for r in ROLES.values()]
    if Group.objects.filter(name__in=role_groups).count() != len(role_groups):
        sync_role_groups()
    user.groups.remove(*Group.objects.filter(name__in=role_groups))
    if role:
        user.groups.add(Group.objects.get(name=ROLES[role].group))
    forget_cached_permissions(user)


def forget_cached_permissions(user) -> None:
    """Django keeps permissions on the user object: drop them after a change of role so the
    next check asks the database."""
    for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache, None)


def is_administrator(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_perm(MANAGE_PORTAL)


def permission_needed(permission: str, message: str):
    """A view decorator: 403 with ``message`` for a signed-in person without ``permission``
    (LoginRequiredMiddleware has already sent anonymous visitors to sign in)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.has_perm(permission):
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


administrator_required = permission_needed(
    MANAGE_PORTAL, "Only administrators can change the portal's configuration."
)
browse_permission_required = permission_needed(
    BROWSE_CASES, "Your account has no role yet. Ask an administrator to make you an agent or a viewer."
)
submit_permission_required = permission_needed(
    SUBMIT_CASES, "Only agents and administrators can submit cases."
)
act_permission_required = permission_needed(
    ACT_ON_CASES, "Only agents and administrators can change cases at Kore."
)
