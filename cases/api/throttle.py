"""Throttling API clients: requests per client per fixed window, counted in the shared cache."""

from __future__ import annotations

import math

from rest_framework.throttling import SimpleRateThrottle

from cases.api.call_checks import Window, window_count
from cases.models import ApiClient


class ApiClientThrottle(SimpleRateThrottle):
    """Requests per API client (``API_THROTTLE_RATE``); people signed in are not throttled here.

    Counted per fixed window with one atomic increment in the shared cache, instead of DRF's
    default of reading and rewriting the list of every request's time on each call (a list as
    long as the rate allows). A client may burst up to twice its rate across a window's edge.
    The Kore-style authentication counts the call in the round trip of its own checks
    (``window``, then ``request.calls_in_window``); a call it did not count is counted here.
    """

    scope = "api_client"

    def get_cache_key(self, request, view):
        if isinstance(request.user, ApiClient):
            return self.cache_format % {"scope": self.scope, "ident": request.user.client_id}
        return None

    def window(self, client: ApiClient, now: float) -> Window | None:
        """The counter of ``client``'s calls in the window at ``now``; None when not throttled."""
        if self.rate is None:
            return None
        window_start = int(now // self.duration * self.duration)
        key = self.cache_format % {"scope": self.scope, "ident": client.client_id}
        return Window(f"{key}:{window_start}", ttl=int(self.duration) + 1)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        count = getattr(request, "calls_in_window", None)
        if count is None:
            count = window_count(self.window(request.user, now))
        window_start = int(now // self.duration * self.duration)
        self.wait_seconds = window_start + self.duration - now
        return count <= self.num_requests

    def wait(self) -> float:
        # Whole seconds, at least one: DRF writes Retry-After as an integer.
        return float(max(1, math.ceil(self.wait_seconds)))
