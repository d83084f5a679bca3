"""Show times in each user's own time zone.

The browser reports its zone (``Intl.DateTimeFormat().resolvedOptions().timeZone``) in a
``tz`` cookie set by static/js/timezone.js; until it does, PORTAL_TIME_ZONE applies.
"""

from __future__ import annotations

import zoneinfo

from django.utils import timezone


class UserTimezoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = request.COOKIES.get("tz", "")
        try:
            timezone.activate(zoneinfo.ZoneInfo(name)) if name else timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        return self.get_response(request)
