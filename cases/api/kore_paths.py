"""What every gateway path under Kore's own ``/caseManagement/api/public/analytics/{streamId}/``
does before its own work: the API client's Kore-style JWT, the stream (active, one the client
may use), the client's right to the endpoint, the body's size and JSON, and, on a paced
stream, the client's fair share of the account's rate limit (429 with a truthful Retry-After
when a call would wait past GATEWAY_QUEUE_SECONDS). Every refusal in Kore's error form."""

from __future__ import annotations

import json
import logging
import math
from contextlib import nullcontext
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.api import config_cache
from cases.api.auth import KoreJWTAuthentication, KoreTokenFailed
from cases.api.errors import ERROR_SCHEMA, kore_errors
from cases.api.throttle import ApiClientThrottle
from cases.delivery import fair
from cases.models import ApiClient

logger = logging.getLogger(__name__)
ACCOUNT_HEADER = OpenApiParameter(
    "accountId", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False, description="Kore's header; the "
    "portal sends the stream's own."
)  # fmt: skip
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="The same key within 24 h returns the first outcome; never a second write.",
)
COMMON_ERRORS = {
    400: "Invalid body: every problem listed",
    401: "Missing, invalid, expired or replayed token",
    403: "The client may not use this stream or this endpoint",
    404: "Unknown stream (or case, or task)",
    413: "Body too large",
    429: "Over the client's share of the rate limit, or throttled (see Retry-After)",
    502: "Kore.ai unavailable or refused the portal's credentials",
    504: "Kore.ai did not answer in time",
}


def error_responses(*codes: int, **more: str) -> dict:
    texts = {**{code: COMMON_ERRORS[code] for code in codes}, **{int(k[1:]): v for k, v in more.items()}}
    return {code: OpenApiResponse(ERROR_SCHEMA, description=text) for code, text in texts.items()}


@dataclass
class Call:
    """A call that passed the checks: who, where, and what it sent."""

    client: ApiClient
    route: config_cache.StreamRoute
    body: dict

    @property
    def share(self) -> fair.Share:
        return fair.Share.api(self.client)


class Refusal(Exception):
    """Answer with this response instead (a refusal in Kore's form)."""

    def __init__(self, response: Response):
        super().__init__(response.status_code)
        self.response = response


class KorePathView(APIView):
    """A gateway path. Subclasses name their ``endpoint`` and call ``checked_call``."""

    authentication_classes = [KoreJWTAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [ApiClientThrottle]
    endpoint = ""

    def permission_denied(self, request, message=None, code=None):
        if request.successful_authenticator is None:
            raise KoreTokenFailed("The auth header with a JWT is required.")
        super().permission_denied(request, message=message, code=code)

    def checked_call(self, request, stream_id: str) -> Call:
        """The call's client, route and body, or a Refusal."""
        client: ApiClient = request.user
        snapshot = getattr(request, "proxy_snapshot", None) or config_cache.current()
        route = config_cache.stream_route(snapshot, stream_id)
        if route is None:
            raise Refusal(kore_errors(404, f"No active stream {stream_id} in the portal."))
        if not config_cache.may_use(snapshot, client, route.stream):
            raise Refusal(kore_errors(403, "This API client may not use this stream."))
        if not client.may_call(self.endpoint):
            raise Refusal(kore_errors(403, f"This API client may not call {self.endpoint}."))
        if len(request.body) > settings.PROXY_MAX_BODY_BYTES:
            raise Refusal(kore_errors(413, "The request body is too large."))
        try:
            body = json.loads(request.body or b"")
        except ValueError:
            raise Refusal(kore_errors(400, "The request body is not valid JSON.")) from None
        if not isinstance(body, dict):
            raise Refusal(kore_errors(400, "The request body must be a JSON object."))
        return Call(client=client, route=route, body=body)

    def turns_of(self, call: Call) -> fair.Turns | None:
        """The account's turns on a paced stream, None on an unpaced one. The call is judged
        against its client's share when it takes its place in the queue (``in_share``)."""
        if not call.route.pacing_limit:
            return None
        return fair.turns_for(call.route.stream, limit=call.route.pacing_limit)


def in_share(turns: fair.Turns | None, share: fair.Share):
    """Inside, the call holds its place in its client's queue: fair.OverShare, answered with
    ``over_share``, when from there it would wait past GATEWAY_QUEUE_SECONDS. Nothing on an
    unpaced stream."""
    if turns is None:
        return nullcontext()
    return turns.queued(share, max_wait=settings.GATEWAY_QUEUE_SECONDS)


class AnswerFirst(HttpResponse):
    """An answer whose ``after`` work (applying what a read returned, recording a change Kore
    took) is done once the server has sent it: WSGI calls ``close()`` after the last byte, so
    the caller does not wait for the portal's bookkeeping. A failure there is logged, never the
    caller's: the sync reads the same cases on its next pass, and the sweep has a write left
    ``sending`` read back or looked up, never sent again."""

    def __init__(self, *args, after, **kwargs):
        super().__init__(*args, **kwargs)
        self.after = after

    def close(self) -> None:
        after, self.after = self.after, None
        try:
            if after is not None:
                after()
        except Exception:  # noqa: BLE001 - the caller has its answer; the sync or the sweep catches up
            logger.exception("recording what Kore answered failed")
        finally:
            super().close()


def over_share(wait: float) -> Response:
    """429: ``wait`` is the wait from the first place past GATEWAY_QUEUE_SECONDS in the client's
    queue (fair.Turns.wait_past); sent again after Retry-After, the call would not wait past
    GATEWAY_QUEUE_SECONDS (unless the share shrinks meanwhile)."""
    retry_after = max(1, math.ceil(wait - settings.GATEWAY_QUEUE_SECONDS))
    return kore_errors(
        429,
        "This API client is over its share of Kore's rate limit: its calls already waiting would "
        f"keep this one waiting about {wait:.0f} s. Retry after {retry_after} s.",
        headers={"Retry-After": str(retry_after)},
    )
