"""Refuse oversize requests before anything reads them: 413 at once, from the declared
Content-Length, so a large body never reaches a form, a view or memory. (A body sent without a
length is still bounded by Django's DATA_UPLOAD_MAX_MEMORY_SIZE when it is read.)"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse

API_PREFIXES = ("/api/", "/caseManagement/")


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        declared = (request.META.get("CONTENT_LENGTH") or "0").strip()
        if not (declared.isascii() and declared.isdigit()):
            return refusal(request, 400, "The Content-Length header is not a number.")
        length = int(declared)
        if length > settings.MAX_REQUEST_BODY_BYTES:
            limit_mb = settings.MAX_REQUEST_BODY_BYTES / 1024 / 1024
            message = f"The request is larger than the portal accepts ({limit_mb:.0f} MB)."
            return refusal(request, 413, message)
        return self.get_response(request)


def refusal(request, status: int, message: str) -> HttpResponse:
    """Kore's error form for the API, plain text for pages."""
    if request.path.startswith(API_PREFIXES):
        body = json.dumps({"errors": [{"msg": message, "code": status}]})
        response = HttpResponse(body, status=status, content_type="application/json")
    else:
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    # No "Connection: close" here: WSGI forbids hop-by-hop headers (the server answers 500), and
    # the servers themselves skip an unread body before reading the next request.
    return response
