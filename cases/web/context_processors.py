"""Template context shared by every page."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from cases.models import SavedView
from cases.web.browsing import one_click_views


def saved_views(request) -> dict:
    """The navigation's views menu: the one-click views of the case list, and the saved views
    (the user's own and shared ones), read only when a page renders the navigation."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_saved_views": [], "nav_case_views": []}
    return {
        "nav_saved_views": SimpleLazyObject(lambda: list(SavedView.objects.visible_to(user)[:30])),
        "nav_case_views": SimpleLazyObject(lambda: one_click_views(request)),
    }
