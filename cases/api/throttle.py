"""Throttling API clients: requests per client per fixed window, counted in the shared cache."""

from __future__ import annotations

import math

from django.core.cache import caches
from django_redis import get_redis_connection
from django_redis.cache import RedisCache
from rest_framework.throttling import SimpleRateThrottle

from cases.models import ApiClient


def window_count(key: str, *, ttl: int, alias: str = "default") -> int:
    """Add one to a counter that expires ``ttl`` seconds after its last increment, atomically,
    and return the new count: one round trip on Redis (INCR and EXPIRE in one transaction,
    through django-redis's raw connection), add-then-incr on any other cache."""
    cache = caches[alias]
    if isinstance(cache, RedisCache):
        stored_key = cache.make_key(key)
        pipeline = get_redis_connection(alias).pipeline(transaction=True)
        count, _ = pipeline.incr(stored_key).expire(stored_key, ttl).execute()
        return int(count)
    cache.add(key, 0, timeout=ttl)
    return cache.incr(key)


class ApiClientThrottle(SimpleRateThrottle):
    """Requests per API client (``API_THROTTLE_RATE``); people signed in are not throttled here.

    Counted per fixed window with one atomic increment in the shared cache, instead of DRF's
    default of reading and rewriting the list of every request's time on each call (a list as
    long as the rate allows). A client may burst up to twice its rate across a window's edge.
    """

    scope = "api_client"

    def get_cache_key(self, request, view):
        if isinstance(request.user, ApiClient):
            return self.cache_format % {"scope": self.scope, "ident": request.user.client_id}
        return None

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window_start = int(now // self.duration * self.duration)
        count = window_count(f"{self.key}:{window_start}", ttl=int(self.duration) + 1)
        self.wait_seconds = window_start + self.duration - now
        return count <= self.num_requests

    def wait(self) -> float:
        # Whole seconds, at least one: DRF writes Retry-After as an integer.
        return float(max(1, math.ceil(self.wait_seconds)))
