"""Django's ModelBackend, reading a person's permissions with the person instead of in two
queries of their own: every page checks a role (cases/roles.py), so this is paid per request."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL

# Every "app_label.codename" the person holds, directly or through a group, as one string.
PERMISSION_NAMES_SQL = """
SELECT {aggregate} FROM (
    SELECT ct.app_label || '.' || p.codename AS name
    FROM auth_permission p
    JOIN django_content_type ct ON ct.id = p.content_type_id
    JOIN auth_user_user_permissions up ON up.permission_id = p.id
    WHERE up.user_id = {user_table}.id
    UNION
    SELECT ct.app_label || '.' || p.codename
    FROM auth_permission p
    JOIN django_content_type ct ON ct.id = p.content_type_id
    JOIN auth_group_permissions gp ON gp.permission_id = p.id
    JOIN auth_user_groups ug ON ug.group_id = gp.group_id
    WHERE ug.user_id = {user_table}.id
) AS held
"""
AGGREGATES = {"sqlite": "group_concat(name, ' ')", "postgresql": "string_agg(name, ' ')"}


class PortalModelBackend(ModelBackend):
    def get_user(self, user_id):
        aggregate = AGGREGATES.get(connection.vendor)
        if aggregate is None:
            return super().get_user(user_id)
        user_model = get_user_model()
        sql = PERMISSION_NAMES_SQL.format(aggregate=aggregate, user_table=user_model._meta.db_table)
        # Built only from constants above and the user model's table name: no outside input.
        held = RawSQL(sql, [])  # noqa: S611
        try:
            user = user_model._default_manager.annotate(held_permissions=held).get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        if not self.user_can_authenticate(user):
            return None
        if not user.is_superuser:  # a superuser holds every permission without a lookup
            user._perm_cache = set((user.held_permissions or "").split())
        return user

    def get_all_permissions(self, user_obj, obj=None):
        """One query (user and group permissions together) for a user not loaded by get_user."""
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            permissions = Permission.objects.all()
            if not user_obj.is_superuser:
                permissions = permissions.filter(Q(user=user_obj) | Q(group__user=user_obj))
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in permissions.values_list("content_type__app_label", "codename")
                .order_by()
                .distinct()
            }
        return user_obj._perm_cache
