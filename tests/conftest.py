from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_cache(request: pytest.FixtureRequest) -> None:
    """Throttle counters and cached reads must not leak from one test into the next."""
    if request.node.get_closest_marker("django_db") or "db" in request.fixturenames:
        cache.clear()
