"""One log line per request: method, path, status, duration and user id.

Only the path is logged, never the query string or the body: a query could carry a token or a
person's data, and the log is read by more people than the database.
"""

from __future__ import annotations

import logging
import time

logger = logging.getLogger("cases.requests")


class RequestLogMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        user = getattr(request, "user", None)
        logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
                "user": user.pk if user is not None and user.is_authenticated else None,
            },
        )
        return response
