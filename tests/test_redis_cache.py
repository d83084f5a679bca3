"""The Redis cache the portal uses in production (token replay memory, throttling, pacing),
against a real redis-server."""

from __future__ import annotations

import threading

import pytest

from cases.redis_cache import PortalRedisCache, increment
from tests.servers import RedisServer


@pytest.fixture
def redis_cache():
    server = RedisServer()
    try:
        yield PortalRedisCache(server.url, {"KEY_PREFIX": "test"})
    finally:
        server.stop()


def test_it_behaves_as_djangos_redis_cache(redis_cache):
    assert redis_cache.add("jti", 1, timeout=5) is True
    assert redis_cache.add("jti", 1, timeout=5) is False  # a replayed token is refused
    redis_cache.set("history", [1.0, 2.0], timeout=5)
    assert redis_cache.get("history") == [1.0, 2.0]
    assert redis_cache.incr("jti") == 2
    redis_cache.delete("jti")
    assert redis_cache.get("jti") is None


def test_it_keeps_one_client_and_shares_it_safely_between_threads(redis_cache):
    client = redis_cache._cache.get_client(write=True)
    assert redis_cache._cache.get_client(write=True) is client

    def add_many(prefix):
        for n in range(200):
            assert redis_cache.add(f"{prefix}:{n}", n, timeout=5)

    threads = [threading.Thread(target=add_many, args=(f"t{k}",)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert redis_cache.get_many([f"t3:{n}" for n in range(200)]) == {f"t3:{n}": n for n in range(200)}


def test_a_window_counter_counts_atomically_and_expires(redis_cache):
    def count_many():
        for _ in range(100):
            increment(redis_cache, "throttle:client:0", ttl=5)

    threads = [threading.Thread(target=count_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert increment(redis_cache, "throttle:client:0", ttl=5) == 401
    client = redis_cache._cache.get_client()
    assert 0 < client.ttl(redis_cache.make_and_validate_key("throttle:client:0")) <= 5
