"""One log line per request: method, path, status, duration, and the user's id or the API
client's (``api_client``, its client id: reads through the gateway are recorded here).

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
        client_id = getattr(user, "client_id", None)  # an API client, not a person
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
                "user": user.pk if user is not None and user.is_authenticated and not client_id else None,
                "api_client": client_id,
            },
        )
        return response
