"""Cache hits of the hot reads answered early: before URL resolution, the rest of the middleware and
Ninja's machinery, which cost more CPU than the hit itself (BENCHMARKS.md, "The request cycle").

Placed right after Django's CommonMiddleware (which checks the Host header), so everything outside
it (request id, access log, metrics, security headers, the input guard) runs on an early answer as
on a full one. For a GET without a query string whose path is one of HOT_READS, it authenticates
the bearer token with the API's own `bearer`, asks the read cache for the endpoint's own entry
(`HotRead.where`) and cuts the caller's answer from it with the endpoint's own check
(`HotRead.answer`). It answers only that: no token, a bad one, a miss, a refusal or a cache that
cannot be trusted goes the full way, where the endpoint builds, stores or refuses as always. So the
two paths cannot disagree on who sees what; tests/e2e/test_hot_reads.py shows them byte-identical.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import ResolverMatch, get_resolver, resolve

from api.app import MOUNT
from api.clients.router import MY_SUMMARY
from api.credits.router import DETAIL
from api.deps import services
from api.http.cached import HotRead
from api.http.security import bearer

HOT_READS: tuple[HotRead, ...] = (MY_SUMMARY, DETAIL)
ROOT = "/" + MOUNT.rstrip("/")


class HotReadsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._routes: dict[HotRead, ResolverMatch] = {}
        # The API is built and its services wired when the URLconf is imported, which Django does at
        # the first URL resolution; a worker's first request may be answered here, before any. So
        # load it now, with the middleware (when the server builds its WSGI application).
        get_resolver().url_patterns  # noqa: B018 - the import is the point

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if request.method == "GET" and path.startswith(ROOT) and not request.META.get("QUERY_STRING"):
            for hot in HOT_READS:
                found = hot.path.fullmatch(path, len(ROOT))
                if found is not None:
                    return self._early(request, hot, found.groupdict()) or self.get_response(request)
        return self.get_response(request)

    def _early(self, request: HttpRequest, hot: HotRead, params: dict[str, str]) -> HttpResponse | None:
        principal = bearer(request)
        if principal is None:
            return None
        read = hot.where(principal, params)
        stored = services().read_cache.get(read.name, read.subjects, read.variant)
        body = None if stored is None else hot.answer(principal, stored)
        if body is None:
            return None
        request.auth = principal  # type: ignore[attr-defined]  # as Ninja sets it: the caller, for whoever asks
        request.resolver_match = self._match(hot, request.path_info, params)  # the metrics' route label
        return HttpResponse(body, content_type="application/json")

    def _match(self, hot: HotRead, path: str, params: dict[str, str]) -> ResolverMatch:
        """The match URL resolution would give (resolved once per hot read: its view and route)."""
        first = self._routes.get(hot)
        if first is None:
            first = self._routes[hot] = resolve(path)
        if first.kwargs == params:
            return first
        app_names: list[str | None] = [*first.app_names]
        namespaces: list[str | None] = [*first.namespaces]
        return ResolverMatch(first.func, (), params, first.url_name, app_names, namespaces, route=first.route)
