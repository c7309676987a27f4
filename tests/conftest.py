from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from tests.connections import delete_broker_keys


@pytest.fixture(scope="session", autouse=True)
def _leave_no_keys_behind() -> Iterator[None]:
    """The suite's cache and broker keys, left by a run that died too, go before and after it; on a
    shared Redis nothing else is touched (cache.clear() deletes the key prefix's keys only)."""
    cache.clear()
    delete_broker_keys()
    yield
    cache.clear()
    delete_broker_keys()


@pytest.fixture(autouse=True)
def _fresh_cache(request: pytest.FixtureRequest) -> None:
    """Throttle counters and cached reads must not leak from one test into the next."""
    if request.node.get_closest_marker("django_db") or "db" in request.fixturenames:
        cache.clear()
