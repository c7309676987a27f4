"""Django's request receivers with nothing to do are disconnected at start (config.request_signals);
the ones with work stay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import close_caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, reset_queries
from django.test import Client, override_settings

from config import request_signals

pytestmark = pytest.mark.integration

REDIS = {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:6379/0"}  # never connected here
RECEIVERS = ((request_started, reset_queries), (request_finished, close_caches))


class ClosingCache(LocMemCache):
    """A backend whose close() does something (as memcached's drops its connections)."""

    def close(self, **kwargs: Any) -> None:
        self.clear()


def _connected(signal: Any, receiver: Any) -> bool:
    """Whether `receiver` is connected (told by disconnecting it, then connecting it again)."""
    if signal.disconnect(receiver):
        signal.connect(receiver)
        return True
    return False


@pytest.fixture
def connected_as_django_leaves_them() -> Iterator[None]:
    was = [_connected(signal, receiver) for signal, receiver in RECEIVERS]
    for signal, receiver in RECEIVERS:
        signal.connect(receiver)
    yield
    for (signal, receiver), on in zip(RECEIVERS, was, strict=True):
        if on:
            signal.connect(receiver)
        else:
            signal.disconnect(receiver)


def _pruned(**overrides: Any) -> tuple[bool, bool]:
    """Which of reset_queries and close_caches are still connected after pruning under `overrides`."""
    with override_settings(**overrides):
        request_signals.prune()
        return _connected(request_started, reset_queries), _connected(request_finished, close_caches)


@pytest.mark.usefixtures("connected_as_django_leaves_them")
def test_in_production_neither_has_anything_to_do() -> None:
    assert _pruned(DEBUG=False, CACHES={"default": REDIS}) == (False, False)


@pytest.mark.usefixtures("connected_as_django_leaves_them")
def test_the_local_memory_cache_closes_nothing_either() -> None:
    local = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "signals-test"}
    assert _pruned(DEBUG=False, CACHES={"default": local}) == (False, False)


@pytest.mark.usefixtures("connected_as_django_leaves_them")
def test_with_debug_on_the_query_log_is_still_emptied_per_request() -> None:
    assert _pruned(DEBUG=True, CACHES={"default": REDIS}) == (True, False)


@pytest.mark.usefixtures("connected_as_django_leaves_them")
@pytest.mark.parametrize(
    "cache",
    [
        {**REDIS, "OPTIONS": {"CLOSE_CONNECTION": True}},
        {"BACKEND": f"{__name__}.ClosingCache", "LOCATION": "signals-test-closing"},
    ],
    ids=["redis asked to close its connections", "a backend with a close of its own"],
)
def test_a_cache_that_closes_something_keeps_its_receiver(cache: dict[str, Any]) -> None:
    local = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "signals-test"}
    assert _pruned(DEBUG=False, CACHES={"default": local, "other": cache}) == (False, True)


@pytest.mark.django_db
def test_every_request_still_checks_its_connections_at_both_ends() -> None:
    assert _connected(request_started, close_old_connections)
    assert _connected(request_finished, close_old_connections)
    assert Client().get("/api/v1/ping").status_code == 200
