"""Prometheus metrics (prometheus_client). Multi-process mode when PROMETHEUS_MULTIPROC_DIR is set."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

REQUEST_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the first middleware to the response, per route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
REQUESTS = Counter("http_requests_total", "Responses per route and status.", ["method", "route", "status"])
DB_QUERIES = Histogram(
    "http_request_db_queries",
    "SQL statements run while serving one request, per route (an N+1 shows up here first).",
    ["method", "route"],
    buckets=(0, 1, 2, 3, 5, 8, 13, 21, 50, 100),
)


# Labels come from closed sets only: a method is whatever the client typed, so an unknown one is
# "other" (no caller text in a label: neither a credential nor an unbounded series).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


# The labelled children per (method, route) and per status: `labels()` validates and takes a lock
# on every call, and the set is closed (methods above, route templates, statuses), so each child is
# looked up once per process. labels() hands back the same child every time, so nothing is lost.
_by_route: dict[tuple[str, str], tuple[Histogram, Histogram]] = {}
_by_status: dict[tuple[str, str, int], Counter] = {}


def observe_request(method: str, route: str, status: int, seconds: float, queries: int) -> None:
    method = method if method in _METHODS else "other"
    children = _by_route.get((method, route))
    if children is None:
        children = _by_route[method, route] = (REQUEST_LATENCY.labels(method, route), DB_QUERIES.labels(method, route))
    count = _by_status.get((method, route, status))
    if count is None:
        count = _by_status[method, route, status] = REQUESTS.labels(method, route, str(status))
    children[0].observe(seconds)
    count.inc()
    children[1].observe(queries)


def metrics_view(request: HttpRequest) -> HttpResponse:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several worker processes: aggregate what each one wrote to the shared directory.
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        payload = generate_latest(registry)
    else:
        payload = generate_latest()
    return HttpResponse(payload, content_type=CONTENT_TYPE_LATEST)
