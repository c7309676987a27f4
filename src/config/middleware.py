"""The API's middleware with the adapters it needs, installed here so that `api` imports none."""

from __future__ import annotations

from adapters.monitoring.db import count_queries
from api.http import middleware


class MetricsMiddleware(middleware.MetricsMiddleware):
    count_queries = staticmethod(count_queries)
