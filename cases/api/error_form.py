"""Kore's error form on every answer under /caseManagement/: a tool that speaks to the portal as
it would to Kore reads ``{"errors":[{"msg","code"}]}`` whatever went wrong, not an HTML page (an
unknown path, a wrong method, a body Django refuses to read, a server error)."""

from __future__ import annotations

import json

from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse

from cases.kore.errors import error_json

KORE_PATH_PREFIX = "/caseManagement/"
MESSAGES = {
    400: "The request is malformed.",
    403: "Forbidden.",
    404: "No such API endpoint.",
    405: "Method not allowed.",
    413: "The request body is too large.",
    500: "The portal failed to answer; the error is logged.",
}


def kore_error_response(status: int, message: str) -> HttpResponse:
    return HttpResponse(error_json(status, message), status=status, content_type="application/json")


def _in_kore_form(response: HttpResponse) -> bool:
    if "json" not in response.get("Content-Type", "") or getattr(response, "streaming", False):
        return False
    try:
        payload = json.loads(response.content or b"null")
    except ValueError:
        return False
    return isinstance(payload, dict) and isinstance(payload.get("errors"), list)


class KoreErrorFormMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(KORE_PATH_PREFIX) or response.status_code < 400:
            return response
        if _in_kore_form(response):
            return response
        status = response.status_code
        answer = kore_error_response(status, MESSAGES.get(status, response.reason_phrase or "Error."))
        for header in ("Retry-After", "X-Portal-Case-Id"):
            if header in response:
                answer[header] = response[header]
        return answer

    def process_exception(self, request, exception):
        # Django refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE when it is read: too large, not malformed.
        if request.path.startswith(KORE_PATH_PREFIX) and isinstance(exception, RequestDataTooBig):
            return kore_error_response(413, MESSAGES[413])
        return None
