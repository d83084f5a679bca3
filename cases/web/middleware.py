"""The site's own middleware: refusing oversize requests before they are read, and showing times
in each person's time zone.

Oversize requests: 413 at once, from the declared Content-Length, so a large body never reaches
a form, a view or memory. The Kore-style proxy under /caseManagement/ takes at most
PROXY_MAX_BODY_BYTES, everything at most MAX_REQUEST_BODY_BYTES. (A body sent without a length
is still bounded when it is read: by the proxy's own check, or by Django's
DATA_UPLOAD_MAX_MEMORY_SIZE.)

Time zones: the browser reports its zone (``Intl.DateTimeFormat().resolvedOptions().timeZone``)
in a ``tz`` cookie set by static/js/timezone.js; until it does, PORTAL_TIME_ZONE applies.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone

from cases.kore.errors import error_json

API_PREFIXES = ("/api/", "/caseManagement/")


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        declared = (request.META.get("CONTENT_LENGTH") or "0").strip()
        if not (declared.isascii() and declared.isdigit()):
            return refusal(request, 400, "The Content-Length header is not a number.")
        length = int(declared)
        limit = settings.MAX_REQUEST_BODY_BYTES
        if request.path.startswith("/caseManagement/"):
            limit = min(limit, settings.PROXY_MAX_BODY_BYTES)
        if length > limit:
            size = f"{limit / 1024 / 1024:.0f} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
            return refusal(request, 413, f"The request body is too large: the portal accepts at most {size}.")
        return self.get_response(request)


def refusal(request, status: int, message: str) -> HttpResponse:
    """Kore's error form for the API, plain text for pages."""
    if request.path.startswith(API_PREFIXES):
        response = HttpResponse(error_json(status, message), status=status, content_type="application/json")
    else:
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    # No "Connection: close" here: WSGI forbids hop-by-hop headers (the server answers 500), and
    # the servers themselves skip an unread body before reading the next request.
    return response


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
