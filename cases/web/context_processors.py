"""Template context shared by every page."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from cases.models import SavedView


def saved_views(request) -> dict:
    """The navigation's saved views (the user's own and shared ones), read only when a page
    renders the navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_saved_views": []}
    return {"nav_saved_views": SimpleLazyObject(lambda: list(SavedView.objects.visible_to(user)[:30]))}
