"""Django's Redis cache, keeping one redis-py client per connection pool instead of building a
new one for every operation (each build copies ~170 response callbacks). The API proxy makes
three cache calls per request (token replay memory, throttle read and write), so this is
measurable there; the client is thread-safe and Django already keeps one cache per thread."""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class PortalRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient


def increment(cache, key: str, *, ttl: int) -> int:
    """Add one to a counter that expires ``ttl`` seconds after its last increment, atomically,
    and return the new count: one round trip on Redis (INCR and EXPIRE pipelined), add-then-incr
    on any other cache."""
    if isinstance(cache, PortalRedisCache):
        stored_key = cache.make_and_validate_key(key)
        pipeline = cache._cache.get_client(write=True).pipeline(transaction=True)
        count, _ = pipeline.incr(stored_key).expire(stored_key, ttl).execute()
        return int(count)
    cache.add(key, 0, timeout=ttl)
    return cache.incr(key)
