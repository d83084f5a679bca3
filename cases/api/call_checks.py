"""What an API client's call asks the shared cache before its own work, asked together: the
configuration's generation (config_cache.py), whether the token's ``jti`` is new (and from now
on remembered: a second use is a replay), and the call's number in its client's throttle
window (throttle.py).

On Redis, production's cache, the three are one pipeline: one round trip per call instead of
three, on every gateway path (bench/proxy.py). On any other cache (a laptop without Redis,
most tests) they are asked one at a time, with the same answers. Keys are the cache's own
(``make_key``: its prefix and version), values plain strings that both ways read alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import caches
from django_redis import get_redis_connection
from django_redis.cache import RedisCache


@dataclass(frozen=True)
class Answers:
    generation: str | None
    jti_is_new: bool = True
    calls_in_window: int | None = None


@dataclass(frozen=True)
class Window:
    """A throttle window's counter: its key (naming the window's start), and how long it lives
    from its first call (the window and a second more)."""

    key: str
    ttl: int


def ask(*, generation_key: str, jti_key: str | None, jti_ttl: int, window: Window | None) -> Answers:
    """Read the generation, remember ``jti_key`` (if any) and count the call in ``window`` (if
    any): one round trip on Redis."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        # Each command is atomic on its own, so no MULTI: the window's counter is made with its
        # expiry (SET NX EX) before it is counted, and a window's key names its start.
        pipeline = get_redis_connection("default").pipeline(transaction=False)
        pipeline.get(cache.make_key(generation_key))
        if jti_key:
            pipeline.set(cache.make_key(jti_key), "1", nx=True, ex=max(1, jti_ttl))
        if window:
            counter = cache.make_key(window.key)
            pipeline.set(counter, 0, nx=True, ex=window.ttl).incr(counter)
        replies = iter(pipeline.execute())
        stored = next(replies)
        generation = stored.decode(errors="replace") if isinstance(stored, bytes) else stored
        jti_is_new = bool(next(replies)) if jti_key else True
        if window:
            next(replies)
        calls = int(next(replies)) if window else None
        return Answers(generation, jti_is_new, calls)
    generation = cache.get(generation_key)
    jti_is_new = cache.add(jti_key, "1", timeout=max(1, jti_ttl)) if jti_key else True
    calls = None
    if window:
        calls = window_count(window)
    return Answers(generation, jti_is_new, calls)


def generation(generation_key: str) -> str | None:
    return ask(generation_key=generation_key, jti_key=None, jti_ttl=0, window=None).generation


def set_generation(generation_key: str, value: str, *, only_if_missing: bool = False) -> None:
    """Store the generation as a plain string (never expiring), readable by ``ask`` either way."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        get_redis_connection("default").set(cache.make_key(generation_key), value, nx=only_if_missing)
    elif only_if_missing:
        cache.add(generation_key, value, timeout=None)
    else:
        cache.set(generation_key, value, timeout=None)


def window_count(window: Window) -> int:
    """Count one call in ``window`` (its counter made with its expiry at the first) and return
    the new count; one round trip on Redis."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        counter = cache.make_key(window.key)
        pipeline = get_redis_connection("default").pipeline(transaction=False)
        _, count = pipeline.set(counter, 0, nx=True, ex=window.ttl).incr(counter).execute()
        return int(count)
    cache.add(window.key, 0, timeout=window.ttl)
    return cache.incr(window.key)
