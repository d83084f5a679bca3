"""The Redis cache the portal uses in production (token replay memory, throttling, pacing),
django-redis against a real redis-server."""

from __future__ import annotations

import threading

from django_redis import get_redis_connection

from cases.api.call_checks import Window, window_count


def test_it_keeps_the_promises_the_portal_relies_on(redis_cache):
    assert redis_cache.add("jti", 1, timeout=5) is True
    assert redis_cache.add("jti", 1, timeout=5) is False  # a replayed token is refused
    redis_cache.set("history", [1.0, 2.0], timeout=5)
    assert redis_cache.get("history") == [1.0, 2.0]
    assert redis_cache.incr("jti") == 2
    redis_cache.delete("jti")
    assert redis_cache.get("jti") is None


def test_racing_adds_each_win_once(redis_cache):
    """Pacing slots are claimed with add(): among racing threads exactly one wins each key."""
    winners = []

    def claim_all():
        winners.extend(n for n in range(200) if redis_cache.add(f"slot:{n}", 1, timeout=5))

    threads = [threading.Thread(target=claim_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(winners) == list(range(200))


def test_a_window_counter_counts_atomically_and_expires(redis_cache):
    def count_many():
        for _ in range(100):
            window_count(Window("throttle:client:0", ttl=5))

    threads = [threading.Thread(target=count_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert window_count(Window("throttle:client:0", ttl=5)) == 401
    ttl = get_redis_connection("default").ttl(redis_cache.make_key("throttle:client:0"))
    assert 0 < ttl <= 5
