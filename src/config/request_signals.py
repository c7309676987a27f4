"""Django's request receivers that have nothing to do in this configuration, disconnected at start.

Every request sends request_started and request_finished, and Django connects five receivers to
them; with the sending, they were a fifth of a no-op request's CPU in process (126 -> 99 µs with
none, bench/profile_request.py's measure). Two of them do nothing here, on every request:

- `reset_queries` empties the query log, which is written only with DEBUG on (a test's
  CaptureQueriesContext writes it too, and disconnects the receiver itself while it captures);
- `close_caches` calls every cache's close(): a no-op for the local-memory cache, and for
  django-redis unless CLOSE_CONNECTION asks it to drop its connections after each request.

The others stay: close_old_connections (persistent connections' age, errors and health checks) at
both ends of a request, and reset_urlconf at its end.
"""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.core.cache import caches, close_caches
from django.core.cache.backends.base import BaseCache
from django.core.signals import request_finished, request_started
from django.db import reset_queries
from django_redis.cache import RedisCache
from django_redis.client import DefaultClient


def _close_does_nothing(alias: str) -> bool:
    cache: Any = caches[alias]
    if type(cache).close is BaseCache.close:  # the base class's close() does nothing
        return True
    # django-redis's clients (the sharded one too) close as its default client does, by this option.
    if not isinstance(cache, RedisCache) or type(cache.client).close is not DefaultClient.close:
        return False
    options: dict[str, Any] = cast(dict[str, Any], settings.CACHES[alias]).get("OPTIONS") or {}
    return not options.get("CLOSE_CONNECTION", getattr(settings, "DJANGO_REDIS_CLOSE_CONNECTION", False))


def prune() -> None:
    """Disconnect the two where they would do nothing (called once the apps are ready)."""
    if not settings.DEBUG:
        request_started.disconnect(reset_queries)
    if all(_close_does_nothing(alias) for alias in settings.CACHES):
        request_finished.disconnect(close_caches)
